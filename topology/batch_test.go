package topology_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/sources"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// valueSetSink keeps the distinct values it was given (a real-time pipeline's view of a topic).
type valueSetSink struct {
	mu     sync.Mutex
	values map[string]int
}

func (s *valueSetSink) Open(context.Context) error { return nil }
func (s *valueSetSink) Close() error               { return nil }
func (s *valueSetSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		s.values[fmt.Sprint(r.Value)]++
	}
	return nil
}

func (s *valueSetSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// batchEventValue is the value of record i of the acceptance test's topic: JSON, except every 100th from
// the 50th on, which does not parse (a poison record for the batch pipeline's dead-letter topic).
func batchEventValue(i int) string {
	if i%100 == 50 {
		return fmt.Sprintf("not json %d", i)
	}
	return fmt.Sprintf(`{"n":%d}`, i)
}

// batchChild is the batch pipeline as a user builds it: a binary whose main calls Run, started with
// SLUICE_MODE=batch.
func batchChild() {
	ctx, stop := topology.SignalContext(context.Background())
	defer stop()
	out, err := filesink.New(filesink.Config{Path: os.Getenv("SLUICE_BATCH_TEST_OUT")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "batch child:", err)
		os.Exit(2)
	}
	tp := topology.New("events-batch")
	events := tp.Topic("events", topology.ValueCodec("json"), topology.Partitions(3))
	dlq := tp.Topic("events-batch.dead-letters", topology.ValueCodec("bytes"), topology.Partitions(1))
	tp.Flow("copy").From(events).To(out, topology.BatchSize(50)).DeadLetter(dlq)
	if err := tp.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "batch child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestBatchDrainsTopicAndExits (issue 14, acceptance 4): a pipeline binary run with SLUICE_MODE=batch
// drains exactly the N records its topic held when it started (poison records to its dead-letter topic),
// commits, logs a summary saying N and exits 0, while a real-time pipeline of another name on the same
// topic keeps running and receives every record, those produced during and after the batch too.
func TestBatchDrainsTopicAndExits(t *testing.T) {
	if os.Getenv("SLUICE_BATCH_TEST_CHILD") == "1" {
		batchChild()
		return
	}
	const n, during, after = 600, 100, 50
	poison := 0
	for i := 0; i < n; i++ {
		if batchEventValue(i)[0] != '{' {
			poison++
		}
	}
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "events", 3)
	testkit.ProduceN(t, brokers, "events", n, func(i int) (string, string) { return fmt.Sprint("k", i), batchEventValue(i) })

	// The real-time pipeline, in this process.
	live := &valueSetSink{values: map[string]int{}}
	lt := topology.New("events-live")
	lt.Flow("watch").From(lt.Topic("events", topology.ValueCodec("string"), topology.Partitions(3))).To(live, topology.BatchSize(20))
	rc := topology.DefaultConfig()
	rc.Brokers, rc.HTTPAddr = brokers, "off"
	rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	liveCtx, stopLive := context.WithCancel(context.Background())
	defer stopLive()
	liveDone := make(chan error, 1)
	go func() { liveDone <- lt.RunWith(liveCtx, rc) }()
	batchWaitFor(t, 60*time.Second, "the real-time pipeline to receive the first records", func() bool { return live.distinct() == n })

	// The batch pipeline, as a child process.
	dir := t.TempDir()
	outPath := filepath.Join(dir, "batch-out.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBatchDrainsTopicAndExits$")
	cmd.Env = append(os.Environ(), "SLUICE_BATCH_TEST_CHILD=1", "SLUICE_MODE=batch", "SLUICE_BROKERS="+strings.Join(brokers, ","),
		"SLUICE_HTTP_ADDR=off", "SLUICE_DATA_DIR="+dir, "SLUICE_BATCH_TEST_OUT="+outPath, "SLUICE_LOG_FORMAT=text")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	captured := make(chan struct{})
	var logMu sync.Mutex
	var logLines []string
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			logMu.Lock()
			logLines = append(logLines, sc.Text())
			logMu.Unlock()
			if strings.Contains(sc.Text(), "batch end offsets captured") {
				once.Do(func() { close(captured) })
			}
		}
	}()
	select {
	case <-captured:
	case <-scanned:
		_ = cmd.Wait()
		t.Fatalf("the batch child ended before it captured its end offsets:\n%s", strings.Join(logLines, "\n"))
	case <-ctx.Done():
		t.Fatal("the batch child did not capture its end offsets within 90s")
	}
	// Produced while the batch runs (its processor joins its group after the capture): not the batch's.
	testkit.ProduceN(t, brokers, "events", during, func(i int) (string, string) { return fmt.Sprint("k", n+i), batchEventValue(n + i) })
	<-scanned
	err = cmd.Wait()
	took := time.Since(started)
	logs := strings.Join(logLines, "\n")
	if err != nil {
		t.Fatalf("batch child: %v (want exit 0)\n%s", err, logs)
	}
	// Produced after the batch: the real-time pipeline gets them all the same.
	testkit.ProduceN(t, brokers, "events", after, func(i int) (string, string) {
		return fmt.Sprint("k", n+during+i), batchEventValue(n + during + i)
	})

	summary := batchLogLine(logs, "batch finished")
	if summary == "" {
		t.Fatalf("no summary line in the batch's log:\n%s", logs)
	}
	for field, want := range map[string]int{"records": n, "written": n - poison, "dead_letters": poison} {
		if got := batchLogInt(summary, field); got != want {
			t.Errorf("summary %s=%d, want %d: %s", field, got, want, summary)
		}
	}
	if !regexp.MustCompile(`duration=\S+`).MatchString(summary) {
		t.Errorf("summary has no duration: %s", summary)
	}
	if batchLogLine(logs, "batch flow finished") == "" || !strings.Contains(batchLogLine(logs, "batch flow finished"), "flow=copy") {
		t.Errorf("no per-flow summary line for flow copy:\n%s", logs)
	}

	// Exactly the good records of the N present at its start, each once.
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var v struct{ N int }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("batch output line %q: %v", line, err)
		}
		seen[v.N]++
	}
	for i := 0; i < n+during+after; i++ {
		good := batchEventValue(i)[0] == '{'
		switch {
		case i < n && good && seen[i] != 1:
			t.Errorf("record %d written %d times by the batch, want once", i, seen[i])
		case (i >= n || !good) && seen[i] != 0:
			t.Errorf("record %d written by the batch; it was not among the %d good records present at its start", i, n-poison)
		}
	}
	if dl := testkit.WaitRecords(t, brokers, "events-batch.dead-letters", poison, 10*time.Second); len(dl) != poison {
		t.Errorf("dead-letter topic holds %d records, want %d", len(dl), poison)
	}
	// Committed exactly to the end offsets present at its start.
	committed := testkit.CommittedOffsets(t, brokers, "events-batch.copy", "events")
	var sum int64
	for _, o := range committed {
		sum += o
	}
	if sum != n {
		t.Errorf("the batch's group committed offsets %v (sum %d), want the end offsets present at its start (sum %d)", committed, sum, n)
	}

	// The real-time pipeline kept running and received everything, exactly once each.
	batchWaitFor(t, 60*time.Second, "the real-time pipeline to receive every record", func() bool { return live.distinct() == n+during+after })
	stopLive()
	if err := <-liveDone; err != nil {
		t.Fatalf("real-time pipeline: %v", err)
	}
	live.mu.Lock()
	for v, c := range live.values {
		if c != 1 {
			t.Errorf("real-time pipeline got %q %d times", v, c)
		}
	}
	live.mu.Unlock()
	t.Logf("batch of %d records (%d dead letters) took %v as a child process; the real-time pipeline got %d", n, poison, took.Round(time.Millisecond), n+during+after)
}

