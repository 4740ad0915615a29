package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/internal/testkit"
)

// esStop is how long the test keeps Elasticsearch SIGSTOPped: the 90s, three times the sink's
// 30s RequestTimeout, so the paused server makes bulk requests time out and be retried more than once.
const esStop = 90 * time.Second

// stallTimeout is the pipeline's SLUICE_STALL_TIMEOUT in this test.
const stallTimeout = 5 * time.Second

// lockedLog collects a child process's output lines.
type lockedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLog) follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
	}
}

// find returns the first line that contains every one of substrs.
func (l *lockedLog) find(substrs ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, line := range l.lines {
		for _, s := range substrs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		return line
	}
	return ""
}

// count returns how many lines contain every one of substrs.
func (l *lockedLog) count(substrs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, line := range l.lines {
		for _, s := range substrs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		n++
	}
	return n
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// readyz is what the pipeline's /readyz answered.
type readyz struct {
	code    int
	Status  string `json:"status"`
	Stalled []struct {
		Kind     string   `json:"kind"`
		Name     string   `json:"name"`
		Since    string   `json:"since"`
		WaitsFor []string `json:"waits_for"`
	} `json:"stalled"`
	raw string
}

func getReadyz(addr string) (readyz, error) {
	var r readyz
	client := http.Client{Timeout: 2 * time.Second}
	res, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return r, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	r.code, r.raw = res.StatusCode, string(body)
	return r, json.Unmarshal(body, &r)
}

// poll calls cond every 100ms until it holds, or fails the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

func buildBinary(t *testing.T, dir, out, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, out)
	if b, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return bin
}

