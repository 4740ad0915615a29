package searchdemo

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// TimedSink wraps the Elasticsearch sink to measure end-to-end latency: for each newly inserted order, the
// time from its created_at (the database's clock when the load generator inserted it) to the moment
// Elasticsearch acknowledged it. Orders older than a minute (a snapshot, a backlog) are not measured.
type TimedSink struct {
	*elasticsearch.Sink
	mu        sync.Mutex
	latencies []time.Duration // since the last report
}

// Write writes batch with the wrapped sink and, once it succeeded, records the latency of each new order.
func (s *TimedSink) Write(ctx context.Context, batch []stream.Record) error {
	err := s.Sink.Write(ctx, batch)
	if err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		created, _ := stream.FieldOf(r.Value, "created_at") // a struct after the join, or a JSON object
		status, _ := stream.FieldOf(r.Value, "status")
		micros, ok := created.(int64)
		if age := now.Sub(time.UnixMicro(micros)); ok && age < time.Minute && status == "new" {
			s.latencies = append(s.latencies, age)
		}
	}
	return nil
}

// TakeLatencies returns p50 and p99 of the latencies measured since the last call, and how many there were.
func (s *TimedSink) TakeLatencies() (p50, p99 time.Duration, n int) {
	s.mu.Lock()
	l := s.latencies
	s.latencies = nil
	s.mu.Unlock()
	if len(l) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l)
	return l[len(l)/2], l[len(l)*99/100], len(l)
}

// Report prints a progress line every interval until ctx ends: rows captured and lag from the pipeline's
// own /metrics on metricsAddr, documents indexed and end-to-end latency from the sink.
func Report(ctx context.Context, every time.Duration, metricsAddr string, sink *TimedSink, say func(string, ...any)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m := scrape(metricsAddr)
		st := sink.Stats()
		p50, p99, n := sink.TakeLatencies()
		line := fmt.Sprintf("progress: %d rows captured, %d docs indexed, %d deleted, lag %d",
			int64(m["sluice_source_records_total"]), st.Indexed, st.Deleted, int64(m["sluice_consumer_lag"]))
		if n > 0 {
			line += fmt.Sprintf(", insert->indexed p50 %v p99 %v (%d orders)", p50.Round(time.Millisecond), p99.Round(time.Millisecond), n)
		}
		say("%s", line)
	}
}

// scrape sums each metric over its labels, from a Prometheus text endpoint (empty when unreachable).
func scrape(addr string) map[string]float64 {
	out := map[string]float64{}
	if addr == "" || addr == "off" {
		return out
	}
	client := http.Client{Timeout: 2 * time.Second}
	res, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, rest, ok = line[:i], line[strings.LastIndexByte(line, '}')+2:], true
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); ok && err == nil {
			out[name] += v
		}
	}
	return out
}
