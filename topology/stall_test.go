package topology_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// stuckSink never finishes a write by itself: it reports retries and waits for its ctx, like a sink whose
// server stopped answering.
type stuckSink struct {
	writes    atomic.Int64
	cancelled atomic.Int64
}

func (s *stuckSink) Open(context.Context) error { return nil }
func (s *stuckSink) Close() error               { return nil }
func (s *stuckSink) String() string             { return "a stuck server" }
func (s *stuckSink) Write(ctx context.Context, batch []stream.Record) error {
	s.writes.Add(1)
	sinks.ReportRetry(ctx, 7, errors.New("no answer within 30s"))
	<-ctx.Done()
	s.cancelled.Add(1)
	return ctx.Err()
}

// A sink write that never returns by itself: /readyz reports the flow stalled with what it waits for while
// /healthz stays alive; a shutdown cancels the write after the drain instead of waiting for it, the
// pipeline stops cleanly, and nothing of the batch was committed: a restart delivers every record.
func TestStuckSinkWriteIsReportedAndCancelledAtShutdown(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "events", 2)
	const n = 50
	testkit.ProduceN(t, brokers, "events", n, func(i int) (string, string) { return fmt.Sprint(i), fmt.Sprintf(`{"n":%d}`, i) })

	run := func(sink sinks.Sink, httpAddr string) (stop func() (error, time.Duration)) {
		tp := topology.New("stuck")
		events := tp.Topic("events", topology.ValueCodec("json"), topology.Partitions(2))
		tp.Flow("index").From(events).To(sink, topology.BatchSize(10))
		rc := topology.DefaultConfig()
		rc.Brokers, rc.HTTPAddr, rc.StallTimeout = brokers, httpAddr, time.Second
		rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tp.RunWith(ctx, rc) }()
		return func() (error, time.Duration) {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				return err, time.Since(start)
			case <-time.After(60 * time.Second):
				t.Fatal("RunWith did not return within 60s of the stop")
				return nil, 0
			}
		}
	}

	stuck := &stuckSink{}
	addr := testkit.FreeAddr(t)
	stop := run(stuck, addr)
	var body string
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, b := get(addr + "/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(b, `"stalled"`) {
			body = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported the stall; last: %d %s", code, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ready struct {
		Status  string `json:"status"`
		Stalled []struct {
			Kind, Name string
			WaitsFor   []string `json:"waits_for"`
		} `json:"stalled"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatal(err)
	}
	if len(ready.Stalled) != 1 || ready.Stalled[0].Kind != "flow" || ready.Stalled[0].Name != "index" ||
		len(ready.Stalled[0].WaitsFor) != 1 ||
		!strings.Contains(ready.Stalled[0].WaitsFor[0], "sink write of 10 records to a stuck server (attempt 7: no answer within 30s)") {
		t.Fatalf("/readyz = %s", body)
	}
	if code, b := get(addr + "/healthz"); code != http.StatusOK || !strings.Contains(b, `"status":"alive"`) {
		t.Fatalf("/healthz = %d %s, want 200 alive while stalled", code, b)
	}
	if m := metric(addr, `sluice_stalled{component="flow/index",pipeline="stuck"}`); m != "1" {
		t.Errorf("sluice_stalled = %q while stalled, want 1", m)
	}

	err, took := stop()
	if err != nil {
		t.Fatalf("stop with a stuck write: %v", err)
	}
	if stuck.cancelled.Load() == 0 {
		t.Fatal("the stuck write's ctx was never cancelled")
	}
	if took > 25*time.Second {
		t.Errorf("stop took %v with a stuck write; the drain is 10s", took)
	}
	t.Logf("stopped %v after the stop with a stuck write (%d writes attempted)", took.Round(100*time.Millisecond), stuck.writes.Load())

	// Nothing of the cancelled batches was committed: every record comes again.
	sink := &recordingSink{}
	stop = run(sink, "off")
	deadline = time.Now().Add(60 * time.Second)
	for {
		sink.mu.Lock()
		got := len(sink.records)
		sink.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart the sink got %d of %d records", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range sink.records {
		seen[fmt.Sprint(r.Value)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records after the restart, want %d", len(seen), n)
	}
}

func get(url string) (int, string) {
	client := http.Client{Timeout: 2 * time.Second}
	res, err := client.Get("http://" + url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metric returns the value of the exposition line that starts with series, or "".
func metric(addr, series string) string {
	_, body := get(addr + "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

// A rebalance does not wait for a stuck write beyond the drain: when a second replica joins, the first
// one's write is cancelled and its partitions move; the records it never wrote were not committed, so the
// second replica writes every one of them once the first stops.
func TestStuckSinkWriteDoesNotHoldARebalance(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "moving", 2)
	const n = 40
	testkit.ProduceN(t, brokers, "moving", n, func(i int) (string, string) { return fmt.Sprint(i), fmt.Sprintf(`{"n":%d}`, i) })
	replica := func(sink sinks.Sink) (stop func() error) {
		tp := topology.New("moving")
		in := tp.Topic("moving", topology.ValueCodec("json"), topology.Partitions(2))
		tp.Flow("index").From(in).To(sink, topology.BatchSize(5))
		rc := topology.DefaultConfig()
		rc.Brokers, rc.HTTPAddr = brokers, "off"
		rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tp.RunWith(ctx, rc) }()
		return func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(60 * time.Second):
				t.Fatal("replica did not stop within 60s")
				return nil
			}
		}
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > timeout {
				t.Fatalf("%s: not within %v", what, timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(start)
	}

	stuck := &stuckSink{}
	stopStuck := replica(stuck)
	waitFor("the first replica's write hangs", 60*time.Second, func() bool { return stuck.writes.Load() > 0 })
	healthy := &recordingSink{}
	stopHealthy := replica(healthy)
	defer stopHealthy()
	took := waitFor("the stuck write is cancelled by the rebalance", 40*time.Second, func() bool { return stuck.cancelled.Load() > 0 })
	t.Logf("stuck write cancelled %v after the second replica started", took.Round(100*time.Millisecond))
	took = waitFor("the second replica writes", 40*time.Second, func() bool {
		healthy.mu.Lock()
		defer healthy.mu.Unlock()
		return len(healthy.records) > 0
	})
	t.Logf("second replica wrote its first records %v later", took.Round(100*time.Millisecond))
	if err := stopStuck(); err != nil {
		t.Fatalf("stuck replica's stop: %v", err)
	}
	waitFor("every record written by the second replica", 60*time.Second, func() bool {
		healthy.mu.Lock()
		defer healthy.mu.Unlock()
		seen := map[string]bool{}
		for _, r := range healthy.records {
			seen[fmt.Sprint(r.Value)] = true
		}
		return len(seen) == n
	})
}
