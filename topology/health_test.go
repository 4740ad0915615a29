package topology

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice/internal/testkit"
)

func TestStallTracker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs testkit.LogBuffer
		gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_stalled"}, []string{"pipeline", "component"})
		tr := newStallTracker("p", 30*time.Second, slog.New(slog.NewTextHandler(&logs, nil)), gauge)
		flow := tr.component("flow", "index")
		src := tr.component("source", "files")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go tr.run(ctx)
		stalled := func() float64 {
			var m dto.Metric
			if err := gauge.WithLabelValues("p", "flow/index").Write(&m); err != nil {
				t.Fatal(err)
			}
			return m.GetGauge().GetValue()
		}

		// Idle for longer than the timeout: not a stall.
		time.Sleep(time.Minute)
		if s := tr.check(time.Now()); len(s) != 0 {
			t.Fatalf("idle components reported stalled: %+v", s)
		}

		// Pending work that keeps making progress is not stalled.
		flow.wait("batcher", "sink write of 500 records to es")
		for range 10 {
			time.Sleep(20 * time.Second)
			flow.progress()
		}
		synctest.Wait()
		if s := tr.check(time.Now()); len(s) != 0 || stalled() != 0 {
			t.Fatalf("progressing flow reported stalled: %+v", s)
		}

		// No progress for the timeout: stalled, once, with what it waits for.
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if stalled() != 0 {
			t.Fatal("stalled before the timeout")
		}
		flow.wait("batcher", "sink write of 500 records to es (attempt 7: context deadline exceeded)")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if stalled() != 1 {
			t.Fatal("gauge not 1 after the timeout")
		}
		s := tr.check(time.Now())
		if len(s) != 1 || s[0].Kind != "flow" || s[0].Name != "index" || len(s[0].WaitsFor) != 1 ||
			!strings.Contains(s[0].WaitsFor[0], "attempt 7") {
			t.Fatalf("stalls = %+v", s)
		}
		time.Sleep(time.Minute) // many ticks later, still one warning
		synctest.Wait()
		if n := strings.Count(logs.String(), "level=WARN msg=\"stalled"); n != 1 {
			t.Fatalf("%d stall warnings, want 1:\n%s", n, logs.String())
		}

		// Several tasks of one source stalled at once: one component, one line.
		src.wait("task-a", "Kafka acknowledgement of records read by task a")
		src.wait("task-b", "Kafka acknowledgement of records read by task b")
		time.Sleep(31 * time.Second)
		synctest.Wait()
		if n := strings.Count(logs.String(), "level=WARN msg=\"stalled"); n != 2 {
			t.Fatalf("%d stall warnings, want 2:\n%s", n, logs.String())
		}
		if s := tr.check(time.Now()); len(s) != 2 || s[1].Kind != "source" || len(s[1].WaitsFor) != 2 {
			t.Fatalf("stalls = %+v", s)
		}

		// Progress recovers the flow within a tick: gauge 0, one info line.
		flow.progress()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if stalled() != 0 {
			t.Fatal("gauge still 1 after progress")
		}
		if n := strings.Count(logs.String(), "msg=\"recovered from a stall\" flow=index"); n != 1 {
			t.Fatalf("%d recovery lines, want 1:\n%s", n, logs.String())
		}
		// Nothing pending any more recovers too.
		src.done("task-a")
		src.done("task-b")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if s := tr.check(time.Now()); len(s) != 0 {
			t.Fatalf("stalls after recovery = %+v", s)
		}
		if n := strings.Count(logs.String(), "recovered from a stall"); n != 2 {
			t.Fatalf("%d recovery lines, want 2:\n%s", n, logs.String())
		}
		cancel()
	})
}
