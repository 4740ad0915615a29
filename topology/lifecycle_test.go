package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// countedSource is a bounded source of n records in one task that counts its Close calls.
type countedSource struct {
	n      int
	mu     sync.Mutex
	closes int
}

func (s *countedSource) Tasks(context.Context) ([]sources.Task, error) {
	return []sources.Task{{Key: "counted"}}, nil
}

func (s *countedSource) Open(_ context.Context, _ sources.Task, pos stream.Position) (sources.Reader, error) {
	next := 0
	if pos != nil {
		fmt.Sscan(string(pos), &next)
		next++
	}
	return &countedReader{s: s, next: next}, nil
}

func (s *countedSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	return nil
}

type countedReader struct {
	s    *countedSource
	next int
}

func (r *countedReader) Read(ctx context.Context) ([]stream.Record, error) {
	if r.next >= r.s.n {
		return nil, sources.ErrEndOfInput
	}
	rec := stream.Record{Value: fmt.Sprintf(`{"n":%d}`, r.next), Position: stream.Position(fmt.Sprint(r.next))}
	r.next++
	return []stream.Record{rec}, nil
}

func (r *countedReader) Close() error { return nil }

// lifecycleStage counts its Open and Close calls and fails Process when it is not open.
type lifecycleStage struct {
	name          string
	mu            sync.Mutex
	opens, closes int
	open          bool
}

func (s *lifecycleStage) Name() string { return s.name }
func (s *lifecycleStage) Open(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	s.open = true
	return nil
}

func (s *lifecycleStage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	s.open = false
	return nil
}

func (s *lifecycleStage) Process(_ context.Context, rec stream.Record) ([]stream.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return nil, errors.New("not open")
	}
	return []stream.Record{rec}, nil
}

var (
	_ stages.Opener = (*lifecycleStage)(nil)
	_ stages.Closer = (*lifecycleStage)(nil)
)

// flakySink fails its first failures writes with a retryable error, then writes; it remembers what it wrote.
type flakySink struct {
	failures int
	mu       sync.Mutex
	attempts int
	written  map[string]int
}

func (s *flakySink) Open(context.Context) error { s.written = map[string]int{}; return nil }
func (s *flakySink) Close() error               { return nil }
func (s *flakySink) String() string             { return "the test's flaky sink" }
func (s *flakySink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.attempts <= s.failures {
		return sinks.Retryable(fmt.Errorf("connect to 127.0.0.1:1: connection refused (attempt %d)", s.attempts))
	}
	for _, r := range batch {
		s.written[fmt.Sprint(r.Value)]++
	}
	return nil
}

func (s *flakySink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.written)
}

// lifecycleTopology reads src through stage (the same value in the source's and the flow's chain) into sink.
func lifecycleTopology(src sources.Source, stage stages.Stage, sink sinks.Sink) *topology.Topology {
	tp := topology.New("lifecycle")
	events := tp.Topic("events", topology.ValueCodec("json"))
	tp.Source("counted", src).Via(stage).To(events)
	tp.Flow("out").From(events).Via(stage).To(sink, topology.BatchSize(10), topology.Linger(20*time.Millisecond))
	return tp
}

// TestLifecycleAndSinkRetry runs a source that implements io.Closer, a stage with Open/Close used in two
// chains, and a sink that fails retryably three times: the source and the stage are closed once per run,
// the stage opened once, and every record is written after the retries, which the log and the metric show.
func TestLifecycleAndSinkRetry(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	src := &countedSource{n: 50}
	stage := &lifecycleStage{name: "opened"}
	sink := &flakySink{failures: 3}
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, testkit.FreeAddr(t)
	log := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lifecycleTopology(src, stage, sink).RunWith(ctx, cfg) }()
	for sink.count() < 50 {
		select {
		case err := <-done:
			t.Fatalf("RunWith ended with %d records written: %v; log:\n%s", sink.count(), err, strings.Join(log.Lines(""), "\n"))
		case <-ctx.Done():
			t.Fatalf("%d records written after 60s; log:\n%s", sink.count(), strings.Join(log.Lines(""), "\n"))
		case <-time.After(20 * time.Millisecond):
		}
	}
	metrics := httpGet(t, "http://"+cfg.HTTPAddr+"/metrics")
	if line := grepLines(metrics, "sluice_sink_retries_total{"); !strings.Contains(line, `flow="out"`) && !strings.Contains(line, `sink="out"`) || !strings.HasSuffix(strings.TrimSpace(line), " 3") {
		t.Errorf("/metrics does not count 3 sink retries:\n%s", grepLines(metrics, "sluice_sink_retries_total"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	warns := log.Lines("sink unavailable: writing the batch again")
	if len(warns) != 1 || !strings.Contains(warns[0], "connection refused") || !strings.Contains(warns[0], "flaky sink") {
		t.Errorf("want one retry warning naming the sink and the cause, got %q", warns)
	}
	if got := log.Lines("sink writing again after retryable failures"); len(got) != 1 {
		t.Errorf("want one line saying the sink writes again, got %q", got)
	}
	if src.closes != 1 || stage.opens != 1 || stage.closes != 1 {
		t.Errorf("source closed %d times, stage opened %d and closed %d times; want 1 each", src.closes, stage.opens, stage.closes)
	}
}

// TestSinkRetryGivesUpAfterRetryTimeout: a sink that stays unavailable stops the pipeline once the
// RetryTimeout has passed, with an error that names the flow, the sink and the cause, and says so.
func TestSinkRetryGivesUpAfterRetryTimeout(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	src := &countedSource{n: 5}
	sink := &flakySink{failures: 1 << 30}
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.RetryTimeout = 2 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(&testkit.LogBuffer{}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	started := time.Now()
	err := lifecycleTopology(src, &lifecycleStage{name: "opened"}, sink).RunWith(ctx, cfg)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("RunWith = %v (%v); want the sink's failure after the RetryTimeout", err, ctx.Err())
	}
	for _, want := range []string{`flow "out"`, "the test's flaky sink", "connection refused", "gave up after retrying", "RetryTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if took := time.Since(started); took > 30*time.Second {
		t.Errorf("gave up after %v, want about the RetryTimeout", took)
	}
	if src.closes != 1 {
		t.Errorf("source closed %d times after a failed run, want 1", src.closes)
	}
}

// failingOpenStage cannot open its resource.
type failingOpenStage struct{ lifecycleStage }

func (s *failingOpenStage) Open(context.Context) error {
	return errors.New("load model /models/fraud.onnx: no such file or directory")
}

// TestStageOpenFailureStopsStartup: a stage whose Open fails stops the pipeline at start-up, naming the
// stage and the cause; the stages opened before it are closed, and so is the source.
func TestStageOpenFailureStopsStartup(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	src := &countedSource{n: 5}
	first := &lifecycleStage{name: "first"}
	broken := &failingOpenStage{lifecycleStage{name: "fraud-score"}}
	tp := topology.New("lifecycle-fail")
	events := tp.Topic("events", topology.ValueCodec("json"))
	tp.Source("counted", src).Via(first).To(events)
	tp.Flow("out").From(events).Via(broken).To(&flakySink{})
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(&testkit.LogBuffer{}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := tp.RunWith(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), `stage "fraud-score": open: load model /models/fraud.onnx`) {
		t.Fatalf("RunWith = %v; want the stage's open failure", err)
	}
	if first.opens != first.closes || broken.closes != 0 || src.closes != 1 {
		t.Errorf("first stage opened %d, closed %d times; failing stage closed %d times; source closed %d times",
			first.opens, first.closes, broken.closes, src.closes)
	}
}
