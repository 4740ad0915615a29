package topology_test

import (
	"bytes"
	"context"
	"encoding/json"
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

// runReplica starts a replica of tp on brokers with its own registry; stop stops it cleanly.
func runReplica(t *testing.T, tp *topology.Topology, brokers []string) (reg *prometheus.Registry, stop func()) {
	t.Helper()
	reg = prometheus.NewRegistry()
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Registerer = brokers, "off", reg
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	return reg, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}
}

// stageCounts returns sluice_stage_records_in_total by "flow/table/stage" for stage name.
func stageCounts(t *testing.T, reg prometheus.Gatherer, stage string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range families(t, reg)["sluice_stage_records_in_total"].GetMetric() {
		if l := labelsOf(m); l["stage"] == stage {
			out[l["flow"]+"/"+l["table"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// The flagship's shape: an unwrap stage in the table's chain and another of the same name in the flow,
// before the join. Their counters are separate series (the table's carries table="customers").
func TestTableAndFlowUnwrapsCountedApart(t *testing.T) {
	f := newJoinFixture(t)
	envelope := func(after string) string { return `{"before":null,"after":` + after + `,"op":"c"}` }
	f.send("customers", 1, envelope(`{"id":1,"name":"Ann"}`))
	f.send("customers", 2, envelope(`{"id":2,"name":"Bob"}`))
	for id := 10; id < 13; id++ {
		f.send("orders", id, envelope(order(id, 1+id%2, id)))
	}
	unwrap := func() stages.Stage {
		s, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tp := topology.New("shop")
	customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(3))
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(3))
	table := tp.Table("customers", customers).Via(unwrap())
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("orders-index").From(orders).Via(unwrap()).Join(table, join).To(f.sink, topology.BatchSize(10))
	reg, stop := runReplica(t, tp, f.brokers)
	defer stop()
	f.expect("12", joined(12, 1, 12, `{"id":1,"name":"Ann"}`))
	want := map[string]float64{"orders-index/": 3, "orders-index/customers": 2}
	var got map[string]float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = stageCounts(t, reg, "unwrap"); fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
	}
	t.Fatalf("unwrap series (flow/table: records in) %v, want %v", got, want)
}

// lagPartitions returns the partitions of topic with a sluice_consumer_lag series in reg.
func lagPartitions(t *testing.T, reg prometheus.Gatherer) []string {
	var out []string
	for _, m := range families(t, reg)["sluice_consumer_lag"].GetMetric() {
		out = append(out, labelsOf(m)["partition"])
	}
	slices.Sort(out)
	return out
}

// Acceptance 4: sluice_consumer_lag has series only for the partitions a replica processes. When a second
// replica joins, the partitions it takes over leave the first replica's metrics (they would otherwise keep
// their last value, a lag that grows as the other replica's input grows); when it leaves, they come back.
func TestLagOnlyForOwnedPartitions(t *testing.T) {
	f := newJoinFixture(t)
	tp := topology.New("lagged")
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(3))
	tp.Flow("index").From(orders).To(f.sink, topology.BatchSize(10))
	next := 0
	sendSome := func() {
		for range 12 { // keys spread over the three partitions
			f.send("orders", next, order(next, 1, next))
			next++
		}
	}
	all := []string{"0", "1", "2"}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 60s", what)
			}
			sendSome()
		}
	}

	regA, stopA := runReplica(t, tp, f.brokers)
	defer stopA()
	waitFor("replica A reports lag for every partition", func() bool { return slices.Equal(lagPartitions(t, regA), all) })

	regB, stopB := runReplica(t, tp, f.brokers)
	var a, b []string
	waitFor("the replicas report lag for disjoint partitions covering all", func() bool {
		a, b = lagPartitions(t, regA), lagPartitions(t, regB)
		union := slices.Sorted(slices.Values(append(slices.Clone(a), b...)))
		return len(a) > 0 && len(b) > 0 && slices.Equal(union, all)
	})
	t.Logf("two replicas: A reports partitions %v, B %v", a, b)
	stopB()
	waitFor("replica A reports lag for every partition again", func() bool { return slices.Equal(lagPartitions(t, regA), all) })
}

// SLUICE_LOG_FORMAT picks the log handler; a value that is neither text nor json fails naming the variable.
func TestLogFormatFromEnv(t *testing.T) {
	t.Setenv("SLUICE_LOG_FORMAT", "yaml")
	if _, err := topology.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "SLUICE_LOG_FORMAT") {
		t.Fatalf("ConfigFromEnv with SLUICE_LOG_FORMAT=yaml: %v, want an error naming the variable", err)
	}
	for _, format := range []string{"json", "text", "JSON"} {
		t.Setenv("SLUICE_LOG_FORMAT", format)
		// The default logger writes to stderr (through the secret-redacting handler): read what it writes.
		out, err := os.CreateTemp(t.TempDir(), "stderr")
		if err != nil {
			t.Fatal(err)
		}
		stderr := os.Stderr
		os.Stderr = out
		cfg, err := topology.ConfigFromEnv()
		os.Stderr = stderr
		if err != nil || cfg.Logger == nil {
			t.Fatalf("SLUICE_LOG_FORMAT=%s: %v (logger %v)", format, err, cfg.Logger)
		}
		cfg.Logger.Info("hello", "k", "v")
		line, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		isJSON := json.Valid(bytes.TrimSpace(line))
		if want := strings.EqualFold(format, "json"); isJSON != want || !bytes.Contains(line, []byte("hello")) {
			t.Errorf("SLUICE_LOG_FORMAT=%s: the default logger wrote %q", format, line)
		}
	}
}
