package mysql

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/stream"
)

// rowImage renders a row image of a change event as "id=3 c0=c c1=30", fields in schema order ("nil" for
// no image).
func rowImage(t testing.TB, rec stream.Record, field string) string {
	t.Helper()
	env := rec.Value.(*stream.Struct)
	if err := env.Validate(); err != nil {
		t.Fatalf("%s: envelope does not validate: %v", describe(t, rec), err)
	}
	row, _ := env.GetStruct(field)
	if row == nil {
		return "nil"
	}
	var parts []string
	for _, f := range row.Schema().Fields {
		v := row.Get(f.Name)
		if d, ok := v.(stream.Decimal); ok {
			v = d.String()
		}
		parts = append(parts, fmt.Sprintf("%s=%v", f.Name, v))
	}
	return strings.Join(parts, " ")
}

// TestDDLWhileStopped is acceptance 4: rows written before and after ALTER TABLE ... ADD COLUMN ... AFTER and
// DROP COLUMN while the task is stopped each decode with their own schema after the restart (no shifted
// columns), updates of old rows included; each DDL is published once on the prefix topic, and reopening at
// a schema-change record's position resumes right after it.
func TestDDLWhileStopped(t *testing.T) {
	server.CreateDatabase(t, "ddl")
	server.CreateDatabase(t, "ddl_other")
	server.Exec(t, "CREATE TABLE ddl.t (id INT PRIMARY KEY, c0 VARCHAR(10), c1 INT)", "INSERT INTO ddl.t VALUES (1, 'a', 10)")
	src := newStreamSource(t, SnapshotInitial, 100, "ddl.t")
	r := openTask(t, src, nil)
	readUntil(t, r, isRow("ddl.t", "1"))
	server.Exec(t, "INSERT INTO ddl.t VALUES (2, 'b', 20)")
	recs := readUntil(t, r, isRow("ddl.t", "2"))
	stopped := recs[len(recs)-1].Position
	r.Close()

	addColumn := "ALTER TABLE ddl.t ADD COLUMN c2 DECIMAL(8,3) NOT NULL DEFAULT 1.5 AFTER c0"
	dropColumn := "ALTER TABLE `ddl`.`t` DROP COLUMN c0"
	server.Exec(t, "INSERT INTO ddl.t VALUES (3, 'c', 30)", "UPDATE ddl.t SET c1 = 11 WHERE id = 1",
		addColumn, "INSERT INTO ddl.t VALUES (4, 'd', 4.25, 40)", "UPDATE ddl.t SET c1 = 12 WHERE id = 1",
		"CREATE TABLE ddl_other.x (id INT PRIMARY KEY)", // not a captured database: no schema change
		dropColumn, "INSERT INTO ddl.t VALUES (5, 5.5, 50)", "UPDATE ddl.t SET c1 = 13 WHERE id = 2")

	end := func(rec stream.Record) bool { return isRow("ddl.t", "2")(rec) && rec.Operation == stream.OpUpdate }
	r = openTask(t, src, stopped)
	got := readUntil(t, r, end)
	r.Close()
	var lines []string
	var ddlRecs []stream.Record
	for _, rec := range got {
		if rec.Topic == "sluice" {
			ddlRecs = append(ddlRecs, rec)
			ddl, _ := rec.Value.(*stream.Struct).GetString("ddl")
			lines = append(lines, "DDL "+ddl)
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %s -> %s", describe(t, rec), rowImage(t, rec, "before"), rowImage(t, rec, "after")))
	}
	want := []string{
		"sluice.ddl.t/3/c nil -> id=3 c0=c c1=30",
		"sluice.ddl.t/1/u id=1 c0=a c1=10 -> id=1 c0=a c1=11",
		"DDL " + addColumn,
		"sluice.ddl.t/4/c nil -> id=4 c0=d c2=4.250 c1=40",
		"sluice.ddl.t/1/u id=1 c0=a c2=1.500 c1=11 -> id=1 c0=a c2=1.500 c1=12",
		"DDL " + dropColumn,
		"sluice.ddl.t/5/c nil -> id=5 c2=5.500 c1=50",
		"sluice.ddl.t/2/u id=2 c2=1.500 c1=20 -> id=2 c2=1.500 c1=13",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after the restart:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The last rows have exactly the schema the snapshot gives the table now.
	cur, err := loadTable(t.Context(), server.DB(), tableName{"ddl", "t"}, "sluice")
	if err != nil {
		t.Fatal(err)
	}
	if last := got[len(got)-1]; !last.ValueSchema.Equal(cur.envelopeSchema) || !last.KeySchema.Equal(cur.keySchema) {
		t.Errorf("schema of the last row differs from the current table's:\n %v\n %v", last.ValueSchema, cur.envelopeSchema)
	}
	if got[0].ValueSchema.Equal(got[3].ValueSchema) {
		t.Error("rows before and after ADD COLUMN have the same value schema")
	}

	// The schema-change records.
	for i, rec := range ddlRecs {
		if rec.Operation != stream.OpNone || rec.ValueSchema.Name != "io.debezium.connector.mysql.SchemaChangeValue" {
			t.Errorf("schema change %d: op %v, schema %s", i, rec.Operation, rec.ValueSchema.Name)
		}
		if k, _ := rec.Key.(*stream.Struct).GetString("databaseName"); k != "ddl" {
			t.Errorf("schema change %d: key databaseName %q", i, k)
		}
		v := rec.Value.(*stream.Struct)
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
		if db, _ := v.GetString("databaseName"); db != "ddl" {
			t.Errorf("schema change %d: databaseName %q", i, db)
		}
		changes, _ := v.Get("tableChanges").([]any)
		if len(changes) != 1 {
			t.Fatalf("schema change %d: tableChanges %v", i, v.Get("tableChanges"))
		}
		ch := changes[0].(*stream.Struct)
		typ, _ := ch.GetString("type")
		id, _ := ch.GetString("id")
		if typ != "ALTER" || id != `"ddl"."t"` {
			t.Errorf("schema change %d: table change %s %s", i, typ, id)
		}
		source, _ := v.GetStruct("source")
		if g, _ := source.GetString("gtid"); g == "" {
			t.Errorf("schema change %d: no source.gtid", i)
		}
	}

	// SchemaChanges=false: the same rows, no schema-change record.
	off := false
	quietSrc, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"ddl.t"}, SchemaChanges: &off, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer quietSrc.Close()
	r = openTask(t, quietSrc, stopped)
	rows := readUntil(t, r, end)
	r.Close()
	if len(rows) != len(got)-len(ddlRecs) {
		t.Errorf("SchemaChanges=false: %d records, want the %d rows", len(rows), len(got)-len(ddlRecs))
	}
	for _, rec := range rows {
		if rec.Topic == "sluice" {
			t.Errorf("SchemaChanges=false published %v", rec.Value)
		}
	}

	// Reopened at the first schema change's position, the task resumes right after the DDL.
	r = openTask(t, src, ddlRecs[0].Position)
	rest := readUntil(t, r, end)
	r.Close()
	if len(rest) != 5 || describe(t, rest[0]) != "sluice.ddl.t/4/c" || rowImage(t, rest[0], "after") != "id=4 c0=d c2=4.250 c1=40" {
		var d []string
		for _, rec := range rest {
			d = append(d, describe(t, rec))
		}
		t.Errorf("reopened at %s: %v", ddlRecs[0].Position, d)
	}
}

// TestTableMapTypesMatchInformationSchema: the type mapping derived from a TableMap alone (no
// information_schema) is the snapshot's for every supported type; only MariaDB's JSON, which the binlog
// cannot tell from LONGTEXT, needs the current definition.
func TestTableMapTypesMatchInformationSchema(t *testing.T) {
	server.CreateDatabase(t, "tmtypes")
	from, err := currentBinlogPosition(t.Context(), server.DB())
	if err != nil {
		t.Fatal(err)
	}
	server.Exec(t, strings.Replace(allTypesDDL, "types.all_types", "tmtypes.all_types", 1), "INSERT INTO tmtypes.all_types (id) VALUES (1)")
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: serverIDs.Add(1), Flavor: gomysql.MariaDBFlavor,
		Host: "127.0.0.1", Port: uint16(server.Port), User: "root", Logger: quiet})
	defer syncer.Close()
	gset, _ := gomysql.ParseMariadbGTIDSet(from.GTID)
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var tm *replication.TableMapEvent
	for tm == nil {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := ev.Event.(*replication.TableMapEvent); ok && string(e.Table) == "all_types" && string(e.Schema) == "tmtypes" {
			tm = e
		}
	}
	cols, err := tableMapColumns(tm)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := loadTable(t.Context(), server.DB(), tableName{"tmtypes", "all_types"}, "sluice")
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != len(cur.columns) {
		t.Fatalf("%d TableMap columns, %d in information_schema", len(cols), len(cur.columns))
	}
	for i, c := range cols {
		fromTM, err := mapColumn(c)
		if err != nil {
			t.Fatal(err)
		}
		want := &cur.columns[i]
		if !sameMapping(want, &fromTM) {
			t.Errorf("column %s: TableMap gives %+v, information_schema %+v", c.Name, fromTM.Column, want.Column)
		}
		// JSON, UUID, INET4 and INET6 are what a TableMap cannot say: the current definition adds them.
		if (want.JSON || nativeByteLength(want.DataType) > 0) != !fromTM.schema.Equal(want.schema) {
			t.Errorf("column %s: schema from the TableMap %v, from information_schema %v", c.Name, fromTM.schema, want.schema)
		}
	}
}

