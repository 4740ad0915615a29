package mysql

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
)

// summary is a record in one line: a row's describe (topic/key/op), or "ddl <statement's first three
// words>" for a schema-change record.
func summary(t testing.TB, rec stream.Record) string {
	t.Helper()
	if rec.ValueSchema == schemaChangeValueSchema {
		ddl, err := rec.Value.(*stream.Struct).GetString("ddl")
		if err != nil {
			t.Fatal(err)
		}
		words := strings.Fields(ddl)
		return "ddl " + strings.Join(words[:min(3, len(words))], " ")
	}
	return describe(t, rec)
}

func summaries(t testing.TB, recs []stream.Record) []string {
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = summary(t, rec)
	}
	return out
}

// TestNewTablesCapturedWhileStreaming: with Tables "c_db1.*" (Exclude "c_db1.skip_*"), tables created
// while the task streams are captured from their CREATE on, with inserts, updates and deletes, the rows
// of a CREATE TABLE ... SELECT included; a renamed table goes on under its new name; an excluded one is
// not captured; a dropped one is no longer captured; each capture is logged once.
func TestNewTablesCapturedWhileStreaming(t *testing.T) {
	server.CreateDatabase(t, "c_db1")
	server.Exec(t, "CREATE TABLE c_db1.seed (id INT PRIMARY KEY, note VARCHAR(20))", "INSERT INTO c_db1.seed VALUES (1, 'seed')")
	log := &testkit.LogBuffer{}
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"c_db1.*"},
		Exclude: []string{"c_db1.skip_*"}, TopicPrefix: "c1", Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := openTask(t, src, nil)
	defer r.Close()
	snap := readUntil(t, r, func(rec stream.Record) bool { return true })
	if got := summaries(t, snap); !slices.Equal(got, []string{"c1.c_db1.seed/1/r"}) {
		t.Fatalf("snapshot: %q", got)
	}

	server.Exec(t,
		"CREATE TABLE c_db1.fresh (id INT PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO c_db1.fresh VALUES (1, 'a'), (2, 'b')",
		"UPDATE c_db1.fresh SET note = 'c' WHERE id = 1",
		"DELETE FROM c_db1.fresh WHERE id = 2",
		"CREATE TABLE c_db1.skip_me (id INT PRIMARY KEY)",
		"INSERT INTO c_db1.skip_me VALUES (1)",
		"CREATE TABLE c_db1.made (PRIMARY KEY (id)) SELECT id, note FROM c_db1.fresh",
		"RENAME TABLE c_db1.made TO c_db1.renamed",
		"INSERT INTO c_db1.renamed VALUES (5, 'r')",
		"DROP TABLE c_db1.fresh",
		"CREATE TABLE c_db1.fresh (id INT PRIMARY KEY, other INT)", // again: captured again, its new schema
		"INSERT INTO c_db1.fresh VALUES (7, 70)",
		"INSERT INTO c_db1.seed VALUES (2, 'end')")
	got := summaries(t, readUntil(t, r, isRowOf("c1.c_db1.seed", "2")))
	want := []string{
		"ddl CREATE TABLE c_db1.fresh",
		"c1.c_db1.fresh/1/c", "c1.c_db1.fresh/2/c",
		"c1.c_db1.fresh/1/u",
		"c1.c_db1.fresh/2/d", "c1.c_db1.fresh/2/tomb",
		"ddl CREATE TABLE c_db1.skip_me",  // a DDL statement of a captured database is published
		"ddl CREATE TABLE `c_db1`.`made`", // MariaDB logs CREATE TABLE ... SELECT as a CREATE TABLE, in its transaction
		"c1.c_db1.made/1/c",
		"ddl RENAME TABLE c_db1.made",
		"c1.c_db1.renamed/5/c",
		"ddl DROP TABLE `c_db1`.`fresh`",
		"ddl CREATE TABLE c_db1.fresh",
		"c1.c_db1.fresh/7/c",
		"c1.c_db1.seed/2/c",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("streamed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for table, n := range map[string]int{"c_db1.fresh": 2, "c_db1.made": 1, "c_db1.renamed": 1, "c_db1.skip_me": 0, "c_db1.seed": 0} {
		if lines := log.Lines("captured new table", "table="+table+" "); len(lines) != n {
			t.Errorf("%s: %d \"captured new table\" lines, want %d:\n%s", table, len(lines), n, log)
		}
	}
	if lines := log.Lines("table no longer captured", "table=c_db1.fresh"); len(lines) != 1 {
		t.Errorf("%d \"table no longer captured\" lines for c_db1.fresh, want 1:\n%s", len(lines), log)
	}
}

// isRowOf reports whether rec is the change event of the row with key on topic.
func isRowOf(topic, key string) func(stream.Record) bool {
	return func(rec stream.Record) bool {
		k, _ := stream.KeyString(rec.Key)
		return rec.Topic == topic && k == key && !rec.Tombstone()
	}
}

// TestDDLInTransactionExactResume: CREATE TABLE ... SELECT is one transaction (GTID, the CREATE statement,
// the rows, XID): its schema-change record is published at its place, before its rows; reopened at the
// position of any record of that transaction (the DDL's included), the task emits exactly the records
// after it, no DDL and no row twice, none lost.
func TestDDLInTransactionExactResume(t *testing.T) {
	server.CreateDatabase(t, "c_db2")
	server.Exec(t, "CREATE TABLE c_db2.src (id INT PRIMARY KEY, v INT)", "INSERT INTO c_db2.src VALUES (1, 10), (2, 20), (3, 30)")
	src := newStreamSource(t, SnapshotNever, 2, "c_db2.*")
	r := openTask(t, src, nil)
	// Open (never) streams from the current position; the statements come after it.
	server.Exec(t,
		"CREATE TABLE c_db2.copy (PRIMARY KEY (id)) SELECT id, v FROM c_db2.src",
		"INSERT INTO c_db2.src VALUES (4, 40)")
	all := readUntil(t, r, isRow("c_db2.src", "4"))
	r.Close()
	want := []string{"ddl CREATE TABLE `c_db2`.`copy`", "sluice.c_db2.copy/1/c", "sluice.c_db2.copy/2/c",
		"sluice.c_db2.copy/3/c", "sluice.c_db2.src/4/c"}
	if got := summaries(t, all); !slices.Equal(got, want) {
		t.Fatalf("streamed %q, want %q", got, want)
	}
	var ddlPos Position
	if err := json.Unmarshal(all[0].Position, &ddlPos); err != nil {
		t.Fatal(err)
	}
	if ddlPos.EventsSkip != 1 || ddlPos.RowsSkip != 0 {
		t.Errorf("the DDL's position %s: want events_skip 1 (the statement, inside its transaction)", all[0].Position)
	}
	for i := 0; i < 4; i++ { // every record of the transaction
		r := openTask(t, src, all[i].Position)
		got := summaries(t, readUntil(t, r, isRow("c_db2.src", "4")))
		r.Close()
		if !slices.Equal(got, want[i+1:]) {
			t.Errorf("reopened at record %d (%s) position %s: got %q, want %q", i, want[i], all[i].Position, got, want[i+1:])
		}
	}
}