// Degraded dependencies: Elasticsearch, in its own process, is SIGSTOPped (it keeps accepting connections
// and answers nothing) for 90s while MySQL changes keep coming. Within the stall timeout /readyz says 503
// naming the flow, the sink and what it waits for, a warning says the same, and the pipeline process stays
// alive. After SIGCONT it catches up by itself: Elasticsearch equals MySQL, /readyz is 200 again.
func TestElasticsearchPausedPipelineReportsStallAndCatchesUp(t *testing.T) {
	bins := t.TempDir()
	pipelineBin := buildBinary(t, bins, "mysql-to-es", ".")
	sluiceBin := buildBinary(t, bins, "sluice", "../../cmd/sluice")

	esAddr := testkit.FreeAddr(t)
	esCmd := exec.Command(sluiceBin, "es", "serve", "--addr", esAddr, "--data-dir", filepath.Join(t.TempDir(), "es"))
	esLog := &lockedLog{}
	esOut, _ := esCmd.StdoutPipe()
	esCmd.Stderr = esCmd.Stdout
	if err := esCmd.Start(); err != nil {
		t.Fatal(err)
	}
	go esLog.follow(esOut)
	defer func() {
		esCmd.Process.Signal(syscall.SIGCONT)
		esCmd.Process.Kill()
		esCmd.Wait()
	}()
	esURL := "http://" + esAddr
	client, _ := es.NewClient(es.Config{Addresses: []string{esURL}})
	poll(t, 30*time.Second, "Elasticsearch-compatible server answers", func() bool {
		res, err := client.Info()
		if err != nil {
			return false
		}
		res.Body.Close()
		return !res.IsError()
	})

	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	for _, s := range schema {
		db.Exec(t, s)
	}
	db.Exec(t, "INSERT INTO shop.customers (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com')",
		"INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (1, 1.00, 'new', NOW(6)), (2, 2.00, 'new', NOW(6))")

	httpAddr := testkit.FreeAddr(t)
	pipe := exec.Command(pipelineBin, "-progress", "0")
	pipe.Env = append(os.Environ(), "SLUICE_MYSQL_DSN="+db.DSN(""), "SLUICE_ES_URL="+esURL,
		"SLUICE_DATA_DIR="+filepath.Join(t.TempDir(), "data"), "SLUICE_BROKER_ADDR="+testkit.FreeAddr(t),
		"SLUICE_HTTP_ADDR="+httpAddr, "SLUICE_STALL_TIMEOUT="+stallTimeout.String())
	pipe.Env = append(pipe.Env, testkit.KafkaEnv(t, 1)...) // real Kafka with SLUICE_TEST_KAFKA=real
	pipeLog := &lockedLog{}
	pipeOut, _ := pipe.StdoutPipe()
	pipe.Stderr = pipe.Stdout
	if err := pipe.Start(); err != nil {
		t.Fatal(err)
	}
	go pipeLog.follow(pipeOut)
	exited := make(chan error, 1)
	go func() { exited <- pipe.Wait() }()
	defer func() {
		pipe.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			pipe.Process.Kill()
			t.Errorf("pipeline did not stop within 60s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("pipeline output:\n%s", pipeLog)
		}
	}()
	alive := func() {
		t.Helper()
		select {
		case err := <-exited:
			t.Fatalf("pipeline process exited: %v\n%s", err, pipeLog)
		default:
		}
	}

	poll(t, 90*time.Second, "/readyz 200 after start", func() bool {
		alive()
		r, err := getReadyz(httpAddr)
		return err == nil && r.code == http.StatusOK && r.Status == "ready"
	})
	converge(t, client, "before the pause")

	// Changes keep coming while Elasticsearch is paused and after.
	var inserted atomic.Int64
	stopLoad := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			case <-time.After(50 * time.Millisecond):
			}
			stmt := fmt.Sprintf("INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (%d, %d.50, 'new', NOW(6))", 1+i%2, i)
			if i%5 == 4 {
				stmt = fmt.Sprintf("UPDATE shop.orders SET status = 'paid-%d' ORDER BY RAND() LIMIT 1", i)
			}
			if _, err := db.DB().Exec(stmt); err != nil {
				t.Errorf("load: %v", err)
				return
			}
			inserted.Add(1)
		}
	}()
	defer func() {
		select {
		case <-stopLoad:
		default:
			close(stopLoad)
		}
		<-loadDone
	}()
	time.Sleep(time.Second) // some changes flow before the pause

	if err := esCmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	t.Logf("Elasticsearch SIGSTOPped after %d changes", inserted.Load())

	var stalled readyz
	took := poll(t, stallTimeout+10*time.Second, "/readyz 503 naming the stalled flow", func() bool {
		alive()
		r, err := getReadyz(httpAddr)
		if err != nil || r.code != http.StatusServiceUnavailable || r.Status != "stalled" {
			return false
		}
		stalled = r
		return true
	})
	t.Logf("/readyz 503 %v after SIGSTOP: %s", took.Round(100*time.Millisecond), strings.TrimSpace(stalled.raw))
	found := false
	for _, s := range stalled.Stalled {
		if s.Kind == "flow" && s.Name == "orders-index" && len(s.WaitsFor) > 0 &&
			strings.Contains(s.WaitsFor[0], "elasticsearch index orders at "+esAddr) {
			found = true
		}
	}
	if !found {
		t.Fatalf("/readyz does not name the flow orders-index and its sink: %s", stalled.raw)
	}
	// The tracker marks the flow stalled, then logs: the line may reach us a moment after /readyz changed.
	var line string
	logged := func() bool {
		line = pipeLog.find("stalled", "flow=orders-index", "elasticsearch index orders at "+esAddr)
		return line != ""
	}
	for deadline := time.Now().Add(5 * time.Second); !logged() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if line == "" {
		t.Fatalf("no stall warning naming the flow and its sink:\n%s", pipeLog)
	}
	t.Logf("stall warning: %s", line)

	// The paused server makes the bulk request time out (RequestTimeout 30s); the sink retries and says so.
	poll(t, 45*time.Second, "a retry warning naming the sink, host, index and error", func() bool {
		alive()
		return pipeLog.find("elasticsearch sink retrying", "host="+esAddr, "index=orders", "attempt=2", "RequestTimeout") != ""
	})
	t.Logf("retry warning: %s", pipeLog.find("elasticsearch sink retrying"))
	r, err := getReadyz(httpAddr)
	if err != nil || r.code != http.StatusServiceUnavailable || !strings.Contains(r.raw, "attempt 2") {
		t.Fatalf("/readyz during retries = %d %s (%v), want 503 with the attempt", r.code, r.raw, err)
	}

	for time.Since(paused) < esStop {
		alive()
		time.Sleep(time.Second)
	}
	if n := pipeLog.count("stalled: pending work made no progress", "flow=orders-index"); n != 1 {
		t.Errorf("%d stall warnings for the flow during one pause, want 1", n)
	}
	alive()
	if err := esCmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	t.Logf("Elasticsearch SIGCONTinued after %v and %d changes", time.Since(paused).Round(time.Second), inserted.Load())
	time.Sleep(2 * time.Second) // changes keep coming after the pause too
	close(stopLoad)
	<-loadDone

	converge(t, client, fmt.Sprintf("after a %v pause and %d changes", esStop, inserted.Load()))
	t.Logf("caught up %v after SIGCONT", time.Since(resumed).Round(100*time.Millisecond))
	poll(t, 30*time.Second, "/readyz 200 again", func() bool {
		r, err := getReadyz(httpAddr)
		return err == nil && r.code == http.StatusOK && r.Status == "ready"
	})
	if n := pipeLog.count("recovered from a stall", "flow=orders-index"); n != 1 {
		t.Errorf("%d recovery lines for the flow, want 1:\n%s", n, pipeLog)
	}
	alive()
}
