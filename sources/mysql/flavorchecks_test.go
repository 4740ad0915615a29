package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// The checks that the MariaDB tests (on the shared or a private mariadbd) and the MySQL 8 tests (on Dolt,
// mysql8_test.go) both make: the same guarantee, proved against each flavour.

// describeAll is describe of each record.
func describeAll(t testing.TB, recs []stream.Record) []string {
	var out []string
	for _, rec := range recs {
		out = append(out, describe(t, rec))
	}
	return out
}

// keyValues is a table's column v by key string.
type keyValues map[string]string

// apply applies change records in order, as a sink keyed by the row's key would: a delete or a tombstone
// removes the key, any other record sets it to its after row's v.
func (m keyValues) apply(t testing.TB, recs []stream.Record) {
	t.Helper()
	for _, rec := range recs {
		k := keyOf(t, rec)
		if rec.Tombstone() || rec.Operation == stream.OpDelete {
			delete(m, k)
			continue
		}
		v, _ := after(t, rec).GetString("v")
		m[k] = v
	}
}

// tableKeyValues reads table (columns id and v) as keyValues.
func tableKeyValues(t testing.TB, db *sql.DB, table string) keyValues {
	t.Helper()
	want := keyValues{}
	rows, err := db.Query("SELECT id, v FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprint(id)] = v
	}
	rows.Close()
	return want
}

// assertNoRecordsBeforeWrites reads r for 300 ms, in which nothing may arrive: nothing written before Open
// is read. (On Dolt the wait also lets the server register the dump request before the writes that follow:
// it refuses one that arrives during a commit.)
func assertNoRecordsBeforeWrites(t testing.TB, r sources.Reader) {
	t.Helper()
	quiet, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	early, err := r.Read(quiet)
	cancel()
	if len(early) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("before any write after Open: %d records, %v", len(early), err)
	}
}

// assertResumesAfterEachCut reopens src's task at the position of record cut (1-based) of all, for each cut,
// reads until end, and fails unless that yields exactly the records after it: none lost, none repeated.
func assertResumesAfterEachCut(t testing.TB, src *Source, all []stream.Record, cuts []int, end func(stream.Record) bool) {
	t.Helper()
	for _, cut := range cuts {
		rr := openTask(t, src, all[cut-1].Position)
		rest := readUntil(t, rr, end)
		rr.Close()
		got, want := describeAll(t, rest), describeAll(t, all[cut:])
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("reopened after record %d (%s) at %s:\n got  %v\n want %v", cut, describe(t, all[cut-1]), all[cut-1].Position, got, want)
		} else {
			t.Logf("reopened after record %d at %s: %d records, exactly the missing ones", cut, all[cut-1].Position, len(rest))
		}
	}
}

// assertPurgedRefused opens a source of snapshot mode initial, then never, at stopped (p decoded), whose
// binlog is purged: each must fail with ErrPositionPurged naming the missing position and the oldest one
// available (oldest: the flavour's text of it, "oldest binlog file is <file> (gtid ...").
func assertPurgedRefused(t testing.TB, source func(SnapshotMode) *Source, stopped stream.Position, p Position, oldest string) {
	t.Helper()
	for _, mode := range []SnapshotMode{SnapshotInitial, SnapshotNever} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		r, err := source(mode).Open(ctx, sources.Task{Key: "mysql:sluice"}, stopped)
		if err == nil {
			_, err = r.Read(ctx)
			r.Close()
		}
		cancel()
		if !errors.Is(err, ErrPositionPurged) || !strings.Contains(err.Error(), fmt.Sprintf("gtid %q file %s pos %d", p.GTID, p.File, p.Pos)) ||
			!strings.Contains(err.Error(), oldest) {
			t.Errorf("%s: %v", mode, err)
		} else {
			t.Logf("%s: %v", mode, err)
		}
	}
}