// TestBatchFileSourceToFile: in batch mode a file source reads its file to the end and ends, the flow that
// reads the source's topic drains what the source wrote, a flow reading the topic that flow writes drains
// what it wrote, and RunBatch returns a summary counting it. A second run reads only what was appended since.
func TestBatchFileSourceToFile(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out, out2 := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log"), filepath.Join(dir, "out2.log")
	appendLines := func(from, to int) {
		f, err := os.OpenFile(in, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintf(f, "line %d\n", i)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(0, 300)
	run := func() topology.BatchSummary {
		src, err := filesource.New(filesource.Config{Paths: []string{in}})
		if err != nil {
			t.Fatal(err)
		}
		sink, err := filesink.New(filesink.Config{Path: out})
		if err != nil {
			t.Fatal(err)
		}
		tp := topology.New("lines-batch")
		lines := tp.Topic("batch-lines", topology.Partitions(2))
		tp.Source("files", src).To(lines)
		tp.Flow("out").From(lines).To(sink)
		sink2, err := filesink.New(filesink.Config{Path: out2})
		if err != nil {
			t.Fatal(err)
		}
		copied := tp.Topic("batch-lines-copy", topology.Partitions(3))
		tp.Flow("copy").From(lines).ToTopic(copied)
		tp.Flow("out2").From(copied).To(sink2)
		rc := topology.DefaultConfig()
		rc.Brokers, rc.HTTPAddr = brokers, "off"
		rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, err := tp.RunBatch(ctx, rc)
		if err != nil {
			t.Fatalf("RunBatch: %v", err)
		}
		return s
	}
	s := run()
	for _, f := range []string{"out", "copy", "out2"} {
		if s.Flows[f].Records != 300 || s.Flows[f].Written != 300 {
			t.Errorf("first run: flow %s: %+v; want 300 records processed and written", f, s.Flows[f])
		}
	}
	if s.SourceRecords != 300 || s.Records != 900 || s.Sources["files"].Tasks != 1 {
		t.Fatalf("first run: summary %+v; want 300 lines read, 3x300 processed", s)
	}
	appendLines(300, 420)
	s = run()
	if s.SourceRecords != 120 || s.Records != 360 || s.Written != 360 {
		t.Fatalf("second run: summary %+v; want the 120 appended lines only, in each of 3 flows", s)
	}
	for _, path := range []string{out, out2} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(data), "\n"); got != 420 {
			t.Errorf("%s has %d lines, want 420", filepath.Base(path), got)
		}
	}
}

