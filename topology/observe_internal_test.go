package topology

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stream"
)

// observedRun is the part of a pipeline run the observers use: its name and metrics, on a registry of the
// test's own.
func observedRun(t *testing.T) *pipelineRun {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewOn(reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return &pipelineRun{t: New("obs"), metrics: m}
}

// A task's state is one series at 1 and the others at 0; its lag series exists while its reader is open
// and tells it, with the reader's unit, and is deleted before the reader is closed.
func TestTaskObserverStatesAndLag(t *testing.T) {
	p := observedRun(t)
	o := p.newTaskObserver("files")
	path := filepath.Join(t.TempDir(), "in.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("0123456789\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{path}, MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	key := "file:" + path
	state := func(s string) float64 {
		return valueOf(t, p.metrics.SourceTaskState.WithLabelValues("obs", "files", key, s))
	}
	states := func() string {
		var on []string
		for _, s := range metrics.TaskStates {
			if state(s) == 1 {
				on = append(on, s)
			} else if state(s) != 0 {
				t.Fatalf("state %s = %v", s, state(s))
			}
		}
		return strings.Join(on, ",")
	}

	o.setState(key, "starting")
	if got := states(); got != "starting" || o.state(key) != "starting" {
		t.Fatalf("states on = %q, state() = %q; want starting", got, o.state(key))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := src.Open(ctx, sources.Task{Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.opened(key, r)
	if got := states(); got != "running" {
		t.Fatalf("states on after open = %q, want running", got)
	}
	if _, err := r.Read(ctx); err != nil { // 4 of 10 lines
		t.Fatal(err)
	}
	o.refreshLag()
	if got := valueOf(t, p.metrics.SourceLag.WithLabelValues("obs", "files", key, "bytes")); got != 66 {
		t.Fatalf("sluice_source_lag = %v, want 66 (6 lines of 11 bytes)", got)
	}
	if v, unit, ok := o.lag(key); !ok || unit != "bytes" || v != 66 {
		t.Fatalf("lag() = %v %q %v, want 66 bytes", v, unit, ok)
	}
	o.closing(key)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	o.refreshLag()
	if n := seriesOf(p.metrics.SourceLag); n != 0 {
		t.Fatalf("%d lag series after the reader closed, want 0", n)
	}
	if _, _, ok := o.lag(key); ok {
		t.Fatal("lag() answers for a closed reader")
	}
	o.setState(key, taskEndState(sources.ErrEndOfInput))
	if got := states(); got != "ended" {
		t.Fatalf("states on after the end of input = %q, want ended", got)
	}
	if taskEndState(nil) != "stopped" || taskEndState(context.Canceled) != "failed" {
		t.Fatal("taskEndState: nil is stopped, an error failed")
	}
}

// A flow counts, for an acknowledged batch, the bytes of the Kafka records with at least one delivered
// output and one end-to-end observation per delivered output; rejected outputs and records without a
// timestamp are not observed.
func TestSinkCountersCountWhatWasDelivered(t *testing.T) {
	p := observedRun(t)
	c := p.newSinkCounters("f")
	now := time.Now()
	items := []sinkItem{
		{records: make([]stream.Record, 2), origin: origin{key: []byte("k1"), value: []byte("value1"), timestamp: now.Add(-2 * time.Second)}},
		{records: make([]stream.Record, 1), origin: origin{key: []byte("k2"), value: []byte("v2"), timestamp: now.Add(-time.Second)}},
		{records: make([]stream.Record, 1), origin: origin{value: []byte("no-timestamp")}},
		{records: nil, origin: origin{value: []byte("filtered"), timestamp: now}}, // the stages dropped it
	}
	owners := []int{0, 0, 1, 2}
	for _, it := range items {
		c.consumed(it.origin)
	}
	c.acknowledged(items, owners, map[int]bool{3: true}, now) // the sink rejected the record without timestamp
	if got := valueOf(t, p.metrics.SinkConsumedRecords.WithLabelValues("obs", "f")); got != 4 {
		t.Errorf("consumed records = %v, want 4", got)
	}
	if got := valueOf(t, p.metrics.SinkConsumedBytes.WithLabelValues("obs", "f")); got != 8+4+12+8 {
		t.Errorf("consumed bytes = %v, want 32", got)
	}
	if got := valueOf(t, p.metrics.SinkBytes.WithLabelValues("obs", "f")); got != 8+4 {
		t.Errorf("acknowledged bytes = %v, want 12 (the rejected and the filtered record are not)", got)
	}
	var m dto.Metric
	if err := p.metrics.EndToEndSeconds.WithLabelValues("obs", "f").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	if h := m.GetHistogram(); h.GetSampleCount() != 3 || h.GetSampleSum() != 2+2+1 {
		t.Errorf("end-to-end: %d observations summing to %v, want 3 summing to 5", h.GetSampleCount(), h.GetSampleSum())
	}
}

// valueOf reads a counter's or a gauge's value.
func valueOf(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// seriesOf counts the series a collector has.
func seriesOf(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	n := 0
	for range ch {
		n++
	}
	return n
}
