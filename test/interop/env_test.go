package interop_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mavenjars"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// interopEnv turns on the tests that drive third-party clients (Java, Python).
const interopEnv = "SLUICE_TEST_INTEROP"

// deadline bounds every wait of these tests: a pipeline reaching its expected output, a client's run.
const deadline = 2 * time.Minute

// requireInterop skips t unless SLUICE_TEST_INTEROP=1.
func requireInterop(t *testing.T) {
	t.Helper()
	if os.Getenv(interopEnv) != "1" {
		t.Skip("an interop test (third-party clients): run it with `make test-interop` (SLUICE_TEST_INTEROP=1)")
	}
}

// repoRoot is the repository's root directory (the test runs in test/interop).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := mavenjars.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// writeLines writes lines, each ended by "\n", to a new file of t's temporary directory and returns its
// path.
func writeLines(t *testing.T, name string, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// numberedPipeline is the pipeline name that reads a file whose lines are the record numbers 0 to
// everythingRecords-1 and writes, for each number i, value(i) of schema to topic with the value codec
// codec.
func numberedPipeline(t *testing.T, name, topic, codec string, schema *stream.Schema, value func(i int) *stream.Struct) *topology.Topology {
	t.Helper()
	lines := make([]string, everythingRecords)
	for i := range lines {
		lines[i] = strconv.Itoa(i)
	}
	src, err := file.New(file.Config{Paths: []string{writeLines(t, "ids.txt", lines)}})
	if err != nil {
		t.Fatal(err)
	}
	typed := stages.Map(topic, func(r stream.Record) (stream.Record, error) {
		i, err := strconv.Atoi(r.Value.(string))
		if err != nil {
			return r, err
		}
		r.ValueSchema, r.Value = schema, value(i)
		return r, nil
	})
	top := topology.New(name)
	top.Source("ids", src).Via(typed).To(top.Topic(topic, topology.ValueCodec(codec)))
	return top
}

// runUntil runs the pipeline on brokers, as a user's binary runs it with SLUICE_BROKERS, until done reports
// its output complete, then stops it as SIGTERM would. httpAddr is the operator API's address ("off" for
// none). The test fails when the pipeline ends early, fails, or is not done within the deadline.
func runUntil(t *testing.T, top *topology.Topology, brokers []string, httpAddr string, done func() bool) {
	t.Helper()
	p := startPipeline(t, top, brokers, httpAddr)
	p.waitFor(t, "its output complete", done)
	p.stop(t)
}

// runningPipeline is a pipeline running in the test's process.
type runningPipeline struct {
	top    *topology.Topology
	cancel context.CancelFunc
	ended  chan error
	logs   *logBuffer
}

// startPipeline starts the pipeline on brokers with its operator API at httpAddr ("off" for none); the
// test must stop it.
func startPipeline(t *testing.T, top *topology.Topology, brokers []string, httpAddr string) *runningPipeline {
	t.Helper()
	if err := top.Validate(); err != nil {
		t.Fatalf("pipeline %s: %v", top.Name(), err)
	}
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, httpAddr, t.TempDir()
	p := &runningPipeline{top: top, ended: make(chan error, 1), logs: &logBuffer{}}
	cfg.Logger = slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.ended <- top.RunWith(ctx, cfg) }()
	t.Cleanup(func() { // a test that failed before stop
		if p.cancel != nil {
			p.cancel()
			<-p.ended
		}
	})
	return p
}

// waitFor polls cond until it holds; the test fails when the pipeline ends first or cond does not hold
// within the deadline. what names the condition in the failure.
func (p *runningPipeline) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	stop := time.Now().Add(deadline)
	for !cond() {
		select {
		case err := <-p.ended:
			p.cancel = nil
			t.Fatalf("pipeline %s ended before %s: %v; its log:\n%s", p.top.Name(), what, err, p.logs)
		case <-time.After(50 * time.Millisecond): // polling the pipeline's output
		}
		if time.Now().After(stop) {
			t.Fatalf("pipeline %s: not %s after %v; its log:\n%s", p.top.Name(), what, deadline, p.logs)
		}
	}
}

// stop stops the pipeline as SIGTERM would; the test fails if it returns an error.
func (p *runningPipeline) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	p.cancel = nil
	if err := <-p.ended; err != nil {
		t.Fatalf("pipeline %s: %v; its log:\n%s", p.top.Name(), err, p.logs)
	}
}

// topicCount is how many records topic holds (0 before it exists).
func topicCount(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	var n int64
	low := testkit.LowWaterMarks(t, brokers, topic)
	for p, high := range testkit.HighWaterMarks(t, brokers, topic) {
		n += high - low[p]
	}
	return n
}

// kcat runs the kcat binary against brokers with args and returns its standard output; the test fails
// when kcat fails or outlasts the deadline.
func kcat(t *testing.T, brokers []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", append([]string{"-b", strings.Join(brokers, ",")}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// logBuffer collects what the pipeline's goroutines log, for the failure's text.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