func TestParseDDL(t *testing.T) {
	for _, c := range []struct {
		query, db string
		want      string // "database verb object changes", or "" for not DDL
	}{
		{"ALTER TABLE shop.t ADD COLUMN c INT AFTER b", "", "shop ALTER TABLE [ALTER shop.t]"},
		{"alter online table `sh``op`.`t 1` add x int", "", "sh`op ALTER TABLE [ALTER sh`op.t 1]"},
		{"/* c */ CREATE TABLE IF NOT EXISTS t (id INT)", "shop", "shop CREATE TABLE [CREATE shop.t]"},
		{"CREATE OR REPLACE TABLE a.t SELECT 1", "", "a CREATE TABLE [CREATE a.t]"},
		{"DROP TABLE IF EXISTS `a`.`t`, b /* generated by server */", "x", "a DROP TABLE [DROP a.t DROP x.b]"},
		{"RENAME TABLE a.t TO a.u, a.v TO a.w", "", "a RENAME TABLE [ALTER a.u ALTER a.w]"},
		{"TRUNCATE TABLE a.t", "", "a TRUNCATE TABLE []"},
		{"truncate t", "d", "d TRUNCATE TABLE []"},
		{"CREATE UNIQUE INDEX i ON a.t (c)", "", "a CREATE INDEX [ALTER a.t]"},
		{"DROP INDEX i ON t", "d", "d DROP INDEX [ALTER d.t]"},
		{"CREATE DATABASE IF NOT EXISTS shop", "", "shop CREATE DATABASE []"},
		{"DROP SCHEMA shop", "", "shop DROP SCHEMA []"},
		{"CREATE DEFINER=`root`@`localhost` VIEW v AS SELECT 1", "d", "d CREATE VIEW []"},
		{"BEGIN", "d", ""},
		{"COMMIT", "d", ""},
		{"INSERT INTO t VALUES (1)", "d", ""},
		{"CREATE USER 'x'@'%'", "d", ""},
		{"GRANT SELECT ON *.* TO x", "d", ""},
		{"ALTER TABLE t ADD c INT", "", ""}, // no database
	} {
		st, ok := parseDDL(c.query, c.db)
		got := ""
		if ok {
			var ch []string
			for _, x := range st.changes {
				ch = append(ch, x.typ+" "+x.table.String())
			}
			got = fmt.Sprintf("%s %s %s [%s]", st.database, st.verb, st.object, strings.Join(ch, " "))
		}
		if got != c.want {
			t.Errorf("parseDDL(%q, %q) = %q, want %q", c.query, c.db, got, c.want)
		}
	}
	if !reflect.DeepEqual(enumValues(valueListType("enum", []string{"a'b", `c\d`, ""})), []string{"a'b", `c\d`, ""}) {
		t.Error("valueListType does not round-trip through enumValues")
	}
}
