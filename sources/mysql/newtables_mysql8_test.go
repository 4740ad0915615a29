package mysql

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

// TestMySQL8NewTableAndDDL (MySQL flavour, Dolt; SLUICE_TEST_MYSQL8=1): on MySQL a DDL statement is a
// transaction of its own without MariaDB's standalone flag (a GTID event, then the statement, no BEGIN):
// its schema-change record is published, a table it creates that Tables matches is captured from then on
// with its rows, and a task reopened at the DDL record's position resumes after it, repeating nothing.
func TestMySQL8NewTableAndDDL(t *testing.T) {
	srv := startMySQL8(t)
	srv.CreateDatabase(t, "c_m8")
	srv.Exec(t, "CREATE TABLE c_m8.seed (id INT PRIMARY KEY, note VARCHAR(20))", "INSERT INTO c_m8.seed VALUES (1, 'seed')")
	src, err := New(Config{DSN: srv.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"c_m8.*"}, TopicPrefix: "c8", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := openTask(t, src, nil)
	snap := readUntil(t, r, func(stream.Record) bool { return true })
	if got := summaries(t, snap); !slices.Equal(got, []string{"c8.c_m8.seed/1/r"}) {
		t.Fatalf("snapshot: %q", got)
	}
	srv.Exec(t,
		"CREATE TABLE c_m8.fresh (id INT PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO c_m8.fresh VALUES (1, 'a'), (2, 'b')",
		"UPDATE c_m8.fresh SET note = 'c' WHERE id = 1",
		"INSERT INTO c_m8.seed VALUES (2, 'end')")
	recs := readUntil(t, r, isRowOf("c8.c_m8.seed", "2"))
	r.Close()
	got := summaries(t, recs)
	// Dolt regenerates the statement's text; the table is the same.
	if len(got) != 5 || !strings.HasPrefix(got[0], "ddl CREATE TABLE") || !strings.Contains(got[0], "fresh") {
		t.Fatalf("streamed %q: want the CREATE TABLE's record, then the new table's rows", got)
	}
	want := []string{"c8.c_m8.fresh/1/c", "c8.c_m8.fresh/2/c", "c8.c_m8.fresh/1/u", "c8.c_m8.seed/2/c"}
	if !slices.Equal(got[1:], want) {
		t.Fatalf("streamed %q, want the DDL's record then %q", got, want)
	}
	r = openTask(t, src, recs[0].Position)
	defer r.Close()
	if again := summaries(t, readUntil(t, r, isRowOf("c8.c_m8.seed", "2"))); !slices.Equal(again, want) {
		t.Errorf("reopened at the DDL's position %s: %q, want %q", recs[0].Position, again, want)
	}
}
