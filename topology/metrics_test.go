package topology_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// scraped is one scrape of /metrics in the Prometheus text format: each sample's value by its name and
// labels.
type scraped []sample

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape GETs /metrics at addr as Prometheus would, asking for the text format, and parses the samples.
func scrape(t *testing.T, addr string) scraped {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape /metrics: %s", resp.Status)
	}
	var out scraped
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("scrape /metrics: cannot parse %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("scrape /metrics: value of %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(l[2])
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	return out
}

// get returns the sum of the samples named name whose labels include labels (key=value pairs), and how
// many there were.
func (s scraped) get(name string, labels ...string) (float64, int) {
	var sum float64
	n := 0
next:
	for _, x := range s {
		if x.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if x.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		sum += x.value
		n++
	}
	return sum, n
}

// value is get's sum, failing the test when no sample matches.
func (s scraped) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, n := s.get(name, labels...)
	if n == 0 {
		t.Fatalf("/metrics has no %s%v", name, labels)
	}
	return v
}

// Acceptance (issue 13, "after a known number of records the counters equal it; the latency histogram has
// that many observations"): a file source with an ETL stage, a flow with an ELT stage into a file sink, on
// the embedded broker with the test's own registry, scraped over HTTP. After exactly n lines reached the
// sink: records are n at the source, both stages and the sink, bytes are the encoded lines' sizes at both
// ends, the end-to-end histogram holds n plausible observations, the file task is running with lag 0, and
// each group had a session. Then a big append held by the ETL stage shows as lag in bytes, which drains to
// 0 once the stage lets it through.
func TestMetricsCountKnownRecords(t *testing.T) {
	started := time.Now()
	dir := t.TempDir()
	brokers := testkit.Brokers(t, 1)
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	const n, big = 1000, 3000
	line := func(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) } // same length for both prefixes
	var text strings.Builder
	for i := range n {
		text.WriteString(line("rec", i) + "\n")
	}
	if err := os.WriteFile(in, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}

	// The ETL stage holds the big append's first line until the test has seen the task's lag.
	gate := make(chan struct{})
	var openGate sync.Once
	release := func() { openGate.Do(func() { close(gate) }) }
	tp := topology.New("metered")
	topic := tp.Topic("lines", topology.ValueCodec("string"), topology.Partitions(2))
	tp.Source("files", src).Via(stages.Map("gate", func(r stream.Record) (stream.Record, error) {
		if strings.HasPrefix(r.Value.(string), "big-") {
			<-gate
		}
		return r, nil
	})).To(topic)
	tp.Flow("upper").From(topic).Via(stages.Map("upper", func(r stream.Record) (stream.Record, error) {
		r.Value = strings.ToUpper(r.Value.(string))
		return r, nil
	})).To(sink, topology.BatchSize(100))

	cfg := topology.DefaultConfig()
	cfg.Brokers = brokers
	cfg.HTTPAddr = testkit.FreeAddr(t)
	cfg.Registerer = prometheus.NewRegistry()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()
	defer release() // before the stop above: a held stage would hold the task

	addr := cfg.HTTPAddr
	task := "file:" + in
	// waitFor scrapes until cond holds, for at most 30 s.
	waitFor := func(what string, cond func(s scraped) bool) scraped {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case err := <-done:
				done <- err
				t.Fatalf("the pipeline stopped while waiting for %s: %v", what, err)
			default:
			}
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				s := scrape(t, addr)
				if cond(s) {
					return s
				}
				if time.Now().After(deadline) {
					t.Fatalf("no %s within 30s", what)
				}
			} else if time.Now().After(deadline) {
				t.Fatalf("HTTP server not up within 30s: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	written := func(want float64) func(s scraped) bool {
		return func(s scraped) bool {
			v, _ := s.get("sluice_sink_records_total", "sink", "upper")
			lag, lags := s.get("sluice_source_lag", "task", task)
			return v >= want && lags == 1 && lag == 0
		}
	}

	s := waitFor(fmt.Sprintf("%d records at the sink and the file task caught up", n), written(n))
	keyBytes := len(in) // the key is the file's path, the string codec writes it as it is
	wantBytes := float64(n * (keyBytes + len(line("rec", 0))))
	checkCounts(t, s, n, wantBytes, started, task)
	if got := countLines(t, out); got != n {
		t.Fatalf("the sink file has %d lines, want %d", got, n)
	}
	for _, group := range []string{"metered.files", "metered.upper"} {
		if v, _ := s.get("sluice_rebalances_total", "group", group); v < 1 {
			t.Errorf("sluice_rebalances_total{group=%q} = %v, want >= 1", group, v)
		}
	}
	if v := s.value(t, "sluice_source_task_state", "task", task, "state", "running"); v != 1 {
		t.Errorf("task %s state running = %v, want 1", task, v)
	}
	if v := s.value(t, "sluice_source_task_state", "task", task); v != 1 {
		t.Errorf("task %s: the states sum to %v, want exactly one at 1", task, v)
	}
	if v := s.value(t, "sluice_sink_write_seconds_count", "sink", "upper"); v < n/100 {
		t.Errorf("sluice_sink_write_seconds_count = %v, want at least %d (batches of 100)", v, n/100)
	}

	// A big append, held at the gate stage: the reader read one batch of it, the rest is lag.
	lineBytes := float64(len(line("big", 0)) + 1)
	var appended strings.Builder
	for i := range big {
		appended.WriteString(line("big", i) + "\n")
	}
	f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(appended.String()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s = waitFor("lag while the big append is held", func(s scraped) bool {
		v, _ := s.get("sluice_source_lag", "task", task, "unit", "bytes")
		return v > 0
	})
	lag := s.value(t, "sluice_source_lag", "task", task, "unit", "bytes")
	if lag > big*lineBytes || lag/lineBytes != float64(int(lag/lineBytes)) {
		t.Errorf("lag while held = %v bytes, want whole lines of %v bytes, at most %v", lag, lineBytes, big*lineBytes)
	}
	t.Logf("lag while the append is held: %v bytes (%v lines of %d)", lag, lag/lineBytes, big)
	release()
	s = waitFor(fmt.Sprintf("%d records at the sink and lag 0 again", n+big), written(n+big))
	wantBytes += float64(big * (keyBytes + len(line("big", 0))))
	checkCounts(t, s, n+big, wantBytes, started, task)
	if got := countLines(t, out); got != n+big {
		t.Fatalf("the sink file has %d lines, want %d", got, n+big)
	}
	t.Logf("end-to-end: %v observations, mean %.3fs; test ran %v",
		s.value(t, "sluice_end_to_end_seconds_count", "flow", "upper"),
		s.value(t, "sluice_end_to_end_seconds_sum", "flow", "upper")/float64(n+big), time.Since(started).Round(time.Millisecond))
}

// checkCounts checks the counters of TestMetricsCountKnownRecords once want records reached the sink.
func checkCounts(t *testing.T, s scraped, want int, wantBytes float64, started time.Time, task string) {
	t.Helper()
	n := float64(want)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_source_records_total", []string{"source", "files"}, n},
		{"sluice_source_records_acked_total", []string{"source", "files"}, n},
		{"sluice_source_bytes_total", []string{"source", "files"}, wantBytes},
		{"sluice_stage_records_in_total", []string{"source", "files", "stage", "gate"}, n},
		{"sluice_stage_records_out_total", []string{"source", "files", "stage", "gate"}, n},
		{"sluice_stage_records_in_total", []string{"flow", "upper", "stage", "upper"}, n},
		{"sluice_stage_records_out_total", []string{"flow", "upper", "stage", "upper"}, n},
		{"sluice_sink_consumed_records_total", []string{"sink", "upper"}, n},
		{"sluice_sink_consumed_bytes_total", []string{"sink", "upper"}, wantBytes},
		{"sluice_sink_records_total", []string{"sink", "upper"}, n},
		{"sluice_sink_bytes_total", []string{"sink", "upper"}, wantBytes},
		{"sluice_end_to_end_seconds_count", []string{"flow", "upper"}, n},
		{"sluice_source_lag", []string{"task", task, "unit", "bytes"}, 0},
	} {
		if got := s.value(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	sum := s.value(t, "sluice_end_to_end_seconds_sum", "flow", "upper")
	if bound := time.Since(started).Seconds() * n; sum <= 0 || sum >= bound {
		t.Errorf("sluice_end_to_end_seconds_sum = %v, want > 0 and < %v (the test's duration times %d records)", sum, bound, want)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
