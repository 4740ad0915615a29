package topology_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSourceBackpressure: the source -> Kafka edge, with Kafka made slow by delaying its produce requests
// (kfake's control). DROP discards records while too many are unacknowledged: what Kafka holds plus what was
// dropped is exactly what the source read, and the saved position is the last record's (a dropped record
// counts as done). ERROR fails the pipeline with ErrBackpressure naming the source, task and position once
// Kafka acknowledged nothing for Wait, or the producer, its buffer full, took nothing for Wait. Embedded on purpose: the slowness is injected with kfake's control.
func TestSourceBackpressure(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	// Every produce request to a bps-* topic waits delay[topic] before kfake handles it.
	delay := map[string]time.Duration{"bps-drop": 20 * time.Millisecond, "bps-error": 500 * time.Millisecond}
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		for _, rt := range req.(*kmsg.ProduceRequest).Topics {
			if d := delay[rt.Topic]; d > 0 {
				cluster.SleepControl(func() { time.Sleep(d) }) // a slow broker, not a synchronisation
				break
			}
		}
		return nil, nil, false
	})

	run := func(name string, pol topology.BackpressurePolicy) (error, *prometheus.Registry) {
		tp := topology.New(name)
		topic := tp.Topic(name, topology.KeyCodec("string"), topology.ValueCodec("string"), topology.Partitions(1))
		tp.Source("gen", &genSource{}, topology.SourceBackpressure(pol)).To(topic)
		reg := prometheus.NewRegistry()
		cfg := topology.DefaultConfig()
		cfg.Brokers = brokers
		cfg.HTTPAddr = testkit.FreeAddr(t)
		cfg.Registerer = reg
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- tp.RunWith(ctx, cfg) }()
		if pol.Mode == topology.BackpressureError {
			return <-done, reg
		}
		// DROP: wait until the source's task has saved the last record's position, then read the count.
		var dropped float64
		for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			fams, _ := reg.Gather()
			for _, f := range fams {
				if f.GetName() == "sluice_backpressure_dropped_total" {
					dropped = f.GetMetric()[0].GetCounter().GetValue()
				}
			}
			hw := testkit.HighWaterMarks(t, brokers, name)[0]
			if int(hw)+int(dropped) >= bpRecords {
				break
			}
		}
		if st := bpStatus(cfg.HTTPAddr, name); st == nil || st.Source != "gen" || st.Edge != "source-kafka" || st.Mode != "DROP" || float64(st.Dropped) != dropped {
			t.Errorf("status backpressure %+v, want source gen, edge source-kafka, mode DROP, dropped %.0f", st, dropped)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: clean stop: %v", name, err)
		}
		t.Logf("DROP at the source: %d records read, %d in Kafka, %.0f dropped", bpRecords, testkit.HighWaterMarks(t, brokers, name)[0], dropped)
		if hw := testkit.HighWaterMarks(t, brokers, name)[0]; dropped == 0 || int(hw)+int(dropped) != bpRecords {
			t.Errorf("DROP: Kafka holds %d + dropped %.0f != read %d (or nothing dropped)", hw, dropped, bpRecords)
		}
		return nil, reg
	}

	t.Run("DROP", func(t *testing.T) {
		run("bps-drop", topology.BackpressurePolicy{Mode: topology.BackpressureDrop, MaxRecords: 100})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		positions, err := topology.Positions(ctx, brokers, "bps-drop", "gen")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(positions["gen"].Position), "7999"; got != want {
			t.Errorf("saved position %s, want %s: dropped records count as done", got, want)
		}
	})
	t.Run("ERROR", func(t *testing.T) {
		err, _ := run("bps-error", topology.BackpressurePolicy{Mode: topology.BackpressureError, Wait: 200 * time.Millisecond})
		t.Logf("ERROR at the source: %v", err)
		if !errors.Is(err, topology.ErrBackpressure) || !strings.Contains(err.Error(), `source "gen" task "gen": record at position `) ||
			!strings.Contains(err.Error(), `ERROR on the edge source "gen" -> topic "bps-error": `) {
			t.Fatalf("pipeline error %v, want the documented backpressure error naming source, task and position", err)
		}
	})
}

// TestSourceBackpressureValidate: LATEST and BUFFER are refused on a source, naming it and the field.
func TestSourceBackpressureValidate(t *testing.T) {
	for _, c := range []struct {
		p    topology.BackpressurePolicy
		want string
	}{
		{topology.BackpressurePolicy{Mode: topology.BackpressureLatest}, `source "gen": SourceBackpressure Mode: LATEST applies to flows`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureBuffer}, `source "gen": SourceBackpressure Mode: BUFFER applies to flows`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureDrop, MaxRecords: -1}, `source "gen": SourceBackpressure MaxRecords: must not be negative`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureError, MaxRecords: 3}, `source "gen": SourceBackpressure MaxRecords: MaxRecords and MaxBytes apply to DROP only`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureDrop, Wait: time.Second}, `source "gen": SourceBackpressure Wait: applies to ERROR only`},
	} {
		tp := topology.New("bps")
		tp.Source("gen", &genSource{}, topology.SourceBackpressure(c.p)).To(tp.Topic("t"))
		if err := tp.Validate(); !errors.Is(err, topology.ErrInvalidTopology) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate = %v, want %q", c.p, err, c.want)
		}
	}
}
