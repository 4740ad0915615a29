package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// signalTableDDL is Debezium's signal table.
const signalTableDDL = "CREATE TABLE %s.debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))"

// incrementalFixture is a database with table items (id, v, note) of rows rows, a sentinel table and
// Debezium's signal table, and a source streaming it from the current position (SnapshotMode never: the
// rows already there reach the reader only through incremental snapshots).
type incrementalFixture struct {
	db   string
	src  *Source
	log  *testkit.LogBuffer
	rows int
}

func newIncrementalFixture(t testing.TB, db string, rows, chunk int) *incrementalFixture {
	t.Helper()
	server.CreateDatabase(t, db)
	server.Exec(t, "CREATE TABLE "+db+".items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40) NOT NULL)",
		"CREATE TABLE "+db+".sentinel (id INT PRIMARY KEY)", fmt.Sprintf(signalTableDDL, db))
	for start := 1; start <= rows; start += 5000 {
		var values []string
		for i := start; i < start+5000 && i <= rows; i++ {
			values = append(values, fmt.Sprintf("(%d, 0, 'initial')", i))
		}
		server.Exec(t, "INSERT INTO "+db+".items VALUES "+strings.Join(values, ", "))
	}
	log := &testkit.LogBuffer{}
	off := false
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{db + ".items", db + ".sentinel"},
		SnapshotMode: SnapshotNever, SchemaChanges: &off, SignalTable: db + ".debezium_signal", IncrementalChunkSize: chunk,
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return &incrementalFixture{db: db, src: src, log: log, rows: rows}
}

// tableState is a table's rows as "v/note" by key string.
type tableState map[string]string

// apply applies change events in order, last write wins, as a compacted topic or a sink keyed by the row's
// key would: a read, create or update sets the key's row, a delete or tombstone removes it.
func (m tableState) apply(t testing.TB, recs []stream.Record) {
	t.Helper()
	for _, rec := range recs {
		k, err := stream.KeyString(rec.Key)
		if err != nil {
			t.Fatalf("record without key: %v", err)
		}
		if rec.Value == nil || rec.Operation == stream.OpDelete {
			delete(m, k)
			continue
		}
		if env, ok := rec.Value.(map[string]any); ok { // read back through Kafka with the json codec
			row, _ := env["after"].(map[string]any)
			if row == nil {
				delete(m, k)
				continue
			}
			m[k] = fmt.Sprintf("%v/%v", row["v"], row["note"])
			continue
		}
		row := after(t, rec)
		m[k] = fmt.Sprintf("%v/%v", row.Get("v"), row.Get("note"))
	}
}

