package mysql

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// A Rereader's records are the snapshot's records of the same rows (key, key schema, value schema, topic,
// row image), with op "r" and source.snapshot "incremental"; chunks walk a composite key in order; Read
// finds rows by key and leaves out the deleted ones; Deleted builds a delete event and its tombstone.
func TestRereaderMatchesSnapshot(t *testing.T) {
	server.Exec(t, "DROP DATABASE IF EXISTS reread", "CREATE DATABASE reread",
		`CREATE TABLE reread.t (region VARCHAR(8) NOT NULL, n INT NOT NULL, amount DECIMAL(12,2) NOT NULL, at DATETIME(6) NULL,
			seen TIMESTAMP(3) NULL, day DATE NULL, flag BIT(1) NOT NULL DEFAULT 0, note TEXT, PRIMARY KEY (region, n))`,
		`INSERT INTO reread.t VALUES ('eu', 1, 1.50, '2026-11-30 10:00:00.123456', '2026-11-30 10:00:00.5', '2026-11-30', 1, 'a'),
			('eu', 2, 2.00, NULL, NULL, NULL, 0, NULL), ('us', 1, 99999.99, '1999-01-01', '2000-01-01', '1000-01-01', 1, 'ü'),
			('us', 10, 0.01, '2026-01-01', NULL, NULL, 0, 'x'), ('us', 2, 3.00, NULL, NULL, NULL, 0, 'y')`)
	snap := readTask(t, newSource(t, 100, "reread.t"), nil, 0)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := NewRereader(ctx, Config{DSN: server.DSN(""), Logger: quiet}, "reread.t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.KeyColumns(); !slices.Equal(got, []string{"region", "n"}) {
		t.Errorf("KeyColumns = %v", got)
	}
	var again []stream.Record
	cur := RereadCursor{}
	chunks := 0
	for !cur.Done {
		var recs []stream.Record
		if recs, cur, err = r.Chunk(ctx, cur, 2); err != nil {
			t.Fatal(err)
		}
		again = append(again, recs...)
		chunks++
	}
	if chunks != 3 || len(again) != len(snap) {
		t.Fatalf("%d records in %d chunks, want %d in 3", len(again), chunks, len(snap))
	}
	for i := range snap {
		s, a := snap[i], again[i]
		if s.Topic != a.Topic || !s.KeySchema.Equal(a.KeySchema) || !s.ValueSchema.Equal(a.ValueSchema) ||
			!stream.EqualValues(s.Key, a.Key) || !after(t, s).Equal(after(t, a)) || a.Operation != stream.OpRead {
			t.Errorf("record %d: reread %v / %v, snapshot %v / %v", i, a.Key, after(t, a), s.Key, after(t, s))
		}
		src, _ := a.Value.(*stream.Struct).GetStruct("source")
		if snapshot, _ := src.GetString("snapshot"); snapshot != "incremental" {
			t.Errorf("record %d: source.snapshot %q, want incremental", i, snapshot)
		}
		if op, _ := a.Value.(*stream.Struct).GetString("op"); op != "r" {
			t.Errorf("record %d: op %q", i, op)
		}
	}
	key, err := r.KeyOf(again[2])
	if err != nil || key.String() != "us+1" {
		t.Errorf("KeyOf = %v, %v; want us+1", key, err)
	}
	if k, err := r.ParseKey("us+10"); err != nil || !slices.Equal(k, RowKey{"us", "10"}) {
		t.Errorf("ParseKey(us+10) = %v, %v", k, err)
	}
	if _, err := r.ParseKey("us"); err == nil {
		t.Error("ParseKey(us) of a two-column key: no error")
	}

	server.Exec(t, "DELETE FROM reread.t WHERE region = 'eu' AND n = 2", "UPDATE reread.t SET note = 'changed' WHERE region = 'us' AND n = 10")
	recs, err := r.Read(ctx, []RowKey{{"us", "10"}, {"eu", "2"}, {"eu", "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("Read of 3 keys, one deleted: %d records", len(recs))
	}
	if k, _ := r.KeyOf(recs[1]); k.String() != "us+10" {
		t.Errorf("second record's key %v, want us+10 (key order)", k)
	}
	if note, _ := after(t, recs[1]).GetString("note"); note != "changed" {
		t.Errorf("Read gives note %q, want the current 'changed'", note)
	}

	del, err := r.Deleted(ctx, RowKey{"eu", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 || del[0].Operation != stream.OpDelete || del[1].Value != nil || !stream.EqualValues(del[1].Key, snap[1].Key) {
		t.Fatalf("Deleted: %+v", del)
	}
	env := del[0].Value.(*stream.Struct)
	if err := env.Validate(); err != nil {
		t.Errorf("delete event does not validate: %v", err)
	}
	if op, _ := env.GetString("op"); op != "d" {
		t.Errorf("delete event op %q", op)
	}
	before, _ := env.GetStruct("before")
	if region, _ := before.GetString("region"); region != "eu" || before.Get("n") != int32(2) || env.Get("after") != nil {
		t.Errorf("delete event before %v after %v", before, env.Get("after"))
	}
	if !stream.EqualValues(del[0].Key, snap[1].Key) {
		t.Errorf("delete event key %v, want %v", del[0].Key, snap[1].Key)
	}
}
