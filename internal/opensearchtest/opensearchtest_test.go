package opensearchtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary start a node and print its process id instead of running the tests
// (TestOpenSearchInteropDiesWithParent).
const childEnv = "OPENSEARCHTEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		n, err := startNode()
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(3)
		}
		fmt.Println("NODE", n.cmd.Process.Pid, n.home)
		select {} // until killed
	}
	code := m.Run()
	Stop()
	os.Exit(code)
}

// TestOpenSearchInteropStarts: the node answers GET / as OpenSearch 2.19, and an index created, filled with
// _bulk and searched holds the two documents.
func TestOpenSearchInteropStarts(t *testing.T) {
	url := Start(t)
	t.Logf("start-up took %s", StartupTime())

	status, body := Do(t, url, http.MethodGet, "/", "")
	var root struct {
		Version struct {
			Distribution string `json:"distribution"`
			Number       string `json:"number"`
		} `json:"version"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &root) != nil {
		t.Fatalf("GET /: HTTP %d: %s", status, body)
	}
	if root.Version.Distribution != "opensearch" || !strings.HasPrefix(root.Version.Number, "2.19.") {
		t.Fatalf("GET / answers distribution %q version %q, want opensearch 2.19.x", root.Version.Distribution, root.Version.Number)
	}

	DeleteAllIndices(t, url)
	if status, body := Do(t, url, http.MethodPut, "/starts", `{"mappings":{"properties":{"name":{"type":"keyword"},"n":{"type":"long"}}}}`); status != http.StatusOK {
		t.Fatalf("create index starts: HTTP %d: %s", status, body)
	}
	bulk := `{"index":{"_index":"starts","_id":"a"}}
{"name":"alpha","n":1}
{"index":{"_index":"starts","_id":"b"}}
{"name":"beta","n":2}
`
	status, body = Do(t, url, http.MethodPost, "/_bulk?refresh=true", bulk)
	var br struct {
		Errors bool             `json:"errors"`
		Items  []map[string]any `json:"items"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &br) != nil || br.Errors || len(br.Items) != 2 {
		t.Fatalf("_bulk of two documents: HTTP %d: %s", status, body)
	}
	status, body = Do(t, url, http.MethodPost, "/starts/_search", `{"query":{"range":{"n":{"gte":1}}},"sort":[{"n":"asc"}]}`)
	var sr struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string         `json:"_id"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &sr) != nil {
		t.Fatalf("search: HTTP %d: %s", status, body)
	}
	if sr.Hits.Total.Value != 2 || len(sr.Hits.Hits) != 2 || sr.Hits.Hits[0].ID != "a" || sr.Hits.Hits[1].Source["name"] != "beta" {
		t.Fatalf("search found %s, want documents a (alpha) and b (beta)", body)
	}
	DeleteAllIndices(t, url)
	if status, body := Do(t, url, http.MethodGet, "/starts", ""); status != http.StatusNotFound {
		t.Fatalf("after DeleteAllIndices, GET /starts: HTTP %d: %s (want 404)", status, body)
	}
}

// TestOpenSearchInteropDiesWithParent: when the test binary that started a node is killed (SIGKILL, no
// clean-up), the node's JVM exits by itself.
func TestOpenSearchInteropDiesWithParent(t *testing.T) {
	Start(t) // skips unless SLUICE_TEST_INTEROP=1; fetches and compiles what is missing
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("the child test binary printed nothing: %v", sc.Err())
	}
	var pid int
	var home string
	if _, err := fmt.Sscanf(sc.Text(), "NODE %d %s", &pid, &home); err != nil {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("the child test binary could not start a node: %s", sc.Text())
	}
	t.Cleanup(func() { os.RemoveAll(home) }) // the killed child could not remove it
	if !alive(pid) {
		t.Fatalf("the node's JVM (pid %d) is not running before its parent is killed", pid)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	deadline := time.Now().Add(stopTimeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the node's JVM (pid %d) still runs %s after its parent was killed", pid, stopTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