// items reads the table as a tableState.
func (f *incrementalFixture) items(t testing.TB, where string) tableState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := server.DB().QueryContext(ctx, "SELECT id, v, note FROM "+f.db+".items"+where)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := tableState{}
	for rows.Next() {
		var id, v int
		var note string
		if err := rows.Scan(&id, &v, &note); err != nil {
			t.Fatal(err)
		}
		m[strconv.Itoa(id)] = fmt.Sprintf("%d/%s", v, note)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// writer changes random rows of items (updates, deletes, re-inserts) until stop is called, pacing itself
// at about one statement per millisecond; changes is the number of statements that changed a row (each is one
// streamed change event).
type writer struct {
	changes atomic.Int64
	stop    func()
	wg      sync.WaitGroup
	err     error
}

func startWriter(t testing.TB, db string, maxID int) *writer {
	w := &writer{}
	ctx, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	w.stop = func() { stopped.Store(true); w.wg.Wait(); cancel() }
	t.Cleanup(w.stop)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for !stopped.Load() {
			id := 1 + rand.IntN(maxID)
			q, args := "UPDATE "+db+".items SET v = v + 1, note = 'updated' WHERE id = ?", []any{id}
			switch n := rand.IntN(10); {
			case n == 0:
				q = "DELETE FROM " + db + ".items WHERE id = ?"
			case n == 1:
				q = "INSERT INTO " + db + ".items VALUES (?, 1000, 'reinserted') ON DUPLICATE KEY UPDATE v = v + 1"
			}
			// Not cancelled by stop: a statement the server ran is always counted.
			qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := server.DB().ExecContext(qctx, q, args...)
			qcancel()
			if err != nil {
				w.err = err
				return
			}
			if n, _ := res.RowsAffected(); n > 0 {
				w.changes.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	return w
}

// incrementalRun reads a reader and tracks what an incremental snapshot did.
type incrementalRun struct {
	state            tableState
	reads, streamed  int
	lastPos          stream.Position
	started, done    bool
	sentinel         bool
	incrementalTable map[string]bool // keys emitted as incremental reads
	all              []stream.Record // every record read but the sentinel's, in order
	log              *testkit.LogBuffer
}

// read reads r until stop says so (checked after each Read), applying the records to run.state.
func (run *incrementalRun) read(t testing.TB, ctx context.Context, r sources.Reader, stop func() bool) {
	t.Helper()
	for !stop() {
		read, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("Read: %v (%d incremental reads, %d streamed)\n%s", err, run.reads, run.streamed, run.log)
		}
		run.add(t, read)
	}
}

// add accounts for records read, in order, and applies them to run.state.
func (run *incrementalRun) add(t testing.TB, read []stream.Record) {
	t.Helper()
	var recs []stream.Record
	for _, rec := range read {
		if strings.HasSuffix(rec.Topic, ".sentinel") {
			run.sentinel = true
			continue
		}
		recs = append(recs, rec)
		if rec.Operation == stream.OpRead {
			run.reads++
			k, _ := stream.KeyString(rec.Key)
			run.incrementalTable[k] = true
			src, _ := rec.Value.(*stream.Struct).GetStruct("source")
			if s := src.Get("snapshot"); s != "incremental" {
				t.Fatalf("incremental read has source.snapshot %v, want incremental", s)
			}
			if _, ok := rec.Header(VersionHeader); !ok {
				t.Fatalf("incremental read has no %s header", VersionHeader)
			}
		} else if rec.Value != nil {
			run.streamed++
		}
		pos, err := parsePosition(rec.Position)
		if err != nil {
			t.Fatalf("position %s: %v", rec.Position, err)
		}
		if pos.Incremental != nil {
			run.started = true
		} else if run.started {
			run.done = true
		}
		run.lastPos = rec.Position
	}
	run.all = append(run.all, recs...)
	run.state.apply(t, recs)
}

func openAt(t testing.TB, ctx context.Context, src *Source, pos stream.Position) sources.Reader {
	t.Helper()
	r, err := src.Open(ctx, sources.Task{Key: src.TaskKey()}, pos)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestIncrementalSnapshotSignalUnderLoad requests an incremental snapshot of a 10,000-row table through a
// signal row while another connection updates, deletes and re-inserts random rows of it: the change events
// applied in order (last write wins) equal the table at the end, so no snapshot row overwrote a newer
// streamed change, and every streamed change arrived.
func TestIncrementalSnapshotSignalUnderLoad(t *testing.T) {
	f := newIncrementalFixture(t, "d_inc1", 10000, 500)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := openAt(t, ctx, f.src, nil)
	defer r.Close()
	w := startWriter(t, f.db, f.rows+200)
	server.Exec(t, `INSERT INTO d_inc1.debezium_signal VALUES ('sig-1', 'execute-snapshot', '{"data-collections": ["d_inc1\\\\.it.*"], "type": "incremental"}')`)
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.read(t, ctx, r, func() bool { return run.done })
	w.stop()
	if w.err != nil {
		t.Fatal(w.err)
	}
	server.Exec(t, "INSERT INTO d_inc1.sentinel VALUES (1)")
	run.read(t, ctx, r, func() bool { return run.sentinel })

	want := f.items(t, "")
	assertSameState(t, run.state, want)
	if int64(run.streamed) != w.changes.Load() {
		t.Errorf("streamed %d change events, the writer made %d changes", run.streamed, w.changes.Load())
	}
	if run.reads < f.rows/2 {
		t.Errorf("only %d incremental reads for %d rows", run.reads, f.rows)
	}
	t.Logf("%d incremental reads, %d streamed changes during the snapshot", run.reads, run.streamed)
	for _, line := range []string{"incremental snapshot requested", "incremental snapshot of table started", "incremental snapshot of table done", "incremental snapshot done"} {
		if !strings.Contains(f.log.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, f.log)
		}
	}
}

// TestIncrementalSnapshotResumesWithCondition requests an incremental snapshot through Source.Snapshot
// with an additional condition, closes the reader in the middle of the snapshot, under load, and reopens it
// at the last record's position: the snapshot continues from its chunk (no row is read twice but those of
// the chunk under way), only rows matching the condition are read, and the rows it covers equal the table.
func TestIncrementalSnapshotResumesWithCondition(t *testing.T) {
	f := newIncrementalFixture(t, "d_inc2", 10000, 400)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := openAt(t, ctx, f.src, nil)
	w := startWriter(t, f.db, f.rows)
	if err := f.src.Snapshot(ctx, sources.SnapshotRequest{Tables: []string{"d_inc2.items"}, Conditions: map[string]string{"d_inc2.items": "id > 5000"}}); err != nil {
		t.Fatal(err)
	}
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.read(t, ctx, r, func() bool { return run.reads >= 1500 })
	if run.done {
		t.Fatal("the snapshot ended before the restart")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The task stops in the middle of the last chunk read (a crash after Kafka acknowledged part of a
	// batch): the next run starts from the position of a record 150 before that chunk's end, with what was
	// acknowledged up to it.
	cut := len(run.all) - 1
	for run.all[cut].Operation != stream.OpRead {
		cut--
	}
	cut -= 150
	acked := run.all[:cut+1]
	run = &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.add(t, acked)
	readsBefore := run.reads
	r = openAt(t, ctx, f.src, run.lastPos)
	defer r.Close()
	run.read(t, ctx, r, func() bool { return run.done })
	w.stop()
	if w.err != nil {
		t.Fatal(w.err)
	}
	server.Exec(t, "INSERT INTO d_inc2.sentinel VALUES (1)")
	run.read(t, ctx, r, func() bool { return run.sentinel })

	for k := range run.incrementalTable {
		if id, _ := strconv.Atoi(k); id <= 5000 {
			t.Fatalf("incremental read of %s, which the condition id > 5000 excludes", k)
		}
	}
	got := tableState{}
	for k, v := range run.state {
		if id, _ := strconv.Atoi(k); id > 5000 {
			got[k] = v
		}
	}
	assertSameState(t, got, f.items(t, " WHERE id > 5000"))
	// The snapshot resumed after the last key acknowledged: no key is read twice (chunks cover disjoint
	// key ranges), and the rows not read are those the writer changed inside a window or deleted.
	if run.reads != len(run.incrementalTable) || run.reads > 5000 || run.reads < 4500 {
		t.Errorf("%d incremental reads of %d keys (rows id > 5000: 5,000): the restart did not resume from its chunk", run.reads, len(run.incrementalTable))
	}
	t.Logf("%d incremental reads (%d before the restart), %d streamed changes", run.reads, readsBefore, run.streamed)
}

// TestIncrementalSnapshotRefusesKeylessTable: a signal naming a table without a primary key is refused
// with a log line naming the table, and nothing is read.
func TestIncrementalSnapshotRefusesKeylessTable(t *testing.T) {
	f := newIncrementalFixture(t, "d_inc3", 10, 100)
	server.Exec(t, "CREATE TABLE d_inc3.keyless (v INT)", "INSERT INTO d_inc3.keyless VALUES (1), (2)")
	// The source does not capture the keyless table: the signal's table is refused as not captured.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := openAt(t, ctx, f.src, nil)
	defer r.Close()
	server.Exec(t, `INSERT INTO d_inc3.debezium_signal VALUES ('sig-k', 'execute-snapshot', '{"data-collections": ["d_inc3.keyless"], "type": "incremental"}')`,
		`INSERT INTO d_inc3.debezium_signal VALUES ('sig-u', 'no-such-signal', '{}')`,
		"INSERT INTO d_inc3.sentinel VALUES (1)")
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.read(t, ctx, r, func() bool { return run.sentinel })
	if run.reads != 0 || run.started {
		t.Fatalf("%d incremental reads (started %v) for a refused table", run.reads, run.started)
	}
	logs := f.log.String()
	if !strings.Contains(logs, "d_inc3.keyless") {
		t.Errorf("no log line names the refused table:\n%s", logs)
	}
	if !strings.Contains(logs, "no-such-signal") {
		t.Errorf("the unknown signal was not logged:\n%s", logs)
	}
}

// TestIncrementalSnapshotKeylessCaptured: with the keyless table captured (with a null key), the request
// is refused by the task with a log line saying the table has no primary key.
func TestIncrementalSnapshotKeylessCaptured(t *testing.T) {
	server.CreateDatabase(t, "d_inc4")
	server.Exec(t, "CREATE TABLE d_inc4.keyless (v INT)", "CREATE TABLE d_inc4.sentinel (id INT PRIMARY KEY)", fmt.Sprintf(signalTableDDL, "d_inc4"))
	log := &testkit.LogBuffer{}
	off := false
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"d_inc4.keyless", "d_inc4.sentinel"},
		SnapshotMode: SnapshotNever, SchemaChanges: &off, SignalTable: "d_inc4.debezium_signal", Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := src.Open(ctx, sources.Task{Key: src.TaskKey()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := src.Snapshot(ctx, sources.SnapshotRequest{Tables: []string{"d_inc4.keyless"}}); err != nil {
		t.Fatal(err)
	}
	server.Exec(t, "INSERT INTO d_inc4.sentinel VALUES (1)")
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: log}
	run.read(t, ctx, r, func() bool { return run.sentinel })
	if run.reads != 0 || run.started {
		t.Fatalf("%d incremental reads for a keyless table", run.reads)
	}
	if !strings.Contains(log.String(), "no primary key") || !strings.Contains(log.String(), "d_inc4.keyless") {
		t.Errorf("no refusal naming the keyless table:\n%s", log)
	}
}

// TestSnapshotWithoutSignalTable: Source.Snapshot fails naming SignalTable when it is not set.
func TestSnapshotWithoutSignalTable(t *testing.T) {
	src := newSource(t, 10, "d_none.t")
	err := src.Snapshot(context.Background(), sources.SnapshotRequest{Tables: []string{"d_none.t"}})
	if !errors.Is(err, sources.ErrSnapshotUnsupported) || !strings.Contains(err.Error(), "SignalTable") {
		t.Fatalf("err = %v, want ErrSnapshotUnsupported naming SignalTable", err)
	}
}

func assertSameState(t testing.TB, got, want tableState) {
	t.Helper()
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, table has %q", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, not in the table", k, v))
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... %d more", len(diffs)-20))
		}
		t.Fatalf("change events applied in order differ from the table (%d rows):\n%s", len(want), strings.Join(diffs, "\n"))
	}
}

