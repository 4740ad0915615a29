package mysql

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// stateSink applies the change events it receives, in order, to a last-write-wins view of the table (as a
// compacted topic or a keyed index would), and counts incremental reads.
type stateSink struct {
	mu       sync.Mutex
	state    tableState
	reads    int
	sentinel bool
}

func (s *stateSink) Open(context.Context) error { return nil }
func (s *stateSink) Close() error               { return nil }
func (s *stateSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range batch {
		k, err := stream.KeyString(rec.Key)
		if err != nil {
			return fmt.Errorf("record without key at %s offset %d: %v", rec.Topic, rec.Offset, err)
		}
		env, _ := rec.Value.(map[string]any)
		row, _ := env["after"].(map[string]any)
		if row == nil {
			delete(s.state, k)
			continue
		}
		if env["op"] == "r" {
			s.reads++
		}
		if row["note"] == "sentinel" {
			s.sentinel = true
		}
		s.state[k] = fmt.Sprintf("%v/%v", row["v"], row["note"])
	}
	return nil
}

func (s *stateSink) progress() (reads int, sentinel bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, s.sentinel
}

// TestIncrementalSnapshotLong1M (SLUICE_TEST_LONG=1; issue 18, acceptance 3): an incremental snapshot of
// a 1,000,000-row table, requested through Source.Snapshot while a pipeline on the embedded broker streams
// it, under a concurrent load of 200 updates/s (with some deletes and inserts) for the whole run: the
// snapshot finishes while streaming continues, and the sink's last-write-wins view equals the table at the
// end (no older value won). It reports the snapshot's duration and rows/s.
func TestIncrementalSnapshotLong1M(t *testing.T) {
	if os.Getenv("SLUICE_TEST_LONG") != "1" {
		t.Skip("a 1,000,000-row incremental snapshot takes minutes: run it with make test-long (SLUICE_TEST_LONG=1)")
	}
	const rows = 1_000_000
	loadStart := time.Now()
	f := newIncrementalFixture(t, "d_inclong", rows, 0)
	t.Cleanup(func() { server.Exec(t, "DROP DATABASE IF EXISTS d_inclong") })
	t.Logf("loaded %d rows in %v", rows, time.Since(loadStart).Round(time.Millisecond))

	tp := topology.New("d-inclong")
	items := tp.Topic(f.src.Topic("d_inclong.items"), topology.KeyCodec("json"), topology.ValueCodec("json"), topology.Partitions(1))
	tp.Source("cdc", f.src).To(items)
	sink := &stateSink{state: tableState{}}
	tp.Flow("items").From(items).To(sink)
	cfg := topology.DefaultConfig()
	logs := &testkit.LogBuffer{}
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = testkit.Brokers(t, 1), "off", slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs)
		}
	}()
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); !ok(); {
			if time.Now().After(deadline) {
				reads, _ := sink.progress()
				t.Fatalf("%s: not within %v (%d incremental reads)", what, limit, reads)
			}
			select {
			case err := <-done:
				done <- err
				t.Fatalf("pipeline stopped: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitFor("the task's stream", time.Minute, func() bool { return strings.Contains(f.log.String(), "binlog streaming started") })

	// 200 changes/s for the whole run, on random rows, new ones included: statements are handed out on a
	// 200/s schedule to eight connections, so a slow statement does not lower the rate.
	var changes, issued atomic.Int64
	var stopLoad atomic.Bool
	var loadErr atomic.Value
	var load sync.WaitGroup
	work := make(chan int, 1000)
	load.Add(1)
	go func() {
		defer load.Done()
		defer close(work)
		// By schedule, not by tick: ticks a busy machine delays are caught up on at the next one.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		began := time.Now()
		for range tick.C {
			if stopLoad.Load() {
				return
			}
			for due := int64(time.Since(began).Seconds() * 200); issued.Load() < due; {
				work <- 1 + rand.IntN(rows+5000)
				issued.Add(1)
			}
		}
	}()
	for range 8 {
		load.Add(1)
		go func() {
			defer load.Done()
			for id := range work {
				q := "UPDATE d_inclong.items SET v = v + 1, note = 'updated' WHERE id = ?"
				switch n := rand.IntN(20); {
				case n == 0:
					q = "DELETE FROM d_inclong.items WHERE id = ?"
				case n == 1:
					q = "INSERT INTO d_inclong.items VALUES (?, 1000, 'inserted') ON DUPLICATE KEY UPDATE v = v + 1"
				}
				qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := server.DB().ExecContext(qctx, q, id)
				qcancel()
				if err != nil {
					loadErr.Store(err)
					continue
				}
				if n, _ := res.RowsAffected(); n > 0 {
					changes.Add(1)
				}
			}
		}()
	}
	defer func() { stopLoad.Store(true); load.Wait() }()

	start := time.Now()
	if err := f.src.Snapshot(ctx, sources.SnapshotRequest{Tables: []string{"d_inclong.items"}}); err != nil {
		t.Fatal(err)
	}
	waitFor("the incremental snapshot", 30*time.Minute, func() bool { return strings.Contains(f.log.String(), "incremental snapshot done") })
	took := time.Since(start)
	changesDuring, issuedDuring := changes.Load(), issued.Load()
	// Streaming goes on after the snapshot: the load keeps running a few seconds more.
	before := changes.Load()
	waitFor("changes after the snapshot", time.Minute, func() bool { return changes.Load() >= before+200 })
	stopLoad.Store(true)
	load.Wait()
	if err, _ := loadErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	// The last change, on the topic's only partition: once the sink has it, it has everything before.
	server.Exec(t, "INSERT INTO d_inclong.items VALUES (2000000, 0, 'sentinel')")
	waitFor("the sentinel", 10*time.Minute, func() bool { _, s := sink.progress(); return s })

	sink.mu.Lock()
	got, reads := sink.state, sink.reads
	sink.mu.Unlock()
	assertSameState(t, got, f.items(t, ""))
	if rate := float64(issuedDuring) / took.Seconds(); rate < 180 {
		t.Errorf("the load ran %.0f statements/s during the snapshot, want 200", rate)
	}
	t.Logf("incremental snapshot of %d rows: %d reads in %v (%.0f rows/s); during it %d statements (%.0f/s), %d changed a row; %d changes in all",
		rows, reads, took.Round(time.Millisecond), float64(reads)/took.Seconds(), issuedDuring, float64(issuedDuring)/took.Seconds(), changesDuring, changes.Load())

	// Baseline, same run, without load: the same keyset chunks SELECTed in a loop (no watermarks, no
	// records, no Kafka).
	rawStart, rawRows, last := time.Now(), 0, -1<<31
	for {
		qctx, qcancel := context.WithTimeout(context.Background(), time.Minute)
		rs, err := server.DB().QueryContext(qctx, "SELECT id, v, note FROM d_inclong.items WHERE id > ? ORDER BY id LIMIT 1024", last)
		if err != nil {
			qcancel()
			t.Fatal(err)
		}
		n := 0
		for rs.Next() {
			var v int
			var note string
			if err := rs.Scan(&last, &v, &note); err != nil {
				t.Fatal(err)
			}
			n++
		}
		rs.Close()
		qcancel()
		if rawRows += n; n < 1024 {
			break
		}
	}
	raw := time.Since(rawStart)
	t.Logf("baseline: %d rows by keyset SELECTs of 1024 in %v (%.0f rows/s); the incremental snapshot ran at %.2f of it",
		rawRows, raw.Round(time.Millisecond), float64(rawRows)/raw.Seconds(), (float64(reads)/took.Seconds())/(float64(rawRows)/raw.Seconds()))

	// Baseline, same run, without load: the initial snapshot of the same table through the same kind of
	// pipeline (chunks of 1024, json codec, embedded broker), timed from its first record to its last.
	initial, err := New(Config{DSN: server.DSN(""), Tables: []string{"d_inclong.items"}, SnapshotMode: SnapshotInitialOnly,
		TopicPrefix: "initial", ChunkSize: DefaultIncrementalChunkSize, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer initial.Close()
	tp2 := topology.New("d-inclong-initial")
	items2 := tp2.Topic(initial.Topic("d_inclong.items"), topology.KeyCodec("json"), topology.ValueCodec("json"), topology.Partitions(1))
	tp2.Source("snap", initial).To(items2)
	timing := &firstLastSink{}
	tp2.Flow("items").From(items2).To(timing)
	cfg2 := cfg
	cfg2.Brokers, cfg2.HTTPAddr = testkit.Brokers(t, 1), "off"
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- tp2.RunWith(ctx2, cfg2) }()
	defer func() { cancel2(); <-done2 }()
	for deadline := time.Now().Add(10 * time.Minute); timing.count() < rawRows; {
		if time.Now().After(deadline) {
			t.Fatalf("initial snapshot baseline: %d of %d rows in 10 minutes", timing.count(), rawRows)
		}
		select {
		case err := <-done2:
			done2 <- err
			if timing.count() < rawRows {
				t.Fatalf("initial snapshot pipeline ended with %d of %d rows: %v", timing.count(), rawRows, err)
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	n, span := timing.span()
	t.Logf("baseline: initial snapshot of the same table through a pipeline: %d rows in %v (%.0f rows/s); the incremental snapshot under load ran at %.2f of it",
		n, span.Round(time.Millisecond), float64(n)/span.Seconds(), (float64(reads)/took.Seconds())/(float64(n)/span.Seconds()))
}

// firstLastSink counts records and the time from the first write to the last.
type firstLastSink struct {
	mu          sync.Mutex
	n           int
	first, last time.Time
}

func (s *firstLastSink) Open(context.Context) error { return nil }
func (s *firstLastSink) Close() error               { return nil }
func (s *firstLastSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		s.first = time.Now()
	}
	s.n += len(batch)
	s.last = time.Now()
	return nil
}

func (s *firstLastSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *firstLastSink) span() (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.last.Sub(s.first)
}
