package mysql

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
)

// TestPurgedPosition is acceptance 5, on a server of its own (it purges binlogs): with the task stopped at a
// stream position, the binlogs holding it are purged. initial and never fail with ErrPositionPurged naming
// the missing position and the oldest one available; when_needed says in the log that it re-snapshots,
// does, streams from the new snapshot, and the records applied by key equal the table.
func TestPurgedPosition(t *testing.T) {
	srv := mariadbtest.Start(t)
	srv.CreateDatabase(t, "pg")
	srv.Exec(t, "CREATE TABLE pg.t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO pg.t VALUES (1, 'one'), (2, 'two'), (3, 'three')")
	logs := &testkit.LogBuffer{}
	source := func(mode SnapshotMode) *Source {
		src, err := New(Config{DSN: srv.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"pg.t"}, SnapshotMode: mode, ChunkSize: 2,
			Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	state := keyValues{}

	// First run: snapshot, one streamed change, stop.
	src := source(SnapshotWhenNeeded)
	r := openTask(t, src, nil)
	state.apply(t, readUntil(t, r, isRow("pg.t", "3")))
	srv.Exec(t, "INSERT INTO pg.t VALUES (4, 'four')")
	recs := readUntil(t, r, isRow("pg.t", "4"))
	state.apply(t, recs)
	stopped := recs[len(recs)-1].Position
	r.Close()
	var p Position
	if err := json.Unmarshal(stopped, &p); err != nil || p.Phase != PhaseStream {
		t.Fatalf("stopped at %s: %v", stopped, err)
	}

	// While stopped: changes, then the binlog holding the position is purged.
	srv.Exec(t, "UPDATE pg.t SET v = 'uno' WHERE id = 1", "INSERT INTO pg.t VALUES (5, 'five')",
		"FLUSH BINARY LOGS", "FLUSH BINARY LOGS", "INSERT INTO pg.t VALUES (6, 'six')", "FLUSH BINARY LOGS")
	now, err := currentBinlogPosition(t.Context(), srv.DB())
	if err != nil {
		t.Fatal(err)
	}
	srv.Exec(t, "PURGE BINARY LOGS TO '"+now.File+"'")
	// MariaDB keeps the files its crash recovery still needs: the oldest left may be before now.File.
	var oldest string
	if err := srv.DB().QueryRow("SHOW BINARY LOGS").Scan(&oldest, new(any)); err != nil {
		t.Fatal(err)
	}
	if oldest <= p.File {
		t.Fatalf("after PURGE BINARY LOGS TO %s the oldest binlog is %s, the position's is %s", now.File, oldest, p.File)
	}

	assertPurgedRefused(t, source, stopped, p, "oldest binlog file is "+oldest+" (gtid ")

	// when_needed: a new snapshot, then the stream from it.
	r = openTask(t, src, stopped)
	defer r.Close()
	state.apply(t, readUntil(t, r, func(rec stream.Record) bool {
		var p Position
		json.Unmarshal(rec.Position, &p)
		return p.Done
	}))
	srv.Exec(t, "UPDATE pg.t SET v = 'deux' WHERE id = 2", "INSERT INTO pg.t VALUES (7, 'seven')")
	state.apply(t, readUntil(t, r, isRow("pg.t", "7")))
	if !strings.Contains(logs.String(), "snapshot mode when_needed: the saved binlog position is no longer on the server") {
		t.Errorf("no log line says why the task re-snapshots; logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "Set SignalTable to re-snapshot only the tables that changed") {
		t.Errorf("no log line names SignalTable, the setting that re-snapshots only the tables that changed (retention_resnapshot.go); logs:\n%s", logs.String())
	}
	want := tableKeyValues(t, srv.DB(), "pg.t")
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Errorf("applied records %v, table %v", state, want)
	}
}