// endlessSource stands for a change log: it cannot bound its input.
type endlessSource struct{}

func (endlessSource) Tasks(context.Context) ([]sources.Task, error) {
	return []sources.Task{{Key: "log:1"}}, nil
}
func (endlessSource) Open(context.Context, sources.Task, stream.Position) (sources.Reader, error) {
	return nil, fmt.Errorf("never opened in batch mode")
}

// TestBatchRefusesUnboundedSource: a batch run of a pipeline whose source cannot bound its input fails at
// start-up naming the source, and a mode that does not exist is refused naming SLUICE_MODE.
func TestBatchRefusesUnboundedSource(t *testing.T) {
	tp := topology.New("cdc-batch")
	events := tp.Topic("cdc-events")
	tp.Source("binlog", endlessSource{}).To(events)
	tp.Flow("out").From(events).To(&valueSetSink{values: map[string]int{}})
	rc := topology.DefaultConfig()
	rc.Brokers, rc.HTTPAddr = []string{"127.0.0.1:1"}, "off" // never reached
	_, err := tp.RunBatch(context.Background(), rc)
	if err == nil || !strings.Contains(err.Error(), `source "binlog"`) || !strings.Contains(err.Error(), "cannot bound its input") {
		t.Fatalf("RunBatch = %v; want a start-up error naming source \"binlog\"", err)
	}
	t.Setenv("SLUICE_MODE", "weekly")
	if _, err := topology.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "SLUICE_MODE") {
		t.Fatalf("ConfigFromEnv with SLUICE_MODE=weekly = %v; want an error naming SLUICE_MODE", err)
	}
}

// batchLogLine returns the last line of logs containing substr, "" if none.
func batchLogLine(logs, substr string) string {
	found := ""
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, substr) {
			found = l
		}
	}
	return found
}

// batchLogInt returns the integer value of field in a text log line, -1 if absent.
func batchLogInt(line, field string) int {
	m := regexp.MustCompile(`\b` + field + `=(\d+)`).FindStringSubmatch(line)
	if m == nil {
		return -1
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

// batchWaitFor polls cond every 20ms until it holds, or fails the test after timeout naming what it waited for.
func batchWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
