package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// timedSink wraps the Elasticsearch sink to measure end-to-end latency: for each newly inserted order, the
// time from its created_at (the generator's clock_timestamp() in UTC) to the moment Elasticsearch
// acknowledged it.
type timedSink struct {
	*elasticsearch.Sink
	mu        sync.Mutex
	latencies []time.Duration // since the last report
}

func (s *timedSink) Write(ctx context.Context, batch []stream.Record) error {
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

// takeLatencies returns p50 and p99 of the latencies measured since the last call.
func (s *timedSink) takeLatencies() (p50, p99 time.Duration, n int) {
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

// report prints a progress line every interval: rows captured and lag from the pipeline's own /metrics,
// documents indexed and end-to-end latency from the sink.
func report(ctx context.Context, every time.Duration, metricsAddr string, sink *timedSink, say func(string, ...any)) {
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
		p50, p99, n := sink.takeLatencies()
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

// generate commits about perSecond changes a second until ctx ends: new orders (most), order updates and
// deletes, new customers and customer renames.
func generate(ctx context.Context, dsn string, perSecond int, say func(string, ...any)) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		say("generator: %v", err)
		return
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	tick := time.NewTicker(time.Second / time.Duration(max(perSecond, 1)))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var stmt string
		switch p := rng.IntN(100); {
		case p < 55:
			stmt = fmt.Sprintf(`INSERT INTO shop.orders (customer_id, amount, status, created_at)
				SELECT id, %d.%02d, 'new', clock_timestamp() AT TIME ZONE 'UTC' FROM shop.customers ORDER BY random() LIMIT 1`,
				rng.IntN(500), rng.IntN(100))
		case p < 75:
			stmt = "UPDATE shop.orders SET status = 'paid' WHERE id = (SELECT id FROM shop.orders WHERE status = 'new' ORDER BY random() LIMIT 1)"
		case p < 85:
			stmt = "DELETE FROM shop.orders WHERE id = (SELECT id FROM shop.orders ORDER BY random() LIMIT 1)"
		case p < 92:
			stmt = fmt.Sprintf("INSERT INTO shop.customers (name, email) VALUES ('Customer %d', 'c%d@example.com')", n, n)
		default:
			stmt = fmt.Sprintf("UPDATE shop.customers SET name = 'Renamed %d' WHERE id = (SELECT id FROM shop.customers ORDER BY random() LIMIT 1)", n)
		}
		opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := db.ExecContext(opCtx, stmt)
		cancel()
		if err != nil && ctx.Err() == nil {
			say("generator: %v", err)
			return
		}
	}
}
