package mysql

import (
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

// TestMySQL8Versions: against the MySQL 8 primary (Dolt, UUID GTID sets), every snapshot row and change
// record carries sluice.version; snapshot rows share their snapshot's, streamed records are above it and
// strictly increasing in binlog order (a multi-row transaction, a delete and its tombstone included), and
// the task reopened in the middle of the transaction reads the rest with the same versions.
func TestMySQL8Versions(t *testing.T) {
	srv := startMySQL8(t)
	srv.CreateDatabase(t, "f_m8")
	srv.Exec(t, "CREATE TABLE f_m8.t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO f_m8.t VALUES (1, 'one'), (2, 'two')")
	src := mysql8Source(t, srv, SnapshotInitial, 100, nil, "f_m8.t")
	r := openTask(t, src, nil)
	defer r.Close()
	snap := readUntil(t, r, isRow("f_m8.t", "2"))
	version := func(rec stream.Record) int64 {
		t.Helper()
		h, ok := rec.Header(VersionHeader)
		if !ok {
			t.Fatalf("%s has no %s header", describe(t, rec), VersionHeader)
		}
		v, err := strconv.ParseInt(string(h), 10, 64)
		if err != nil || v <= 0 {
			t.Fatalf("%s: %s=%q", describe(t, rec), VersionHeader, h)
		}
		return v
	}
	snapVersion := version(snap[0])
	for _, rec := range snap {
		if v := version(rec); v != snapVersion {
			t.Errorf("snapshot row %s: version %d, the first row's %d", describe(t, rec), v, snapVersion)
		}
	}

	srv.Exec(t, "INSERT INTO f_m8.t VALUES (3, 'three')", "UPDATE f_m8.t SET v = 'uno' WHERE id = 1",
		"UPDATE f_m8.t SET v = CONCAT(v, '!')", "DELETE FROM f_m8.t WHERE id = 2")
	recs := readUntil(t, r, func(rec stream.Record) bool { return rec.Tombstone() })
	prev := snapVersion
	versions := map[string]int64{}
	for _, rec := range recs {
		v := version(rec)
		if v <= prev {
			t.Errorf("%s: version %d not above the record before's %d", describe(t, rec), v, prev)
		}
		t.Logf("%s: version %d (source.gtid %v)", describe(t, rec), v, sourceBlockGTID(t, rec))
		versions[string(rec.Position)] = v
		prev = v
	}
	r.Close()

	// Reopened at each record of the three-row transaction (the third statement): the records after it come
	// with the versions they had.
	for i := 2; i < len(recs)-1; i++ {
		r := openTask(t, src, recs[i].Position)
		again := readUntil(t, r, func(rec stream.Record) bool { return rec.Tombstone() })
		r.Close()
		for j, rec := range again {
			if want := version(recs[i+1+j]); version(rec) != want {
				t.Errorf("reopened after record %d: %s has version %d, %d before", i, describe(t, rec), version(rec), want)
			}
		}
	}
}

func sourceBlockGTID(t *testing.T, rec stream.Record) any {
	t.Helper()
	if rec.Value == nil {
		return nil
	}
	return sourceBlock(t, rec).Get("gtid")
}
