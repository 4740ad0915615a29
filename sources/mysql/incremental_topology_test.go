package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// idleSource has no tasks and takes no snapshots: the operator API refuses a snapshot of it.
type idleSource struct{}

func (idleSource) Tasks(context.Context) ([]sources.Task, error) { return nil, nil }
func (idleSource) Open(context.Context, sources.Task, stream.Position) (sources.Reader, error) {
	return nil, errors.New("no tasks")
}

// TestIncrementalSnapshotThroughOperatorAPI runs a streaming-only CDC pipeline on the embedded broker and
// asks its operator API for an incremental snapshot of a table, with a condition, as `sluice snapshot`
// does: the rows matching it arrive through Kafka as incremental reads, and the sink's last-write-wins view
// equals the table. A source that cannot take snapshots answers 409 naming it, an unknown one 404.
func TestIncrementalSnapshotThroughOperatorAPI(t *testing.T) {
	const rows = 1000
	f := newIncrementalFixture(t, "d_inc6", rows, 128)
	logs := &testkit.LogBuffer{}
	tp := topology.New("d-inc6")
	items := tp.Topic(f.src.Topic("d_inc6.items"), topology.KeyCodec("json"), topology.ValueCodec("json"), topology.Partitions(1))
	tp.Source("cdc", f.src).To(items)
	tp.Source("idle", idleSource{}).To(tp.Topic("d-inc6-idle", topology.ValueCodec("string")))
	itemsSink := &recordingSink{}
	tp.Flow("items").From(items).To(itemsSink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = testkit.Brokers(t, 1), testkit.FreeAddr(t), slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
		if t.Failed() {
			t.Logf("pipeline log:\n%s\nsource log:\n%s", logs, f.log)
		}
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s (sink has %d item records)", what, len(itemsSink.records()))
			}
			select {
			case err := <-done:
				done <- err
				t.Fatalf("pipeline stopped: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	api := &opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr}
	// SnapshotMode never streams from the position the server has when the task opens: change a row once
	// it does.
	waitFor("the task's stream", func() bool { return strings.Contains(f.log.String(), "binlog streaming started") })
	server.Exec(t, "UPDATE d_inc6.items SET v = 1 WHERE id = 1")
	waitFor("the first streamed change", func() bool { return len(itemsSink.records()) >= 1 })

	res, err := api.Snapshot(ctx, "d-inc6", "cdc", opsapi.SnapshotRequest{Tables: []string{"d_inc6.items"},
		Conditions: map[string]string{"d_inc6.items": "id <= 600"}})
	if err != nil {
		t.Fatalf("POST %s: %v", opsapi.SnapshotPath("d-inc6", "cdc"), err)
	}
	if res.Source != "cdc" || !strings.Contains(res.Message, "d_inc6.items") {
		t.Errorf("answer %+v", res)
	}
	server.Exec(t, "UPDATE d_inc6.items SET v = 2, note = 'during' WHERE id IN (5, 300, 599)", "DELETE FROM d_inc6.items WHERE id = 7")
	reads := func() int {
		n := 0
		for _, rec := range itemsSink.records() {
			if env, ok := rec.Value.(map[string]any); ok && env["op"] == "r" { // the json codec's view
				n++
			}
		}
		return n
	}
	waitFor("the incremental snapshot", func() bool { return strings.Contains(f.log.String(), "incremental snapshot done") })
	// The last change, on the topic's only partition: once the sink has it, it has everything before.
	server.Exec(t, "INSERT INTO d_inc6.items VALUES (-1, 0, 'sentinel')")
	waitFor("the sentinel", func() bool {
		recs := itemsSink.records()
		if len(recs) == 0 {
			return false
		}
		env, _ := recs[len(recs)-1].Value.(map[string]any)
		row, _ := env["after"].(map[string]any)
		return row["note"] == "sentinel"
	})
	if n := reads(); n < 595 || n > 600 {
		t.Errorf("%d incremental reads, want the rows id <= 600 less those changed during the snapshot", n)
	}

	got := tableState{}
	got.apply(t, itemsSink.records())
	for k := range got {
		var id int
		fmt.Sscan(k, &id)
		if id > 600 {
			t.Errorf("row %s, outside the condition id <= 600, arrived", k)
		}
	}
	assertSameState(t, got, f.items(t, " WHERE id <= 600"))

	// The rows emitted are counted in the pipeline's /metrics, by table; no table is left.
	res2, err := http.Get("http://" + cfg.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res2.Body)
	res2.Body.Close()
	rowsLine := regexp.MustCompile(`(?m)^sluice_mysql_incremental_snapshot_rows_total\{[^}]*table="d_inc6\.items"[^}]*\} (\d+)$`).FindSubmatch(body)
	if rowsLine == nil || string(rowsLine[1]) != strconv.Itoa(reads()) {
		t.Errorf("/metrics: rows counter %q, want %d reads", rowsLine, reads())
	}
	if !regexp.MustCompile(`(?m)^sluice_mysql_incremental_snapshot_tables_remaining\{[^}]*\} 0$`).Match(body) {
		t.Errorf("/metrics has no sluice_mysql_incremental_snapshot_tables_remaining 0")
	}

	var apiErr *opsapi.Error
	_, err = api.Snapshot(ctx, "d-inc6", "idle", opsapi.SnapshotRequest{Tables: []string{"x.y"}})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != http.StatusConflict || !strings.Contains(apiErr.Message, "idle") {
		t.Errorf("snapshot of source idle: %v, want 409 naming it", err)
	}
	_, err = api.Snapshot(ctx, "d-inc6", "nope", opsapi.SnapshotRequest{Tables: []string{"x.y"}})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != http.StatusNotFound || !strings.Contains(apiErr.Message, "nope") {
		t.Errorf("snapshot of source nope: %v, want 404 naming it", err)
	}
	_, err = api.Snapshot(ctx, "d-inc6", "cdc", opsapi.SnapshotRequest{})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != http.StatusBadRequest {
		t.Errorf("snapshot without tables: %v, want 400", err)
	}
	_, err = api.Snapshot(ctx, "d-inc6", "cdc", opsapi.SnapshotRequest{Tables: []string{"d_inc6.debezium_signal"}})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, "d_inc6.debezium_signal is not captured") {
		t.Errorf("snapshot of a table not captured: %v, want 400 naming it", err)
	}
}
