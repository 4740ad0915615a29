package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// serverIDs gives each streaming test a replica server_id of its own.
var serverIDs atomic.Uint32

func init() { serverIDs.Store(1000) }

// newStreamSource builds a source with a binlog mode on the shared server.
func newStreamSource(t testing.TB, mode SnapshotMode, chunk int, tables ...string) *Source {
	t.Helper()
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: tables, SnapshotMode: mode,
		ChunkSize: chunk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func openTask(t testing.TB, src *Source, pos stream.Position) sources.Reader {
	t.Helper()
	r, err := src.Open(t.Context(), sources.Task{Key: src.TaskKey()}, pos)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readUntil reads r until a record satisfies stop (included in the result) or 30 s pass; a failure lists
// the records read.
func readUntil(t testing.TB, r sources.Reader, stop func(stream.Record) bool) []stream.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []stream.Record
	for {
		recs, err := r.Read(ctx)
		if err != nil {
			var got []string
			for _, rec := range out {
				got = append(got, describe(t, rec)+" at "+string(rec.Position))
			}
			t.Fatalf("Read after %d records: %v; records:\n%s", len(out), err, strings.Join(got, "\n"))
		}
		for _, rec := range recs {
			out = append(out, rec)
			if stop(rec) {
				return out
			}
		}
	}
}

// keyOf returns the record's key as text.
func keyOf(t testing.TB, rec stream.Record) string {
	t.Helper()
	k, err := stream.KeyString(rec.Key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// describe is a record in one line: topic, key, op ("tomb" for a tombstone).
func describe(t testing.TB, rec stream.Record) string {
	op := rec.Operation.String()
	if rec.Tombstone() {
		op = "tomb"
	}
	return rec.Topic + "/" + keyOf(t, rec) + "/" + op
}

// isRow reports whether rec is the change event of table's row with key.
func isRow(table, key string) func(stream.Record) bool {
	return func(rec stream.Record) bool {
		k, _ := stream.KeyString(rec.Key)
		return rec.Topic == "sluice."+table && k == key && !rec.Tombstone()
	}
}

// TestStreamTypeFidelity: the every-type rows copied by the snapshot and the same values inserted while
// streaming give identical after values, field by field, Go type included.
func TestStreamTypeFidelity(t *testing.T) {
	server.CreateDatabase(t, "stypes")
	ddl := strings.Replace(allTypesDDL, "types.all_types", "stypes.all_types", 1)
	server.Exec(t, ddl, "SET STATEMENT sql_mode='' FOR INSERT INTO stypes.all_types VALUES "+strings.Join(allTypesRows, ", "))
	src := newStreamSource(t, SnapshotInitial, 3, "stypes.all_types")
	r := openTask(t, src, nil)
	defer r.Close()
	snap := readUntil(t, r, func(rec stream.Record) bool {
		var p Position
		json.Unmarshal(rec.Position, &p)
		return p.Done
	})
	var streamed []string
	for i, row := range allTypesRows {
		streamed = append(streamed, strings.Replace(row, fmt.Sprintf("(%d,", i+1), fmt.Sprintf("(%d,", i+101), 1))
	}
	server.Exec(t, "SET STATEMENT sql_mode='' FOR INSERT INTO stypes.all_types VALUES "+strings.Join(streamed, ", "))
	live := readUntil(t, r, isRow("stypes.all_types", "104"))
	if len(snap) != len(allTypesRows) || len(live) != len(allTypesRows) {
		t.Fatalf("%d snapshot and %d streamed records, want %d each", len(snap), len(live), len(allTypesRows))
	}
	tbl, err := loadTable(t.Context(), server.DB(), tableName{"stypes", "all_types"}, "sluice")
	if err != nil {
		t.Fatal(err)
	}
	for i := range snap {
		a, b := after(t, snap[i]), after(t, live[i])
		if live[i].Operation != stream.OpCreate {
			t.Errorf("streamed record %d: op %v", i, live[i].Operation)
		}
		for c := range tbl.columns {
			ct := &tbl.columns[c]
			if ct.Name == "id" {
				continue
			}
			va, vb := a.Get(ct.Name), b.Get(ct.Name)
			ca, cb := canonical(t, ct, va), canonical(t, ct, vb)
			if ca != cb || fmt.Sprintf("%T", va) != fmt.Sprintf("%T", vb) {
				t.Errorf("row %d column %s (%s): snapshot %q (%T), binlog %q (%T)", i+1, ct.Name, ct.ColumnType, ca, va, cb, vb)
			}
		}
	}
	env := live[0].Value.(*stream.Struct)
	source, _ := env.GetStruct("source")
	if s, _ := source.GetString("snapshot"); s != "false" {
		t.Errorf("source.snapshot %q", s)
	}
	if g, _ := source.GetString("gtid"); g == "" {
		t.Error("source.gtid empty")
	}
	if id, _ := source.GetInt64("server_id"); id != 1 {
		t.Errorf("source.server_id %d, want the server's 1", id)
	}
	if ts, _ := source.GetInt64("ts_ms"); ts <= 0 || ts%1000 != 0 || live[0].Timestamp.UnixMilli() != ts {
		t.Errorf("source.ts_ms %d, record timestamp %v", ts, live[0].Timestamp)
	}
	// Spot checks of the edge values on the binlog side.
	row1 := after(t, live[0])
	if biu, _ := row1.GetDecimal("biu"); biu.String() != "18446744073709551615" {
		t.Errorf("binlog BIGINT UNSIGNED max = %s", biu)
	}
	if d, _ := row1.GetDecimal("d"); d.String() != "99999999999999999999999999999999999.999999999999999999999999999999" {
		t.Errorf("binlog DECIMAL(65,30) = %s", d)
	}
	if v, _ := after(t, live[1]).GetInt64("tm"); v != -(838*3600+59*60+59)*1_000_000 {
		t.Errorf("binlog TIME -838:59:59 = %d µs", v)
	}
	if v, _ := row1.GetString("vc"); v != "😀 emoji ünïcödé 𝄞" {
		t.Errorf("binlog emoji = %q", v)
	}
}

// TestStreamUpdatesAndDeletes checks before/after images, tombstones after deletes, a primary-key change
// (delete, tombstone, create), and Tombstones=false.
func TestStreamUpdatesAndDeletes(t *testing.T) {
	server.CreateDatabase(t, "upd")
	server.Exec(t, "CREATE TABLE upd.t (id INT PRIMARY KEY, v VARCHAR(10), n BIGINT UNSIGNED)")
	src := newStreamSource(t, SnapshotNever, 100, "upd.t")
	r := openTask(t, src, nil)
	server.Exec(t, "INSERT INTO upd.t VALUES (1, 'a', 18446744073709551615)", "UPDATE upd.t SET v = 'b' WHERE id = 1",
		"UPDATE upd.t SET id = 2 WHERE id = 1", "DELETE FROM upd.t WHERE id = 2", "INSERT INTO upd.t VALUES (3, 'end', 0)")
	recs := readUntil(t, r, isRow("upd.t", "3"))
	r.Close()
	var got []string
	for _, rec := range recs {
		got = append(got, describe(t, rec))
	}
	want := []string{"sluice.upd.t/1/c", "sluice.upd.t/1/u", "sluice.upd.t/1/d", "sluice.upd.t/1/tomb", "sluice.upd.t/2/c",
		"sluice.upd.t/2/d", "sluice.upd.t/2/tomb", "sluice.upd.t/3/c"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("records\n %v\nwant\n %v", got, want)
	}
	image := func(rec stream.Record, field string) string {
		env := rec.Value.(*stream.Struct)
		if err := env.Validate(); err != nil {
			t.Fatal(err)
		}
		row, _ := env.GetStruct(field)
		if row == nil {
			return "nil"
		}
		v, _ := row.GetString("v")
		n, _ := row.GetDecimal("n")
		return fmt.Sprintf("%v:%s:%s", row.Get("id"), v, n)
	}
	for i, w := range [][2]string{{"nil", "1:a:18446744073709551615"}, {"1:a:18446744073709551615", "1:b:18446744073709551615"},
		{"1:b:18446744073709551615", "nil"}, {}, {"nil", "2:b:18446744073709551615"}, {"2:b:18446744073709551615", "nil"}} {
		if i == 3 {
			if recs[i].Value != nil || recs[i].ValueSchema != nil || recs[i].Operation != stream.OpDelete {
				t.Errorf("tombstone: %+v", recs[i])
			}
			continue
		}
		if b, a := image(recs[i], "before"), image(recs[i], "after"); b != w[0] || a != w[1] {
			t.Errorf("record %d (%s): before %s after %s, want %s %s", i, got[i], b, a, w[0], w[1])
		}
		op, _ := recs[i].Value.(*stream.Struct).GetString("op")
		if op != recs[i].Operation.String() {
			t.Errorf("record %d: envelope op %q, Operation %v", i, op, recs[i].Operation)
		}
	}

	off := false
	quietSrc, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"upd.t"}, SnapshotMode: SnapshotNever,
		Tombstones: &off, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer quietSrc.Close()
	r = openTask(t, quietSrc, nil)
	defer r.Close()
	server.Exec(t, "DELETE FROM upd.t WHERE id = 3", "INSERT INTO upd.t VALUES (4, 'end', 0)")
	recs = readUntil(t, r, isRow("upd.t", "4"))
	if len(recs) != 2 || describe(t, recs[0]) != "sluice.upd.t/3/d" {
		t.Errorf("Tombstones=false: %d records, first %s", len(recs), describe(t, recs[0]))
	}
}

// TestStreamResumeMidTransaction: 30 rows in each of two tables (one multi-row event, then 30 single-row
// events) and 5 deletes, all in one transaction. Reopening at the position of any record of it (the 1st,
// the 17th, ..., the transaction's last) yields exactly the records after it, none twice.
func TestStreamResumeMidTransaction(t *testing.T) {
	server.CreateDatabase(t, "res")
	server.Exec(t, "CREATE TABLE res.a (id INT PRIMARY KEY, v VARCHAR(20))", "CREATE TABLE res.b (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE res.other (id INT PRIMARY KEY)")
	src := newStreamSource(t, SnapshotNever, 8, "res.a", "res.b")
	r := openTask(t, src, nil)
	var values []string
	for i := 1; i <= 30; i++ {
		values = append(values, fmt.Sprintf("(%d, 'a%d')", i, i))
	}
	stmts := []string{"BEGIN", "INSERT INTO res.a VALUES " + strings.Join(values, ", "), "INSERT INTO res.other VALUES (1)"}
	for i := 1; i <= 30; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO res.b VALUES (%d, 'b%d')", i, i))
	}
	stmts = append(stmts, "DELETE FROM res.a WHERE id <= 5", "COMMIT", "INSERT INTO res.b VALUES (1000, 'end')")
	conn, err := server.DB().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	end := isRow("res.b", "1000")
	all := readUntil(t, r, end)
	r.Close()
	const inTrx = 30 + 30 + 5*2
	if len(all) != inTrx+1 {
		t.Fatalf("%d records, want %d", len(all), inTrx+1)
	}
	var first, last Position
	json.Unmarshal(all[0].Position, &first)
	json.Unmarshal(all[inTrx-1].Position, &last)
	if first.Phase != PhaseStream || first.GTID != last.GTID || first.Pos != last.Pos || last.EventsSkip != 32 {
		t.Errorf("positions of the transaction: first %s, last %s", all[0].Position, all[inTrx-1].Position)
	}
	assertResumesAfterEachCut(t, src, all, []int{1, 17, 29, 30, 31, 45, 60, 61, 62, 63, inTrx - 1, inTrx}, end)
}

// TestResumeMidSnapshotStreamsFromFirstStart: a snapshot stopped after its first chunk and reopened takes a
// new snapshot of the remaining rows but streams from the first snapshot's position, so a change made in
// between to a row copied before the stop is not lost.
func TestResumeMidSnapshotStreamsFromFirstStart(t *testing.T) {
	server.CreateDatabase(t, "midsnap")
	server.Exec(t, "CREATE TABLE midsnap.a (id INT PRIMARY KEY, v INT)", "CREATE TABLE midsnap.b (id INT PRIMARY KEY, v INT)",
		"INSERT INTO midsnap.a VALUES (1, 0), (2, 0), (3, 0), (4, 0), (5, 0)", "INSERT INTO midsnap.b VALUES (1, 0), (2, 0)")
	src := newStreamSource(t, SnapshotInitial, 2, "midsnap.*")
	r := openTask(t, src, nil)
	first, err := r.Read(t.Context())
	if err != nil || len(first) != 2 {
		t.Fatalf("first chunk: %d records, %v", len(first), err)
	}
	r.Close()
	server.Exec(t, "UPDATE midsnap.a SET v = 7 WHERE id = 1", "UPDATE midsnap.b SET v = 8 WHERE id = 2")
	r = openTask(t, src, first[1].Position)
	defer r.Close()
	recs := readUntil(t, r, func(rec stream.Record) bool {
		return rec.Operation == stream.OpUpdate && rec.Topic == "sluice.midsnap.b"
	})
	var got []string
	for _, rec := range recs {
		got = append(got, describe(t, rec))
	}
	want := "sluice.midsnap.a/3/r sluice.midsnap.a/4/r sluice.midsnap.a/5/r sluice.midsnap.b/1/r sluice.midsnap.b/2/r sluice.midsnap.a/1/u sluice.midsnap.b/2/u"
	if strings.Join(got, " ") != want {
		t.Errorf("after resume:\n got  %v\n want %s", got, want)
	}
	if v, _ := after(t, recs[4]).GetInt32("v"); v != 8 {
		t.Errorf("the new snapshot read b.2 with v=%d, want the updated 8", v)
	}
}

// TestStreamNeverStartsNow: never does not emit rows written before Open, and emits those written after.
func TestStreamNeverStartsNow(t *testing.T) {
	server.CreateDatabase(t, "nvr")
	server.Exec(t, "CREATE TABLE nvr.t (id INT PRIMARY KEY)", "INSERT INTO nvr.t VALUES (1), (2)")
	src := newStreamSource(t, SnapshotNever, 10, "nvr.t")
	r := openTask(t, src, nil)
	defer r.Close()
	server.Exec(t, "INSERT INTO nvr.t VALUES (3)", "UPDATE nvr.t SET id = 4 WHERE id = 1")
	recs := readUntil(t, r, isRow("nvr.t", "4"))
	var got []string
	for _, rec := range recs {
		got = append(got, describe(t, rec))
	}
	if strings.Join(got, " ") != "sluice.nvr.t/3/c sluice.nvr.t/1/d sluice.nvr.t/1/tomb sluice.nvr.t/4/c" {
		t.Errorf("never: %v", got)
	}
}

// TestSnapshotUnderConcurrentWrites: while the snapshot copies a table in small chunks, another connection
// inserts, updates and deletes; applying the snapshot and the stream in order gives exactly the table.
func TestSnapshotUnderConcurrentWrites(t *testing.T) {
	const rows = 3000
	server.CreateDatabase(t, "conc")
	server.Exec(t, "CREATE TABLE conc.t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(30))")
	var values []string
	for i := 1; i <= rows; i++ {
		values = append(values, fmt.Sprintf("(%d, 0, 'initial')", i))
	}
	server.Exec(t, "INSERT INTO conc.t VALUES "+strings.Join(values, ", "))
	src := newStreamSource(t, SnapshotInitial, 40, "conc.t")

	r := openTask(t, src, nil)
	defer r.Close()
	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		db := server.DB()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var q string
			switch i % 4 {
			case 0:
				q = fmt.Sprintf("INSERT INTO conc.t VALUES (%d, %d, 'new')", rows+1+i, i)
			case 1:
				q = fmt.Sprintf("UPDATE conc.t SET v = %d, note = 'upd' WHERE id = %d", i, (i*7919)%rows+1)
			case 2:
				q = fmt.Sprintf("DELETE FROM conc.t WHERE id = %d", (i*104729)%rows+1)
			case 3:
				q = fmt.Sprintf("UPDATE conc.t SET v = v + 1 WHERE id BETWEEN %d AND %d", (i*31)%rows, (i*31)%rows+5)
			}
			if _, err := db.Exec(q); err != nil {
				t.Error(err)
				return
			}
			writes.Add(1)
		}
	}()
	state := map[string]string{}
	duplicates, snapshotRows := 0, 0
	apply := func(rec stream.Record) {
		k := keyOf(t, rec)
		if rec.Tombstone() || rec.Operation == stream.OpDelete {
			delete(state, k)
			return
		}
		row := after(t, rec)
		v, _ := row.GetInt32("v")
		note, _ := row.GetString("note")
		val := fmt.Sprintf("%d/%s", v, note)
		if old, ok := state[k]; ok && old == val && (rec.Operation == stream.OpCreate || rec.Operation == stream.OpRead) {
			duplicates++
		}
		state[k] = val
	}
	snapDone := false
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for !snapDone {
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			apply(rec)
			var p Position
			json.Unmarshal(rec.Position, &p)
			if p.Phase == PhaseSnapshot {
				snapshotRows++
			}
			snapDone = snapDone || p.Done
		}
	}
	during := writes.Load()
	close(stop)
	wg.Wait()
	server.Exec(t, fmt.Sprintf("INSERT INTO conc.t VALUES (%d, -1, 'end')", 10*rows))
	for _, rec := range readUntil(t, r, isRow("conc.t", fmt.Sprint(10*rows))) {
		apply(rec)
	}

	want := map[string]string{}
	res, err := server.DB().Query("SELECT id, v, note FROM conc.t")
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var id, v int
		var note string
		if err := res.Scan(&id, &v, &note); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprint(id)] = fmt.Sprintf("%d/%s", v, note)
	}
	res.Close()
	missing, wrong := 0, 0
	for k, v := range want {
		if got, ok := state[k]; !ok {
			missing++
		} else if got != v {
			wrong++
		}
	}
	if missing > 0 || wrong > 0 || len(state) != len(want) {
		t.Errorf("applied records: %d rows, table %d rows; %d missing, %d with wrong values", len(state), len(want), missing, wrong)
	}
	if during == 0 {
		t.Error("no write happened during the snapshot: the test did not test concurrency")
	}
	t.Logf("snapshot of %d rows with %d writes during it (%d in all); final table %d rows equals the applied records; duplicates: %d",
		snapshotRows, during, writes.Load(), len(want), duplicates)
}

