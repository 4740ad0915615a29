package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// TestRetentionMargin: the guard's arithmetic, file by file.
func TestRetentionMargin(t *testing.T) {
	files := []string{"bin.000009", "bin.000010", "bin.000011"}
	for _, c := range []struct {
		file          string
		expire, age   float64
		margin        float64
		purged, risky bool
	}{
		{"bin.000008", 3600, 10, 0, true, false},            // older than the oldest kept: purged
		{"bin.000011", 3600, 10, math.Inf(1), false, false}, // being written: never purged by expiry
		{"bin.000009", 0, 10, math.Inf(1), false, true},     // expiry off
		{"bin.000009", 3600, 600, 3000, false, true},        // the oldest: the next purge removes it
		{"bin.000010", 3600, 4000, 0, false, false},         // overdue
		{"bin.000010", 3600, math.NaN(), math.NaN(), false, false},
	} {
		margin, purged, risky, _ := retentionMargin(c.file, files, c.expire, c.age)
		same := margin == c.margin || (math.IsNaN(margin) && math.IsNaN(c.margin))
		if !same || purged != c.purged || risky != c.risky {
			t.Errorf("retentionMargin(%s, expire %v, age %v) = %v, purged %v, at risk %v; want %v, %v, %v",
				c.file, c.expire, c.age, margin, purged, risky, c.margin, c.purged, c.risky)
		}
	}
	for _, c := range []struct {
		configured   time.Duration
		expire, want float64
	}{{0, 3600, 900}, {0, 2 * 86400, 3600}, {0, 0, 3600}, {2 * time.Hour, 3600, 7200}} {
		g := &retentionGuard{cfg: Config{RetentionWarnMargin: c.configured}}
		if got := g.warnMargin(c.expire); got != c.want {
			t.Errorf("warnMargin with RetentionWarnMargin %s and expiry %v s = %v s, want %v", c.configured, c.expire, got, c.want)
		}
	}
	if !binlogFileBefore("bin.000999", "bin.1000") || binlogFileBefore("bin.000010", "bin.000009") {
		t.Error("binlogFileBefore does not compare the numeric extensions")
	}
}

