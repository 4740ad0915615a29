package mysql

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

// TestMySQL8KeylessAndSpatial: on the MySQL 8 primary (Dolt, SLUICE_TEST_MYSQL8=1), a table without primary
// key with spatial columns is captured: null keys in the snapshot and the binlog, no tombstone after a
// delete, and the spatial values of a row inserted while streaming equal those the snapshot read of the
// same row (MySQL's stored SRID + WKB, as Debezium's Geometry and Point).
func TestMySQL8KeylessAndSpatial(t *testing.T) {
	srv := startMySQL8(t)
	srv.CreateDatabase(t, "b_m8")
	const values = `'one', ST_GeomFromText('POINT(1.5 -2.25)'), ST_GeomFromText('LINESTRING(0 0,1 1,2 0)', 4326), ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))')`
	srv.Exec(t, "CREATE TABLE b_m8.nokey (n INT, v VARCHAR(10), p POINT, g GEOMETRY, pg POLYGON)",
		"INSERT INTO b_m8.nokey VALUES (1, "+values+"), (2, 'two', NULL, NULL, NULL)")
	src := mysql8Source(t, srv, SnapshotInitial, 100, nil, "b_m8.nokey")
	r := openTask(t, src, nil)
	defer r.Close()
	snap := readUntil(t, r, func(rec stream.Record) bool { return positionOf(t, rec).Done })
	if len(snap) != 2 {
		t.Fatalf("snapshot: %d records", len(snap))
	}
	srv.Exec(t, "INSERT INTO b_m8.nokey VALUES (3, "+values+")")
	srv.Exec(t, "DELETE FROM b_m8.nokey WHERE n = 2")
	srv.Exec(t, "INSERT INTO b_m8.nokey VALUES (4, 'end', NULL, NULL, NULL)")
	live := readUntil(t, r, func(rec stream.Record) bool {
		n, _ := rowOf(rec).GetInt32("n")
		return n == 4
	})
	var ops []string
	for _, rec := range append(append([]stream.Record(nil), snap...), live...) {
		if rec.Key != nil || rec.KeySchema != nil {
			t.Errorf("record %s: key %v, want null", rec.Position, rec.Key)
		}
		n, _ := rowOf(rec).GetInt32("n")
		op := rec.Operation.String()
		if rec.Tombstone() {
			op = "tomb"
		}
		ops = append(ops, fmt.Sprintf("%d/%s", n, op))
	}
	if got, want := strings.Join(ops, " "), "1/r 2/r 3/c 2/d 4/c"; got != want {
		t.Fatalf("records %s, want %s", got, want)
	}
	a, b := after(t, snap[0]), after(t, live[0])
	for _, col := range []string{"p", "g", "pg"} {
		if !stream.EqualValues(a.Get(col), b.Get(col)) {
			t.Errorf("column %s: snapshot %v, binlog %v", col, a.Get(col), b.Get(col))
		}
	}
	p, _ := b.GetStruct("p")
	if x, _ := p.GetFloat64("x"); x != 1.5 {
		t.Errorf("point x = %v", x)
	}
	g, _ := b.GetStruct("g")
	if srid := g.Get("srid"); srid != int32(4326) {
		t.Errorf("LINESTRING srid = %v, want 4326", srid)
	}
	t.Logf("binlog point %v, geometry %v", p, g)
}

// rowOf is a change event's after image, or its before image for a delete.
func rowOf(rec stream.Record) *stream.Struct {
	env, _ := rec.Value.(*stream.Struct)
	if env == nil {
		return nil
	}
	if a, _ := env.GetStruct("after"); a != nil {
		return a
	}
	b, _ := env.GetStruct("before")
	return b
}