// TestStreamThroughput streams 20,000 inserted rows and compares with a decode-only BinlogSyncer loop over
// the same events, in the same run.
func TestStreamThroughput(t *testing.T) {
	const n = 20_000
	server.CreateDatabase(t, "sbench")
	server.Exec(t, `CREATE TABLE sbench.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2),
		status ENUM('new','paid','shipped'), note VARCHAR(100), created DATETIME(6))`)
	from, err := currentBinlogPosition(t.Context(), server.DB())
	if err != nil {
		t.Fatal(err)
	}
	for start := 0; start < n; start += 1000 {
		var values []string
		for i := start; i < start+1000; i++ {
			values = append(values, fmt.Sprintf("(%d, %d, %d.%02d, 'paid', 'order note number %d', '2024-01-02 03:04:05.%06d')", i, i%997, i, i%100, i, i))
		}
		server.Exec(t, "INSERT INTO sbench.orders VALUES "+strings.Join(values, ", "))
	}

	// Decode-only baseline: the same syncer configuration, counting rows.
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: serverIDs.Add(1), Flavor: gomysql.MariaDBFlavor,
		Host: "127.0.0.1", Port: uint16(server.Port), User: "root", TimestampStringLocation: time.UTC, Logger: quiet})
	gset, _ := gomysql.ParseMariadbGTIDSet(from.GTID)
	begin := time.Now()
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	raw := 0
	for raw < n {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if re, ok := ev.Event.(*replication.RowsEvent); ok && string(re.Table.Table) == "orders" && string(re.Table.Schema) == "sbench" {
			raw += len(re.Rows)
		}
	}
	rawTime := time.Since(begin)
	syncer.Close()

	src := newStreamSource(t, SnapshotNever, DefaultChunkSize, "sbench.orders")
	pos, _ := json.Marshal(streamStart(from))
	begin = time.Now()
	r := openTask(t, src, pos)
	got := 0
	for got < n {
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got += len(recs)
	}
	srcTime := time.Since(begin)
	r.Close()
	if got != n {
		t.Fatalf("source streamed %d records, want %d", got, n)
	}
	t.Logf("stream: %d rows in %v = %.0f rows/s; decode-only BinlogSyncer loop: %v = %.0f rows/s; ratio %.1fx",
		n, srcTime.Round(time.Millisecond), n/srcTime.Seconds(), rawTime.Round(time.Millisecond), n/rawTime.Seconds(),
		srcTime.Seconds()/rawTime.Seconds())
}

// TestStreamErrors: a purged or unknown position and a duplicate server_id fail with messages naming the fix.
func TestStreamErrors(t *testing.T) {
	server.CreateDatabase(t, "serr")
	server.Exec(t, "CREATE TABLE serr.t (id INT PRIMARY KEY)")
	src := newStreamSource(t, SnapshotNever, 10, "serr.t")
	pos := []byte(`{"phase":"stream","file":"bin.999999","pos":4}`)
	r, err := src.Open(t.Context(), sources.Task{Key: src.TaskKey()}, pos)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err = r.Read(ctx)
		cancel()
		r.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "no longer on the server") || !strings.Contains(err.Error(), "oldest binlog file is bin.") {
		t.Errorf("missing binlog file: %v", err)
	} else {
		t.Log(err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("the error came as a timeout")
	}
}