// TestRetentionGuardAndWhenNeeded is the acceptance 4, on a server of its own (it purges binlogs):
// two captured tables, a task that lags (its reader open and not read) while the server rotates its
// binlog: the guard's gauge falls below RetentionWarnMargin and it warns, naming the file; the task
// catches up (margin +Inf) but its saved position (Commit) is still in the old file: the guard warns
// about that one; the task stops;
// one table changes; the binlogs holding the position are purged; reopened with when_needed, the task
// streams from the server's current position and re-snapshots incrementally only the table that changed
// (the log says which and why), the other is not read again, and the records applied by key equal both
// tables.
func TestRetentionGuardAndWhenNeeded(t *testing.T) {
	srv := mariadbtest.Start(t)
	srv.CreateDatabase(t, "e_ret")
	srv.Exec(t,
		"CREATE TABLE e_ret.a (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE e_ret.b (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE e_ret.signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))",
		"INSERT INTO e_ret.a VALUES (1, 'a1'), (2, 'a2'), (3, 'a3')",
		"INSERT INTO e_ret.b VALUES (1, 'b1'), (2, 'b2')",
		"SET GLOBAL binlog_expire_logs_seconds = 3600")
	logs := &testkit.LogBuffer{}
	src, err := New(Config{DSN: srv.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"e_ret.a", "e_ret.b"},
		SnapshotMode: SnapshotWhenNeeded, SignalTable: "e_ret.signal", ChunkSize: 2, HeartbeatInterval: 200 * time.Millisecond,
		RetentionCheckInterval: 100 * time.Millisecond, RetentionWarnMargin: 2 * time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	state := map[string]string{} // "table/key" -> v
	var snapshotted []string     // tables of the op "r" records read after the purge
	apply := func(recs []stream.Record, afterPurge bool) {
		for _, rec := range recs {
			if !strings.HasPrefix(rec.Topic, "sluice.e_ret.") {
				continue
			}
			k := strings.TrimPrefix(rec.Topic, "sluice.e_ret.") + "/" + keyOf(t, rec)
			if rec.Tombstone() || rec.Operation == stream.OpDelete {
				delete(state, k)
				continue
			}
			if afterPurge && rec.Operation == stream.OpRead {
				snapshotted = append(snapshotted, k)
			}
			v, _ := after(t, rec).GetString("v")
			state[k] = v
		}
	}

	// First run: snapshot, b changes, two seconds later a changes; both streamed.
	reg := prometheus.NewRegistry()
	ctx := metrics.WithEnv(t.Context(), metrics.Env{Logger: quiet, Registerer: reg})
	r, err := src.Open(ctx, sources.Task{Key: src.TaskKey()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	apply(readUntil(t, r, func(rec stream.Record) bool {
		var p Position
		json.Unmarshal(rec.Position, &p)
		return p.Done
	}), false)
	srv.Exec(t, "UPDATE e_ret.b SET v = 'b2 streamed' WHERE id = 2")
	apply(readUntil(t, r, isRow("e_ret.b", "2")), false)
	// b's last change must be more than a second older than the position (binlog times and UPDATE_TIME
	// have one-second steps): wait until the server's clock is two seconds past it.
	for waited := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		var later bool
		if err := srv.DB().QueryRow("SELECT NOW() >= UPDATE_TIME + INTERVAL 2 SECOND FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'e_ret' AND TABLE_NAME = 'b'").Scan(&later); err != nil {
			t.Fatal(err)
		}
		if later {
			break
		}
		if time.Since(waited) > 10*time.Second {
			t.Fatal("e_ret.b's UPDATE_TIME is not two seconds in the past after 10 s")
		}
	}
	srv.Exec(t, "UPDATE e_ret.a SET v = 'a1 streamed' WHERE id = 1")
	recs := readUntil(t, r, isRow("e_ret.a", "1"))
	apply(recs, false)
	stopped := recs[len(recs)-1].Position
	var p Position
	if err := json.Unmarshal(stopped, &p); err != nil || p.Phase != PhaseStream || p.TS == 0 {
		t.Fatalf("stopped at %s (%v): want a stream position with its binlog time", stopped, err)
	}

	// The task lags (nothing reads it) while the server moves to new binlog files: the position's file is
	// no longer the one being written, and expires an hour after it was last written: less than the
	// two-hour RetentionWarnMargin.
	srv.Exec(t, "FLUSH BINARY LOGS", "INSERT INTO e_ret.signal VALUES ('noise', 'noise', NULL)", "FLUSH BINARY LOGS")
	gauge := func() (float64, bool) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == retentionMarginMetric {
				for _, m := range mf.GetMetric() {
					return m.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	awaitGuard := func(what string, want func(float64) bool, logged ...string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			v, ok := gauge()
			var warned []string
			if len(logged) > 0 {
				warned = logs.Lines(logged...)
			}
			if ok && want(v) && (len(logged) == 0 || len(warned) > 0) {
				if len(warned) > 0 {
					t.Logf("%s: gauge %s = %v s; %s", what, retentionMarginMetric, v, warned[len(warned)-1])
				} else {
					t.Logf("%s: gauge %s = %v s", what, retentionMarginMetric, v)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after 20 s the guard reports %v (registered %v) and warned %q; logs:\n%s", what, v, ok, warned, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	hourLeft := func(v float64) bool { return v > 3500 && v <= 3600 }
	awaitGuard("the task lags", hourLeft, "binlog retention: the binlog file holding the task's position is purged in about", "position=read", "binlog_file="+p.File)

	// The task catches up (a heartbeat in the newest file): the file it reads is never purged. But the
	// position last saved, which a restart resumes from, is still in the old file: once the engine
	// reports it (Commit), the guard watches that file.
	files, err := binlogFiles(t.Context(), srv.DB())
	if err != nil {
		t.Fatal(err)
	}
	newest := files[len(files)-1]
	readUntil(t, r, func(rec stream.Record) bool {
		var hp Position
		json.Unmarshal(rec.Position, &hp)
		return rec.Topic == src.HeartbeatTopic() && hp.File == newest
	})
	awaitGuard("caught up", func(v float64) bool { return math.IsInf(v, 1) })
	if err := r.(sources.Committer).Commit(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	awaitGuard("saved position behind", hourLeft, "binlog retention: the binlog file holding the task's position is purged in about", "position=saved", "binlog_file="+p.File)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := gauge(); ok {
		t.Error("the retention gauge is still registered after the reader closed")
	}

	// Stopped: a changes again (b does not), and the binlogs holding the position are purged.
	srv.Exec(t, "UPDATE e_ret.a SET v = 'a2 while stopped' WHERE id = 2", "INSERT INTO e_ret.a VALUES (4, 'a4 while stopped')",
		"FLUSH BINARY LOGS", "INSERT INTO e_ret.signal VALUES ('noise2', 'noise', NULL)", "FLUSH BINARY LOGS")
	now, err := currentBinlogPosition(t.Context(), srv.DB())
	if err != nil {
		t.Fatal(err)
	}
	srv.Exec(t, "PURGE BINARY LOGS TO '"+now.File+"'")
	files, err = binlogFiles(t.Context(), srv.DB())
	if err != nil || !binlogFileBefore(p.File, files[0]) {
		t.Fatalf("after PURGE BINARY LOGS TO %s the server has %v (%v); the position's file is %s", now.File, files, err, p.File)
	}

	// Reopened: only a is read again, incrementally, while the stream goes on.
	r, err = src.Open(ctx, sources.Task{Key: src.TaskKey()}, stopped)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows := func(table string) map[string]string {
		out := map[string]string{}
		q, err := srv.DB().Query("SELECT id, v FROM e_ret." + table)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		for q.Next() {
			var id int
			var v string
			if err := q.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%s/%d", table, id)] = v
		}
		return out
	}
	wantA := rows("a")
	done := func() bool {
		seen := map[string]bool{}
		for _, k := range snapshotted {
			seen[k] = true
		}
		for k := range wantA {
			if !seen[k] {
				return false
			}
		}
		_, b9 := state["b/9"]
		return b9
	}
	ctxRead, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last stream.Record
	for !done() {
		recs, err := r.Read(ctxRead)
		if err != nil {
			t.Fatalf("Read after the purge: %v (re-snapshotted so far: %v); logs:\n%s", err, snapshotted, logs.String())
		}
		apply(recs, true)
		if len(recs) > 0 && last.Position == nil {
			// Streaming from the current position goes on beside the snapshot (inserted only now: a
			// change before the first Read would make b a table that changed since the position).
			srv.Exec(t, "INSERT INTO e_ret.b VALUES (9, 'b9 after')")
		}
		if len(recs) > 0 {
			last = recs[len(recs)-1]
		}
	}
	for _, k := range snapshotted {
		if !strings.HasPrefix(k, "a/") {
			t.Errorf("row %s of the unchanged table b was snapshotted again", k)
		}
	}
	lines := logs.Lines("snapshot mode when_needed", "re-snapshotting incrementally only the captured tables that may have changed", "tables=e_ret.a")
	if len(lines) != 1 || strings.Contains(lines[0], "tables=e_ret.a,") || logs.Lines("taking a new snapshot of every captured table") != nil {
		t.Errorf("no log line says that only e_ret.a is re-snapshotted, or one says everything is; logs:\n%s", logs.String())
	} else {
		t.Log(lines[0])
	}
	var lp Position
	if err := json.Unmarshal(last.Position, &lp); err == nil && lp.Incremental != nil && len(lp.Incremental.Tables) > 0 {
		for _, tb := range lp.Incremental.Tables {
			if tb != "e_ret.a" {
				t.Errorf("the incremental snapshot under way names %s: %s", tb, last.Position)
			}
		}
	}
	want := rows("a")
	for k, v := range rows("b") {
		want[k] = v
	}
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Errorf("records applied by key: %v\ntables: %v", state, want)
	}
}
