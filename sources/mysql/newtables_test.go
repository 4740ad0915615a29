package mysql

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
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
		"ALTER TABLE c_db1.renamed RENAME TO c_db1.skip_renamed", // renamed out of the captured set
		"INSERT INTO c_db1.skip_renamed VALUES (6, 's')",
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
		"ddl ALTER TABLE c_db1.renamed",
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
	for _, table := range []string{"c_db1.fresh", "c_db1.made", "c_db1.renamed"} {
		if lines := log.Lines("table no longer captured", "table="+table+" "); len(lines) != 1 {
			t.Errorf("%d \"table no longer captured\" lines for %s, want 1:\n%s", len(lines), table, log)
		}
	}
}

func TestRenamesAndTransactionControl(t *testing.T) {
	for q, want := range map[string]string{
		"RENAME TABLE a TO b":                               "d.a>d.b",
		"rename table `x`.`a` to y.b, c TO `d e`":           "x.a>y.b d.c>d.d e",
		"ALTER TABLE a RENAME TO b":                         "d.a>d.b",
		"ALTER ONLINE TABLE x.a ADD c INT, RENAME AS x.b":   "x.a>x.b",
		"ALTER TABLE a RENAME COLUMN c TO e":                "",
		"ALTER TABLE a RENAME INDEX i TO j":                 "",
		"ALTER TABLE a ADD COLUMN `rename` INT":             "",
		"/* comment */ RENAME TABLE a TO b -- and a remark": "d.a>d.b",
	} {
		var got []string
		for _, rn := range renames(q, "d") {
			got = append(got, rn.from.String()+">"+rn.to.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("renames(%q) = %q, want %q", q, got, want)
		}
	}
	for q, want := range map[string]string{
		"BEGIN": "BEGIN", "START TRANSACTION": "BEGIN", "XA START 'x'": "BEGIN", "COMMIT": "COMMIT", "commit /* x */": "COMMIT",
		"XA COMMIT 'x'": "COMMIT", "ROLLBACK": "ROLLBACK", "XA ROLLBACK 'x'": "ROLLBACK", "ROLLBACK TO SAVEPOINT s": "OTHER",
		"SAVEPOINT s": "OTHER", "RELEASE SAVEPOINT s": "OTHER", "XA END 'x'": "OTHER", "CREATE TABLE t (id INT)": "",
		"`BEGIN`": "",
	} {
		if got := transactionControl(q); got != want {
			t.Errorf("transactionControl(%q) = %q, want %q", q, got, want)
		}
	}
	for q, want := range map[string]bool{"CREATE TEMPORARY TABLE t (id INT)": true, "DROP TEMPORARY TABLE IF EXISTS t": true,
		"CREATE OR REPLACE TEMPORARY TABLE t (id INT)": true, "CREATE TABLE temporary (id INT)": false,
		"CREATE TABLE `temporary` (id INT)": false, "CREATE TABLE t (id INT)": false, "": false} {
		if got := isTemporary(q); got != want {
			t.Errorf("isTemporary(%q) = %v, want %v", q, got, want)
		}
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

// TestNewTableThroughTopology: a pipeline on the embedded broker whose source sends each table's records to
// a topic it creates at run time (ToRecordTopics with NewTopics "c3.c_db3.", 2 partitions): a table created
// while it runs gets its topic, with its inserts, update, delete and tombstone, and the rows of a
// CREATE TABLE ... SELECT; after a restart on the same data directory the tables are streamed on from the
// saved position: no snapshot again, no record twice.
func TestNewTableThroughTopology(t *testing.T) {
	server.CreateDatabase(t, "c_db3")
	server.Exec(t, "CREATE TABLE c_db3.seed (id INT PRIMARY KEY, note VARCHAR(20))", "INSERT INTO c_db3.seed VALUES (1, 'seed')")
	log := &testkit.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	serverID := serverIDs.Add(1)
	dataDir, brokerAddr := filepath.Join(t.TempDir(), "data"), testkit.FreeAddr(t)
	brokers := []string{brokerAddr}
	start := func() (stop func()) {
		src, err := New(Config{DSN: server.DSN(""), ServerID: serverID, Tables: []string{"c_db3.*"}, TopicPrefix: "c3", Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		tp := topology.New("c3-newtables")
		tp.Topic(src.SchemaChangeTopic(), topology.KeyCodec("json"), topology.ValueCodec("json"))
		tp.Source("cdc", src).ToRecordTopics(topology.NewTopics("c3.c_db3.", topology.Partitions(2),
			topology.KeyCodec("json"), topology.ValueCodec("json")))
		cfg := topology.DefaultConfig()
		cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr, cfg.Logger = dataDir, brokerAddr, "off", logger // the embedded broker
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tp.RunWith(ctx, cfg) }()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("RunWith: %v", err)
				}
			})
		}
		t.Cleanup(stop) // also when the test fails before it stops the pipeline
		return stop
	}
	// ops lists the records of a topic as "key:op", sorted (two partitions: no order across keys).
	ops := func(msgs []testkit.Message) []string {
		var out []string
		for _, m := range msgs {
			op := "tomb"
			if len(m.Value) > 0 {
				var env struct{ Op string }
				if err := json.Unmarshal(m.Value, &env); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				op = env.Op
			}
			out = append(out, string(m.Key)+":"+op)
		}
		slices.Sort(out)
		return out
	}
	stop := start()
	testkit.WaitRecords(t, brokers, "c3.c_db3.seed", 1, 30*time.Second)
	server.Exec(t,
		"CREATE TABLE c_db3.late (id INT PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO c_db3.late VALUES (1, 'a'), (2, 'b')",
		"UPDATE c_db3.late SET note = 'c' WHERE id = 1",
		"DELETE FROM c_db3.late WHERE id = 2",
		"CREATE TABLE c_db3.copied (PRIMARY KEY (id)) SELECT id, note FROM c_db3.late")
	late := ops(testkit.WaitRecords(t, brokers, "c3.c_db3.late", 5, 30*time.Second))
	want := []string{`{"id":1}:c`, `{"id":1}:u`, `{"id":2}:c`, `{"id":2}:d`, `{"id":2}:tomb`}
	if !slices.Equal(late, want) {
		t.Errorf("topic c3.c_db3.late: %q, want %q", late, want)
	}
	copied := ops(testkit.WaitRecords(t, brokers, "c3.c_db3.copied", 1, 30*time.Second))
	if !slices.Equal(copied, []string{`{"id":1}:c`}) {
		t.Errorf("topic c3.c_db3.copied: %q", copied)
	}
	if n := len(testkit.HighWaterMarks(t, brokers, "c3.c_db3.late")); n != 2 {
		t.Errorf("topic c3.c_db3.late has %d partitions, want the 2 of NewTopics", n)
	}
	var ddl []string
	for _, m := range testkit.WaitRecords(t, brokers, "c3", 2, 30*time.Second) {
		var v struct{ DDL string }
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		ddl = append(ddl, strings.Join(strings.Fields(v.DDL)[:3], " "))
	}
	if want := []string{"CREATE TABLE c_db3.late", "CREATE TABLE `c_db3`.`copied`"}; !slices.Equal(ddl, want) {
		t.Errorf("schema changes: %q, want %q", ddl, want)
	}
	stop()

	stop = start()
	server.Exec(t, "INSERT INTO c_db3.late VALUES (3, 'after')", "INSERT INTO c_db3.seed VALUES (2, 'end')")
	testkit.WaitRecords(t, brokers, "c3.c_db3.late", 6, 30*time.Second)
	testkit.WaitRecords(t, brokers, "c3.c_db3.seed", 2, 30*time.Second)
	for topic, want := range map[string][]string{
		"c3.c_db3.seed":   {`{"id":1}:r`, `{"id":2}:c`},
		"c3.c_db3.late":   append(slices.Clone(want), `{"id":3}:c`),
		"c3.c_db3.copied": {`{"id":1}:c`},
	} {
		slices.Sort(want)
		if got := ops(testkit.ReadTopic(t, brokers, topic)); !slices.Equal(got, want) {
			t.Errorf("after the restart, topic %s: %q, want %q", topic, got, want)
		}
	}
	for _, table := range []string{"c_db3.late", "c_db3.copied"} {
		if n := len(log.Lines("captured new table", "table="+table+" ")); n != 1 {
			t.Errorf("%s: %d \"captured new table\" lines over both runs, want 1", table, n)
		}
	}
}

