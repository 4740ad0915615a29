// Package opensearchtest starts a real single-node OpenSearch 2.19 for interop tests: the launcher in
// test/opensearch (src/Launcher.java, compiled with javac at test time into test/opensearch/lib/classes-*)
// runs on the jars of test/opensearch/pom.xml, which `make opensearch-jars` copies into test/opensearch/lib
// (git-ignored) and which Start fetches itself with Maven when they are missing or older than the pom.
//
// One node serves every test of a test binary: the first Start launches it (about 4 s on an idle two-core
// machine, 6 to 16 s while other test binaries load it), later ones return its URL, and Stop (from TestMain, after m.Run) shuts it down. The node lives
// in a temporary directory removed by Stop, listens on 127.0.0.1 only (ports chosen by the kernel), runs
// with discovery.type=single-node and no security plugin, and dies with the test binary (its stdin is a
// pipe from this process, and the kernel kills it when this process dies). Tests share the node, so each
// should use its own index names, or call DeleteAllIndices when it needs an empty node.
package opensearchtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"
)

// InteropEnv is the variable that enables interop tests; `make test-interop` sets it.
const InteropEnv = "SLUICE_TEST_INTEROP"

const (
	// startTimeout bounds a node's start-up, from launching the JVM to the READY line.
	startTimeout = 3 * time.Minute
	// stopTimeout bounds a clean shutdown (stdin closed) before the node is killed.
	stopTimeout = 30 * time.Second
	// requestTimeout bounds each HTTP request of the helpers.
	requestTimeout = 30 * time.Second
)

// jvmArgs: a fixed 512 MB heap (no resizing pauses), the serial collector and the quick (C1) JIT only, as
// start-up dominates and the machine has two cores shared with other test binaries: measured to the READY
// line on that machine under load, 6.7 s of CPU with the default JIT, 3.3 to 4.8 s with C1 only.
var jvmArgs = []string{"-Xms512m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
	"-Djava.awt.headless=true", "-Dlog4j2.disable.jmx=true", "-Dfile.encoding=UTF-8"}

var shared struct {
	mu      sync.Mutex
	node    *node
	err     error         // why the first start failed: later Starts fail with it at once
	started time.Duration // how long the start took
}

// Start starts (once per test binary, shared) a real single-node OpenSearch and returns its base URL
// ("http://127.0.0.1:port"); it t.Skips with a message naming `make test-interop` unless
// SLUICE_TEST_INTEROP=1, and fails the test (not skips) when SLUICE_TEST_INTEROP=1 and the node cannot start.
func Start(t testing.TB) string {
	t.Helper()
	if os.Getenv(InteropEnv) != "1" {
		t.Skipf("needs a real OpenSearch node: run `make test-interop` (sets %s=1)", InteropEnv)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.node == nil && shared.err == nil {
		began := time.Now()
		shared.node, shared.err = startNode()
		shared.started = time.Since(began)
		if shared.err == nil {
			t.Logf("opensearchtest: OpenSearch node at %s started in %s (home %s)", shared.node.url, shared.started.Round(time.Millisecond), shared.node.home)
		}
	}
	if shared.err != nil {
		t.Fatalf("%v", shared.err)
	}
	if !shared.node.running() {
		t.Fatalf("opensearchtest: the OpenSearch node at %s has exited\n%s", shared.node.url, shared.node.logTail(40))
	}
	return shared.node.url
}

// StartupTime is how long the shared node took to start (zero before the first successful Start).
func StartupTime() time.Duration {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.started
}

// Stop stops the shared node; call it from TestMain after m.Run. It closes the node's stdin (the launcher
// then closes the node and exits), kills it if it has not exited within 30 s, and removes its directory.
// A later Start launches a new node.
func Stop() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.node != nil {
		shared.node.stop()
	}
	shared.node, shared.err, shared.started = nil, nil, 0
}

// node is one launcher process.
type node struct {
	home   string // temporary directory: config/, data/, logs/, node.log (the launcher's stderr)
	url    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{} // closed when cmd has exited
}

func (n *node) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// startNode fetches and compiles what is missing, launches the JVM and waits for its READY line.
func startNode() (*node, error) {
	java, classpath, err := tools()
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "sluice-opensearch-")
	if err != nil {
		return nil, fmt.Errorf("opensearchtest: %w", err)
	}
	logFile, err := os.Create(filepath.Join(home, "node.log"))
	if err != nil {
		os.RemoveAll(home)
		return nil, fmt.Errorf("opensearchtest: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	args := append(append([]string{}, jvmArgs...), "-cp", classpath, "Launcher", home, "0", "0")
	cmd := exec.Command(java, args...)
	cmd.Dir = home
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(home)
		return nil, fmt.Errorf("opensearchtest: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(home)
		return nil, fmt.Errorf("opensearchtest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(home)
		return nil, fmt.Errorf("opensearchtest: start java: %w", err)
	}
	n := &node{home: home, cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- url
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		close(n.exited)
	}()
	select {
	case n.url = <-ready:
		return n, nil
	case <-n.exited:
		err = fmt.Errorf("opensearchtest: the OpenSearch launcher exited before it was ready (%v)\n%s", cmd.ProcessState, n.logTail(60))
	case <-time.After(startTimeout):
		err = fmt.Errorf("opensearchtest: the OpenSearch node was not ready within %s\n%s", startTimeout, n.logTail(60))
	}
	n.stop()
	return nil, err
}

// stop closes stdin, waits for the exit (killing the process group after stopTimeout) and removes home.
func (n *node) stop() {
	n.stdin.Close()
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
	os.RemoveAll(n.home)
}

// logTail is the end of the node's log, for failure messages.
func (n *node) logTail(lines int) string {
	path := filepath.Join(n.home, "node.log")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return fmt.Sprintf("--- last lines of %s\n%s", path, dbserver.LastLines(string(data), lines))
}

// Do sends one request with a JSON body (none when body is empty; NDJSON when path starts with /_bulk or
// contains /_bulk) to the node at url and returns the status code and the response body, failing the test
// on a transport error. It has a 30 s deadline.
func Do(t testing.TB, url, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url+path, rd)
	if err != nil {
		t.Fatalf("opensearchtest: %s %s: %v", method, path, err)
	}
	if body != "" {
		ct := "application/json"
		if strings.Contains(path, "/_bulk") || strings.HasPrefix(path, "_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("opensearchtest: %s %s%s: %v", method, url, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("opensearchtest: %s %s%s: reading the response: %v", method, url, path, err)
	}
	return resp.StatusCode, data
}

// DeleteAllIndices deletes every index of the node at url (hidden ones too), failing the test on error.
func DeleteAllIndices(t testing.TB, url string) {
	t.Helper()
	status, body := Do(t, url, http.MethodDelete, "/_all?expand_wildcards=all", "")
	if status != http.StatusOK {
		t.Fatalf("opensearchtest: deleting every index of %s: HTTP %d: %s", url, status, body)
	}
}
