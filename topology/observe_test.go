package topology_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sinks"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// retryOnceSink counts the records it wrote; its first Write fails with a retryable error (a busy
// destination), which the engine retries.
type retryOnceSink struct {
	failedOnce atomic.Bool
	written    atomic.Int64
	env        metrics.Env // what Open got from the engine
}

func (s *retryOnceSink) Open(ctx context.Context) error { s.env = metrics.From(ctx); return nil }
func (s *retryOnceSink) Close() error                   { return nil }
func (s *retryOnceSink) Write(_ context.Context, batch []stream.Record) error {
	if s.failedOnce.CompareAndSwap(false, true) {
		return sinks.Retryable(errors.New("destination busy (the test's first write)"))
	}
	s.written.Add(int64(len(batch)))
	return nil
}

// families gathers g and returns the families by name.
func families(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// labelsOf returns a metric's labels as a map.
func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// Acceptance 4: a registry the user supplies gets every sluice_* metric the engine defines (metrics.Names),
// /metrics serves that registry (the user's own metrics included), connectors get the pipeline's
// registerer and logger through their context, a flow's dead letters carry the flow in the flow label, and
// the metrics leave the registry when the run ends.
func TestUserRegistrySeesEveryMetric(t *testing.T) {
	dir := t.TempDir()
	brokers := testkit.Brokers(t, 1)
	in := filepath.Join(dir, "in.log")
	var lines strings.Builder
	for i := range 50 {
		if i == 7 {
			fmt.Fprintln(&lines, "bad line")
			continue
		}
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(in, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	own := prometheus.NewCounter(prometheus.CounterOpts{Name: "app_own_total", Help: "The application's own counter."})
	reg.MustRegister(own)
	sink := &retryOnceSink{}

	tp := topology.New("observed")
	topic := tp.Topic("lines", topology.ValueCodec("string"), topology.Partitions(2))
	dlq := tp.Topic("lines.dlq", topology.ValueCodec("bytes"))
	tp.Source("files", src).Via(stages.Map("trim", func(r stream.Record) (stream.Record, error) {
		r.Value = strings.TrimSpace(r.Value.(string))
		return r, nil
	})).To(topic)
	tp.Flow("count").From(topic).Via(stages.Map("refuse-bad", func(r stream.Record) (stream.Record, error) {
		if strings.HasPrefix(r.Value.(string), "bad") {
			return r, errors.New("a bad line")
		}
		return r, nil
	})).To(sink, topology.BatchSize(10)).DeadLetter(dlq)

	cfg := topology.DefaultConfig()
	cfg.Brokers = brokers
	cfg.HTTPAddr = testkit.FreeAddr(t)
	cfg.Registerer = reg
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		<-done
	}()

	var missing []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		fams := families(t, reg)
		missing = missing[:0]
		for _, name := range metrics.Names() {
			if fams[name] == nil {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 && sink.written.Load() == 49 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the user's registry lacks %v (sink wrote %d records)", missing, sink.written.Load())
	}
	if got := sink.written.Load(); got != 49 {
		t.Fatalf("sink wrote %d records, want 49", got)
	}

	fams := families(t, reg)
	var dl []map[string]string
	for _, m := range fams["sluice_dead_letter_records_total"].GetMetric() {
		dl = append(dl, labelsOf(m))
	}
	want := map[string]string{"pipeline": "observed", "source": "", "flow": "count", "stage": "refuse-bad"}
	if len(dl) != 1 || fmt.Sprint(dl[0]) != fmt.Sprint(want) {
		t.Errorf("dead-letter series %v, want one with %v", dl, want)
	}
	var stageSeries []string
	for _, m := range fams["sluice_stage_records_in_total"].GetMetric() {
		l := labelsOf(m)
		stageSeries = append(stageSeries, fmt.Sprintf("source=%s flow=%s stage=%s: %v", l["source"], l["flow"], l["stage"], m.GetCounter().GetValue()))
	}
	slices.Sort(stageSeries)
	if want := []string{"source= flow=count stage=refuse-bad: 50", "source=files flow= stage=trim: 50"}; !slices.Equal(stageSeries, want) {
		t.Errorf("stage series %q, want %q", stageSeries, want)
	}

	body := httpGet(t, "http://"+cfg.HTTPAddr+"/metrics")
	for _, s := range []string{"app_own_total 0", `sluice_sink_retries_total{pipeline="observed",sink="count"} 1`} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}

	// The sink got the pipeline's logger and registerer: what it registers carries pipeline and flow.
	if err := sink.env.Registerer.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "test_sink_own_total", Help: "A sink's own counter."})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(httpGet(t, "http://"+cfg.HTTPAddr+"/metrics"), `test_sink_own_total{flow="count",pipeline="observed"} 0`) {
		t.Error("a metric the sink registered is not on /metrics with its pipeline and flow labels")
	}
	sink.env.Logger.Info("hello from the sink")
	if !strings.Contains(logs.String(), `"msg":"hello from the sink","pipeline":"observed","flow":"count"`) {
		t.Errorf("the sink's log line is not in the pipeline's log with its flow: %s", logs.String())
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	done <- nil // for the deferred stop
	for name := range families(t, reg) {
		if strings.HasPrefix(name, "sluice_") || strings.HasPrefix(name, "test_") {
			t.Errorf("%s is still registered after the run ended", name)
		}
	}
	if families(t, reg)["app_own_total"] == nil {
		t.Error("the user's own metric was unregistered")
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)