// TestTableCreatedWhileDown: a table created (and written) while the task was stopped is created after the
// task's saved position: reopened there, the task captures it from the binlog (its CREATE's record, then
// its rows), and takes no snapshot of it.
func TestTableCreatedWhileDown(t *testing.T) {
	server.CreateDatabase(t, "c_db4")
	server.Exec(t, "CREATE TABLE c_db4.seed (id INT PRIMARY KEY)", "INSERT INTO c_db4.seed VALUES (1)")
	src := newStreamSource(t, SnapshotInitial, 10, "c_db4.*")
	r := openTask(t, src, nil)
	server.Exec(t, "INSERT INTO c_db4.seed VALUES (2)")
	recs := readUntil(t, r, isRow("c_db4.seed", "2"))
	r.Close()
	saved := recs[len(recs)-1].Position

	server.Exec(t, "CREATE TABLE c_db4.down (id INT PRIMARY KEY, v INT)", "INSERT INTO c_db4.down VALUES (1, 10), (2, 20)",
		"UPDATE c_db4.down SET v = 11 WHERE id = 1", "INSERT INTO c_db4.seed VALUES (3)")
	r = openTask(t, src, saved)
	defer r.Close()
	got := summaries(t, readUntil(t, r, isRow("c_db4.seed", "3")))
	want := []string{"ddl CREATE TABLE c_db4.down", "sluice.c_db4.down/1/c", "sluice.c_db4.down/2/c", "sluice.c_db4.down/1/u", "sluice.c_db4.seed/3/c"}
	if !slices.Equal(got, want) {
		t.Fatalf("reopened at %s: %q, want %q", saved, got, want)
	}
}
