package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// snapshotSink keeps the ids of the incremental reads it receives (json codec: maps).
type snapshotSink struct {
	mu    sync.Mutex
	reads map[int]bool
}

func (s *snapshotSink) Open(context.Context) error { return nil }
func (s *snapshotSink) Close() error               { return nil }
func (s *snapshotSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range batch {
		if env, ok := rec.Value.(map[string]any); ok && env["op"] == "r" {
			after, _ := env["after"].(map[string]any)
			id, err := strconv.Atoi(fmt.Sprint(after["id"]))
			if err != nil {
				return fmt.Errorf("incremental read without an id: %v", env)
			}
			s.reads[id] = true
		}
	}
	return nil
}

func (s *snapshotSink) count() (n, minID int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	minID = -1
	for id := range s.reads {
		if minID < 0 || id < minID {
			minID = id
		}
	}
	return len(s.reads), minID
}

type noSnapshotSource struct{}

func (noSnapshotSource) Tasks(context.Context) ([]sources.Task, error) { return nil, nil }
func (noSnapshotSource) Open(context.Context, sources.Task, stream.Position) (sources.Reader, error) {
	return nil, errors.New("no tasks")
}

// `sluice snapshot NAME --source cdc --table db.table --where COND` against a running CDC pipeline (private
// MariaDB, embedded broker): the rows matching the condition arrive as incremental reads; a source that
// cannot take snapshots is refused with a message naming it.
func TestSnapshotCommand(t *testing.T) {
	db := mariadbtest.Start(t)
	db.CreateDatabase(t, "shop")
	db.Exec(t, "CREATE TABLE shop.items (id INT PRIMARY KEY, note VARCHAR(20))",
		"CREATE TABLE shop.debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))")
	var values []string
	for i := 1; i <= 100; i++ {
		values = append(values, fmt.Sprintf("(%d, 'row %d')", i, i))
	}
	db.Exec(t, "INSERT INTO shop.items VALUES "+strings.Join(values, ", "))
	srcLog := &testkit.LogBuffer{}
	src, err := mysql.New(mysql.Config{DSN: db.DSN(""), ServerID: 77, Tables: []string{"shop.items"}, SnapshotMode: mysql.SnapshotNever,
		SignalTable: "shop.debezium_signal", IncrementalChunkSize: 16, Logger: slog.New(slog.NewTextHandler(srcLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("snapcli")
	items := tp.Topic(src.Topic("shop.items"), topology.KeyCodec("json"), topology.ValueCodec("json"))
	tp.Source("cdc", src).To(items)
	tp.Source("idle", noSnapshotSource{}).To(tp.Topic("snapcli-idle", topology.ValueCodec("string")))
	sink := &snapshotSink{reads: map[int]bool{}}
	tp.Flow("items").From(items).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = testkit.Brokers(t, 1), testkit.FreeAddr(t), slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s; source log:\n%s", what, srcLog)
			}
			select {
			case err := <-done:
				done <- err
				t.Fatalf("pipeline stopped: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("the task's stream", func() bool { return strings.Contains(srcLog.String(), "binlog streaming started") })

	url := "http://" + cfg.HTTPAddr
	out, err := run(t, ctx, "snapshot", "snapcli", "--source", "cdc", "--table", "shop.items", "--where", "id > 60", "--url", url)
	if err != nil {
		t.Fatalf("sluice snapshot: %v\n%s", err, out)
	}
	if !strings.Contains(out, "snapshot requested") || !strings.Contains(out, "shop.items") {
		t.Errorf("sluice snapshot printed %q", out)
	}
	waitFor("40 incremental reads", func() bool { n, _ := sink.count(); return n >= 40 })
	if n, minID := sink.count(); n != 40 || minID != 61 {
		t.Errorf("%d incremental reads from id %v; want the 40 rows with id > 60", n, minID)
	}

	_, err = run(t, ctx, "snapshot", "snapcli", "--source", "idle", "--table", "x.y", "--url", url)
	if err == nil || !strings.Contains(err.Error(), "idle") || !strings.Contains(err.Error(), "409") && !strings.Contains(err.Error(), "cannot take snapshots") {
		t.Errorf("sluice snapshot of source idle: %v, want a refusal naming it", err)
	}
}
