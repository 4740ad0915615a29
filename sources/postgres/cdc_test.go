package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// newSource builds a source on database db of the shared server.
func newSource(t testing.TB, db, slot string, tables ...string) *Source {
	t.Helper()
	src, err := New(Config{DSN: server.DSN(db), Tables: tables, Slot: slot, Publication: slot + "_pub", ChunkSize: 100,
		StatusInterval: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func openTask(t testing.TB, src *Source, pos stream.Position) sources.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := src.Tasks(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := src.Open(ctx, sources.Task{Key: src.TaskKey()}, pos)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Acceptance 2: inserts, updates with REPLICA IDENTITY DEFAULT and FULL, a primary-key change, deletes and
// an unchanged TOASTed column, after a snapshot; every change arrives with Debezium's envelope.
func TestChanges(t *testing.T) {
	dsn := server.CreateDatabase(t, "changes")
	c := connect(t, dsn)
	execIn(t, c,
		"CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int, big text)",
		"CREATE TABLE fulls (id int PRIMARY KEY, name text, qty numeric(10,2), big text)",
		"ALTER TABLE fulls REPLICA IDENTITY FULL",
		"INSERT INTO items VALUES (1, 'one', 10, NULL)",
		"INSERT INTO fulls VALUES (1, 'uno', 1.50, NULL)")
	src := newSource(t, "changes", "changes_slot", "public.items", "public.fulls")
	r := openTask(t, src, nil)
	defer r.Close()

	snap := readN(t, r, 2)
	for _, rec := range snap {
		if rec.Operation != stream.OpRead {
			t.Errorf("snapshot record %v: operation %v, want read", rec.Key, rec.Operation)
		}
	}
	if got := snap[0].Topic + " " + image(t, snap[0], "after"); got != "sluice.public.fulls Struct{id=1,name=uno,qty=1.50}" {
		t.Errorf("first snapshot record (tables in name order): %s", got)
	}
	if got := snap[1].Topic + " " + image(t, snap[1], "after"); got != "sluice.public.items Struct{id=1,name=one,qty=10}" {
		t.Errorf("second snapshot record: %s", got)
	}

	big := "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 2000) i)"
	execIn(t, c,
		"INSERT INTO items VALUES (2, 'two', 20, "+big+")",
		"UPDATE items SET qty = 21 WHERE id = 2", // DEFAULT: no before-image; big unchanged (TOAST)
		"UPDATE items SET id = 3 WHERE id = 2",   // key change: delete + tombstone + create
		"DELETE FROM items WHERE id = 1",         // DEFAULT: before carries the key only
		"INSERT INTO fulls VALUES (2, 'dos', 2.25, "+big+")",
		"UPDATE fulls SET qty = 3 WHERE id = 2", // FULL: whole before-image
		"DELETE FROM fulls WHERE id = 1")        // FULL: whole before-image
	recs := readN(t, r, 11)
	type want struct {
		topic, op, before, after string
	}
	placeholder := UnavailableValue
	wants := []want{
		{"items", "c", "null", "Struct{id=2,name=two,qty=20,big=BIG}"},
		{"items", "u", "null", "Struct{id=2,name=two,qty=21,big=" + placeholder + "}"},
		{"items", "d", "Struct{id=2}", "null"},
		{"items", "tombstone", "", ""},
		{"items", "c", "null", "Struct{id=3,name=two,qty=21,big=" + placeholder + "}"},
		{"items", "d", "Struct{id=1}", "null"},
		{"items", "tombstone", "", ""},
		{"fulls", "c", "null", "Struct{id=2,name=dos,qty=2.25,big=BIG}"},
		{"fulls", "u", "Struct{id=2,name=dos,qty=2.25,big=BIG}", "Struct{id=2,name=dos,qty=3.00,big=BIG}"},
		{"fulls", "d", "Struct{id=1,name=uno,qty=1.50}", "null"},
		{"fulls", "tombstone", "", ""},
	}
	var bigValue string
	if err := c.QueryRow(context.Background(), big).Scan(&bigValue); err != nil {
		t.Fatal(err)
	}
	for i, w := range wants {
		rec := recs[i]
		if rec.Topic != "sluice.public."+w.topic {
			t.Errorf("record %d: topic %s, want %s", i, rec.Topic, w.topic)
		}
		if w.op == "tombstone" {
			if rec.Value != nil || rec.Operation != stream.OpDelete {
				t.Errorf("record %d: want a tombstone, got %v %v", i, rec.Operation, rec.Value)
			}
			continue
		}
		env := envelope(t, rec)
		op, _ := env.GetString("op")
		before := strings.ReplaceAll(image(t, rec, "before"), bigValue, "BIG")
		after := strings.ReplaceAll(image(t, rec, "after"), bigValue, "BIG")
		if op != w.op || before != w.before || after != w.after {
			t.Errorf("record %d: op %s before %s after %s\n want op %s before %s after %s", i, op, before, after, w.op, w.before, w.after)
		}
		srcBlock, _ := env.GetStruct("source")
		for _, f := range []string{"connector", "db", "schema", "table", "snapshot"} {
			if v, _ := srcBlock.GetString(f); v == "" {
				t.Errorf("record %d: source.%s is empty", i, f)
			}
		}
		if lsn, _ := srcBlock.GetInt64("lsn"); lsn == 0 {
			t.Errorf("record %d: source.lsn is 0", i)
		}
		if tx, _ := srcBlock.GetInt64("txId"); tx == 0 {
			t.Errorf("record %d: source.txId is 0", i)
		}
	}

	// Resume: reopening at any record's position yields exactly the records after it.
	r.Close()
	for _, cut := range []int{0, 1, 3, 6, 9} {
		r2 := openTask(t, newSource(t, "changes", "changes_slot", "public.items", "public.fulls"), recs[cut].Position)
		rest := readN(t, r2, len(recs)-cut-1)
		for i, rec := range rest {
			if string(rec.Position) != string(recs[cut+1+i].Position) {
				t.Errorf("resumed at %d: record %d has position %s, want %s", cut, i, rec.Position, recs[cut+1+i].Position)
			}
		}
		expectQuiet(t, r2)
		r2.Close()
	}
}

// A new relation message (ALTER TABLE) gives the records after it the new schema.
func TestDDL(t *testing.T) {
	dsn := server.CreateDatabase(t, "ddl")
	c := connect(t, dsn)
	execIn(t, c, "CREATE TABLE t (id int PRIMARY KEY, a text)")
	src := newSource(t, "ddl", "ddl_slot", "public.t")
	r := openTask(t, src, nil)
	defer r.Close()
	execIn(t, c, "INSERT INTO t VALUES (1, 'x')", "ALTER TABLE t ADD COLUMN b bigint", "INSERT INTO t VALUES (2, 'y', 7)")
	recs := readN(t, r, 2)
	if got := image(t, recs[0], "after"); got != "Struct{id=1,a=x}" {
		t.Errorf("before the ALTER: %s", got)
	}
	if got := image(t, recs[1], "after"); got != "Struct{id=2,a=y,b=7}" {
		t.Errorf("after the ALTER: %s", got)
	}
	if recs[0].ValueSchema.Equal(recs[1].ValueSchema) {
		t.Error("the ALTER TABLE did not change the schema")
	}
}

// The snapshot (SELECT) and the stream (pgoutput) decode every type to the same values.
func TestTypesSnapshotEqualsStream(t *testing.T) {
	dsn := server.CreateDatabase(t, "types")
	c := connect(t, dsn)
	cols := "b boolean, i2 smallint, i8 bigint, f4 real, f8 double precision, n numeric(12,3), nu numeric, " +
		"by bytea, d date, tm time(6), ts timestamp(6), tz timestamptz, ttz timetz, iv interval, j jsonb, u uuid, arr int[], tx text, vc varchar(10), ch char(3)"
	row := "true, -2, 9007199254740993, 1.25, 0.1, 123456789.125, 1e-40, '\\x00ff', '2024-02-29', '23:59:59.999999', " +
		"'2024-02-29 12:00:00.000001', '2024-02-29 12:00:00+02', '10:00:00+00', '1 year 2 mons 3 days 04:05:06.5', '{\"k\": [1, 2]}', " +
		"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2}', 'žluťoučký', 'abc', 'x'"
	execIn(t, c, "CREATE TABLE v (id int PRIMARY KEY, "+cols+")", "INSERT INTO v VALUES (1, "+row+")")
	src := newSource(t, "types", "types_slot", "public.v")
	r := openTask(t, src, nil)
	defer r.Close()
	snap := readN(t, r, 1)
	execIn(t, c, "INSERT INTO v VALUES (2, "+row+")")
	streamed := readN(t, r, 1)
	a, _ := envelope(t, snap[0]).GetStruct("after")
	b, _ := envelope(t, streamed[0]).GetStruct("after")
	want := "Struct{id=1,b=true,i2=-2,i8=9007199254740993,f4=1.25,f8=0.1,n=123456789.125,nu=0.0000000000000000000000000000000000000001," +
		"by=[0 255],d=2024-02-29 00:00:00 +0000 UTC,tm=86399999999,ts=1709208000000001,tz=2024-02-29T10:00:00Z,ttz=10:00:00Z," +
		"iv=P1Y2M3DT4H5M6.5S,j={\"k\": [1, 2]},u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,arr={1,2},tx=žluťoučký,vc=abc,ch=x  }"
	if got := a.String(); got != want {
		t.Errorf("snapshot row:\n got %s\nwant %s", got, want)
	}
	if got := strings.Replace(b.String(), "id=2", "id=1", 1); got != want {
		t.Errorf("streamed row:\n got %s\nwant %s", got, want)
	}
}
