package topology_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// countingSink counts records and does nothing else.
type countingSink struct{ n atomic.Int64 }

func (s *countingSink) Open(context.Context) error { return nil }
func (s *countingSink) Close() error               { return nil }
func (s *countingSink) Write(_ context.Context, batch []stream.Record) error {
	s.n.Add(int64(len(batch)))
	return nil
}

// fiveStages is a chain of five stateless stages that each touch the value.
func fiveStages() []stages.Stage {
	var chain []stages.Stage
	for i := range 5 {
		field := fmt.Sprintf("s%d", i)
		chain = append(chain, stages.Map(fmt.Sprintf("step-%d", i), func(r stream.Record) (stream.Record, error) {
			r.Value.(map[string]any)[field] = true
			return r, nil
		}))
	}
	return chain
}

func fillTopic(tb testing.TB, brokers []string, topic string, n int) {
	tb.Helper()
	testkit.CreateTopic(tb, brokers, topic, 2)
	testkit.ProduceN(tb, brokers, topic, n, func(i int) (string, string) {
		return fmt.Sprint(i % 100), fmt.Sprintf(`{"id":%d,"name":"record %d","amount":%d}`, i, i, i*3)
	})
}

// runFlow consumes topic through stages into a counting sink until n records arrived; it returns the time
// from start to the last record.
func runFlow(tb testing.TB, brokers []string, name, topic string, n int, chain []stages.Stage) time.Duration {
	tb.Helper()
	sink := &countingSink{}
	tp := topology.New(name)
	in := tp.Topic(topic, topology.Partitions(2))
	tp.Flow("f").From(in).Via(chain...).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- tp.RunWith(ctx, cfg) }()
	for sink.n.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	return elapsed
}

func topics(tb testing.TB, brokers []string) []string {
	tb.Helper()
	return testkit.Topics(tb, brokers)
}

// Consecutive stateless ELT stages run fused in the flow's processor: five of them add no topic.
func TestFusedStagesAddNoTopic(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	fillTopic(t, brokers, "events", 100)
	before := topics(t, brokers)
	runFlow(t, brokers, "fused", "events", 100, fiveStages())
	// Every pipeline has its replicas' status topic, the operator's commands topic and the audit topic; none is a stage's.
	after := slices.DeleteFunc(topics(t, brokers), func(n string) bool {
		return n == "fused.status" || n == "fused.commands" || n == "fused.audit"
	})
	if len(after) != len(before) {
		t.Fatalf("a flow of five stateless stages created topics: before %v, after %v", before, after)
	}
	if strings.Join(after, ",") != "events" {
		t.Fatalf("topics %v", after)
	}
}

// BenchmarkFusedStages consumes the same topic with no stages and with five stateless stages, and reports
// the throughput of each and their ratio (the bar: five stages cost less than 20%), and five/none-cpu:
// the process's CPU time without stages over that with them (see BenchmarkFileKafkaFile).
//
//	go test -run '^$' -bench FusedStages -benchtime 8x ./topology
func BenchmarkFusedStages(b *testing.B) {
	const n = 200_000
	brokers := testkit.Brokers(b, 1)
	fillTopic(b, brokers, "events", n)
	var bare, staged time.Duration
	var bareCPU, stagedCPU time.Duration
	runBare := func(i int) {
		settle(b)
		cpu := processCPU()
		bare += runFlow(b, brokers, fmt.Sprintf("bare-%d", i), "events", n, nil)
		bareCPU += processCPU() - cpu
	}
	for i := 0; b.Loop(); i++ { // alternating order, each phase after a garbage collection (settle)
		if i%2 == 0 {
			runBare(i)
		}
		settle(b)
		cpu := processCPU()
		staged += runFlow(b, brokers, fmt.Sprintf("staged-%d", i), "events", n, fiveStages())
		stagedCPU += processCPU() - cpu
		if i%2 == 1 {
			runBare(i)
		}
	}
	total := float64(b.N * n)
	b.ReportMetric(total/bare.Seconds(), "no-stages-records/s")
	b.ReportMetric(total/staged.Seconds(), "five-stages-records/s")
	b.ReportMetric(bare.Seconds()/staged.Seconds(), "five/none")
	b.ReportMetric(bareCPU.Seconds()/stagedCPU.Seconds(), "five/none-cpu")
}
