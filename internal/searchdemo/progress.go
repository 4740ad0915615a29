package searchdemo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// TimedSink wraps the Elasticsearch sink to measure end-to-end latency: for each newly inserted order, the
// time from its created_at (the database's clock when the load generator inserted it) to the moment
// Elasticsearch first acknowledged it in this process. An order is timed once: the same order indexed again
// (a status change, its customer renamed, a redelivery) is not, and orders older than a minute (a snapshot,
// a backlog) are not measured at all.
type TimedSink struct {
	*elasticsearch.Sink
	mu        sync.Mutex
	latencies []time.Duration      // since the last report
	timed     map[string]time.Time // key -> created_at of the orders timed, for a minute after created_at
	pruned    time.Time
}

// timedWindow is how old an order may be and still be timed; it also bounds how long a timed key is kept.
const timedWindow = time.Minute

// Write writes batch with the wrapped sink and, once it succeeded, records the latency of each new order
// indexed for the first time.
func (s *TimedSink) Write(ctx context.Context, batch []stream.Record) error {
	err := s.Sink.Write(ctx, batch)
	if err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timed == nil {
		s.timed = map[string]time.Time{}
	}
	for _, r := range batch {
		created, _ := stream.FieldOf(r.Value, "created_at") // a struct after the join, or a JSON object
		status, _ := stream.FieldOf(r.Value, "status")
		micros, ok := created.(int64)
		if !ok || status != "new" {
			continue
		}
		createdAt := time.UnixMicro(micros)
		age := now.Sub(createdAt)
		key, err := stream.KeyString(r.Key)
		if err != nil {
			key = fmt.Sprint(r.Key)
		}
		if _, seen := s.timed[key]; seen || age >= timedWindow {
			continue
		}
		s.timed[key] = createdAt
		s.latencies = append(s.latencies, age)
	}
	if now.Sub(s.pruned) > timedWindow/4 { // older keys are past the window: they can no longer be timed
		for k, c := range s.timed {
			if now.Sub(c) >= timedWindow {
				delete(s.timed, k)
			}
		}
		s.pruned = now
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

// Report prints a progress line every interval until ctx ends: rows captured and consumer lag from the
// pipeline's metrics (summed over their labels from gatherer, the registry the pipeline registers in, so the
// numbers are this process's own whatever port its HTTP server took, and also with SLUICE_HTTP_ADDR=off),
// documents indexed and insert-to-indexed latency of new orders from the sink. With no gatherer (nil) the
// line says "metrics off" instead of numbers it cannot know.
func Report(ctx context.Context, every time.Duration, gatherer prometheus.Gatherer, sink *TimedSink, say func(string, ...any)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		say("%s", progressLine(gatherer, sink))
	}
}

// progressLine is one line of Report.
func progressLine(gatherer prometheus.Gatherer, sink *TimedSink) string {
	st := sink.Stats()
	p50, p99, n := sink.TakeLatencies()
	var line string
	if m, err := sums(gatherer); err != nil {
		line = fmt.Sprintf("progress: metrics off (%v), %d docs indexed, %d deleted", err, st.Indexed, st.Deleted)
	} else {
		line = fmt.Sprintf("progress: %d rows captured, %d docs indexed, %d deleted, lag %d",
			int64(m["sluice_source_records_total"]), st.Indexed, st.Deleted, int64(m["sluice_consumer_lag"]))
	}
	if n > 0 {
		line += fmt.Sprintf(", insert->indexed p50 %v p99 %v (%d new orders)", p50.Round(time.Millisecond), p99.Round(time.Millisecond), n)
	}
	return line
}

// sums sums each metric of gatherer over its labels (counters, gauges and untyped values).
func sums(gatherer prometheus.Gatherer) (map[string]float64, error) {
	if gatherer == nil {
		return nil, errors.New("no metrics registry")
	}
	families, err := gatherer.Gather()
	if err != nil && len(families) == 0 {
		return nil, err
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				out[f.GetName()] += m.Counter.GetValue()
			case m.Gauge != nil:
				out[f.GetName()] += m.Gauge.GetValue()
			case m.Untyped != nil:
				out[f.GetName()] += m.Untyped.GetValue()
			}
		}
	}
	return out, nil
}