// TestIncrementalSnapshotWindowDropsChangedKeys changes two rows of every chunk after the chunk's SELECT
// and before its close watermark (one updated, one deleted): their stream events fall inside the window,
// so the chunk's older copies of those rows are dropped (exactly two per chunk), and the events applied
// in order equal the table. Emitting them instead would put the older copies after the newer changes.
func TestIncrementalSnapshotWindowDropsChangedKeys(t *testing.T) {
	const rows, chunk = 2000, 100
	f := newIncrementalFixture(t, "d_inc5", rows, chunk)
	hookErr := make(chan error, 1)
	testHookChunkSelected = func(table string, keys []string) {
		if table != "d_inc5.items" || len(keys) < 2 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, q := range []string{"UPDATE d_inc5.items SET v = v + 100, note = 'in window' WHERE id = " + keys[0],
			"DELETE FROM d_inc5.items WHERE id = " + keys[1]} {
			if _, err := server.DB().ExecContext(ctx, q); err != nil {
				select {
				case hookErr <- err:
				default:
				}
			}
		}
	}
	defer func() { testHookChunkSelected = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := openAt(t, ctx, f.src, nil)
	defer r.Close()
	if err := f.src.Snapshot(ctx, sources.SnapshotRequest{Tables: []string{"d_inc5.items"}}); err != nil {
		t.Fatal(err)
	}
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.read(t, ctx, r, func() bool { return run.done || len(run.incrementalTable) >= rows-2*rows/chunk })
	testHookChunkSelected = nil
	server.Exec(t, "INSERT INTO d_inc5.sentinel VALUES (1)")
	run.read(t, ctx, r, func() bool { return run.sentinel })
	select {
	case err := <-hookErr:
		t.Fatal(err)
	default:
	}
	if want := rows - 2*rows/chunk; run.reads != want {
		t.Errorf("%d incremental reads, want %d (two rows of each of %d chunks changed inside its window)", run.reads, want, rows/chunk)
	}
	if run.streamed != 2*rows/chunk {
		t.Errorf("%d streamed changes, want %d", run.streamed, 2*rows/chunk)
	}
	assertSameState(t, run.state, f.items(t, ""))
}

// TestIncrementalSnapshotStopPauseResume: signals in one rows event act in order: an execute-snapshot
// followed by stop-snapshot reads nothing; followed by pause-snapshot it waits (nothing read, the state
// carried in positions says paused) until resume-snapshot, and then copies the whole table.
func TestIncrementalSnapshotStopPauseResume(t *testing.T) {
	f := newIncrementalFixture(t, "d_inc7", 300, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := openAt(t, ctx, f.src, nil)
	defer r.Close()
	exec := `('%s', 'execute-snapshot', '{"data-collections": ["d_inc7.items"]}')`
	server.Exec(t, "INSERT INTO d_inc7.debezium_signal VALUES "+fmt.Sprintf(exec, "s1")+`, ('s2', 'stop-snapshot', '{"data-collections": ["d_inc7.items"], "type": "incremental"}')`,
		"INSERT INTO d_inc7.sentinel VALUES (1)")
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.read(t, ctx, r, func() bool { return run.sentinel })
	if run.reads != 0 || !strings.Contains(f.log.String(), "incremental snapshot stopped") {
		t.Fatalf("execute then stop: %d reads, log:\n%s", run.reads, f.log)
	}

	server.Exec(t, "INSERT INTO d_inc7.debezium_signal VALUES "+fmt.Sprintf(exec, "s3")+`, ('s4', 'pause-snapshot', '{}')`,
		"INSERT INTO d_inc7.sentinel VALUES (2)")
	run.sentinel = false
	run.read(t, ctx, r, func() bool { return run.sentinel })
	if run.reads != 0 {
		t.Fatalf("paused snapshot read %d rows", run.reads)
	}
	server.Exec(t, "INSERT INTO d_inc7.debezium_signal VALUES ('s5', 'resume-snapshot', '{}')")
	run.read(t, ctx, r, func() bool { return run.reads >= 300 })
	if run.reads != 300 || len(run.incrementalTable) != 300 {
		t.Fatalf("resumed snapshot: %d reads of %d keys, want 300", run.reads, len(run.incrementalTable))
	}
	for _, line := range []string{"incremental snapshot paused", "incremental snapshot resumed"} {
		if !strings.Contains(f.log.String(), line) {
			t.Errorf("log lacks %q", line)
		}
	}
}

// TestIncrementalSnapshotBadConditionAbandonsTable: a condition the server refuses abandons that table
// with a warning naming it and the condition; the stream goes on, and the next table of the request is
// copied.
func TestIncrementalSnapshotBadConditionAbandonsTable(t *testing.T) {
	f := newIncrementalFixture(t, "d_inc8", 50, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := openAt(t, ctx, f.src, nil)
	defer r.Close()
	if err := f.src.Snapshot(ctx, sources.SnapshotRequest{Tables: []string{"d_inc8.items", "d_inc8.sentinel"},
		Conditions: map[string]string{"d_inc8.items": "no_such_column > 1"}}); err != nil {
		t.Fatal(err)
	}
	server.Exec(t, "INSERT INTO d_inc8.sentinel VALUES (1)")
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.read(t, ctx, r, func() bool { return run.sentinel })
	run.read(t, ctx, r, func() bool { return strings.Contains(f.log.String(), "incremental snapshot done") })
	logs := f.log.String()
	if run.reads != 0 || !strings.Contains(logs, "table abandoned") || !strings.Contains(logs, "no_such_column") {
		t.Fatalf("%d reads; log:\n%s", run.reads, logs)
	}
}

// TestIncrementalSnapshotDDLRereadsChunk: an ALTER TABLE that adds a column while a chunk is between its
// watermarks makes the snapshot read the table's definition again and that chunk again: every row is read
// once, and the rows read after the statement carry the new column.
func TestIncrementalSnapshotDDLRereadsChunk(t *testing.T) {
	const rows, chunk = 1000, 100
	f := newIncrementalFixture(t, "d_inc9", rows, chunk)
	chunks := 0
	testHookChunkSelected = func(table string, keys []string) {
		if table != "d_inc9.items" {
			return
		}
		if chunks++; chunks == 3 {
			server.Exec(t, "ALTER TABLE d_inc9.items ADD COLUMN extra INT NOT NULL DEFAULT 7")
		}
	}
	defer func() { testHookChunkSelected = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := openAt(t, ctx, f.src, nil)
	defer r.Close()
	if err := f.src.Snapshot(ctx, sources.SnapshotRequest{Tables: []string{"d_inc9.items"}}); err != nil {
		t.Fatal(err)
	}
	run := &incrementalRun{state: tableState{}, incrementalTable: map[string]bool{}, log: f.log}
	run.read(t, ctx, r, func() bool { return run.done || run.reads >= rows })
	if run.reads != rows || len(run.incrementalTable) != rows {
		t.Fatalf("%d reads of %d keys, want %d once each", run.reads, len(run.incrementalTable), rows)
	}
	for _, rec := range run.all {
		if rec.Operation != stream.OpRead {
			continue
		}
		row := after(t, rec)
		id, _ := row.GetInt32("id")
		if extra := row.Get("extra"); id > 2*chunk && fmt.Sprint(extra) != "7" {
			t.Fatalf("row %d, read after the ALTER TABLE, has extra = %v, want 7", id, extra)
		}
	}
	if !strings.Contains(f.log.String(), "a DDL statement was read") {
		t.Errorf("no log line says the chunk is read again")
	}
}

// TestIncrementalConfigValidate: SignalTable must be "db.table" without globs, IncrementalChunkSize not
// negative (0: 1024); each error names its field.
func TestIncrementalConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		signal string
		chunk  int
		want   string
	}{
		{"signals", 0, "SignalTable"},
		{"shop.sig*", 0, "SignalTable"},
		{"shop.debezium_signal", -1, "IncrementalChunkSize"},
	} {
		cfg := Config{DSN: "root@tcp(127.0.0.1:3306)/", ServerID: 1, Tables: []string{"shop.orders"}, SignalTable: tc.signal, IncrementalChunkSize: tc.chunk}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SignalTable %q, IncrementalChunkSize %d: %v, want an error naming %s", tc.signal, tc.chunk, err, tc.want)
		}
	}
	cfg := Config{DSN: "root@tcp(127.0.0.1:3306)/", ServerID: 1, Tables: []string{"shop.orders"}, SignalTable: "shop.debezium_signal"}
	if err := cfg.Validate(); err != nil || cfg.IncrementalChunkSize != DefaultIncrementalChunkSize {
		t.Errorf("Validate: %v, IncrementalChunkSize %d, want nil and %d", err, cfg.IncrementalChunkSize, DefaultIncrementalChunkSize)
	}
}
