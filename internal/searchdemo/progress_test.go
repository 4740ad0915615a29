package searchdemo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

func order(id int64, created time.Time, status string) stream.Record {
	return stream.Record{Key: id, Value: map[string]any{"id": id, "created_at": created.UnixMicro(), "status": status,
		"customer": map[string]any{"name": "ada"}}}
}

// TestTimedSinkTimesEachNewOrderOnce: an order is timed the first time it is indexed; indexed again (its
// customer renamed: same status, same created_at) it is not, nor are orders older than a minute (snapshot,
// re-indexed existing orders) or no longer new.
func TestTimedSinkTimesEachNewOrderOnce(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	es, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	sink := &TimedSink{Sink: es}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	write := func(batch ...stream.Record) {
		t.Helper()
		if err := sink.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	write(order(1, now.Add(-200*time.Millisecond), "new"), order(2, now.Add(-100*time.Millisecond), "new"),
		order(3, now.Add(-40*time.Second), "paid"), order(4, now.Add(-2*time.Minute), "new"))
	write(order(1, now.Add(-200*time.Millisecond), "new")) // re-indexed: its customer was renamed
	p50, p99, n := sink.TakeLatencies()
	if n != 2 {
		t.Fatalf("timed %d orders, want 2 (orders 1 and 2, once each)", n)
	}
	if p50 < 100*time.Millisecond || p99 < p50 || p99 > 10*time.Second {
		t.Errorf("p50 %v p99 %v: want the age of orders 1 and 2 at indexing", p50, p99)
	}
	write(order(2, now.Add(-100*time.Millisecond), "new"), order(5, time.Now(), "new"))
	if _, _, n := sink.TakeLatencies(); n != 1 {
		t.Errorf("second report timed %d orders, want 1 (order 5)", n)
	}
	if line := progressLine(nil, sink); !strings.Contains(line, "progress: metrics off") || strings.Contains(line, "rows captured") {
		t.Errorf("without metrics: %q", line)
	}
}

// TestProgressLineReadsTheRegistry: the line sums the pipeline's metrics over their labels from the
// registry the pipeline registered them in (no HTTP involved).
func TestProgressLineReadsTheRegistry(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	es, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	records := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_source_records_total"}, []string{"source"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_consumer_lag"}, []string{"partition"})
	reg.MustRegister(records, lag)
	records.WithLabelValues("cdc").Add(40)
	records.WithLabelValues("other").Add(2)
	lag.WithLabelValues("0").Set(3)
	lag.WithLabelValues("1").Set(4)
	line := progressLine(reg, &TimedSink{Sink: es})
	if !strings.HasPrefix(line, "progress: 42 rows captured, 0 docs indexed, 0 deleted, lag 7") {
		t.Errorf("line %q", line)
	}
}
