package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// TestKeylessTableEveryType: a table without primary key, with every supported column type (the every-type
// table of types_test.go without its PRIMARY KEY, UUID, INET and spatial columns included), is captured in
// the snapshot and in the binlog: null key, no key schema, snapshot and binlog images of the same values
// equal field by field (Go type included), an update is "u", a delete is "d" with no tombstone. A table
// without primary key but with a UNIQUE index of NOT NULL columns is keyed by that index, in the snapshot
// and in the binlog alike (Debezium's rule). The JSON of each new type is Debezium's.
func TestKeylessTableEveryType(t *testing.T) {
	server.CreateDatabase(t, "b_keyless")
	ddl := strings.Replace(strings.Replace(allTypesDDL, "types.all_types", "b_keyless.nokey", 1), "id INT PRIMARY KEY", "id INT", 1)
	server.Exec(t, ddl, "SET STATEMENT sql_mode='' FOR INSERT INTO b_keyless.nokey VALUES "+strings.Join(allTypesRows, ", "),
		// ua has a nullable column: not a key; ub (b, c) is the first UNIQUE index of NOT NULL columns.
		"CREATE TABLE b_keyless.uniq (a INT, b UUID NOT NULL, c INT NOT NULL, v VARCHAR(10), pt POINT NOT NULL, UNIQUE KEY ua (a), UNIQUE KEY ub (b, c))",
		"INSERT INTO b_keyless.uniq VALUES (1, '11111111-2222-3333-4444-555555555555', 1, 'x', POINT(1, 2)), (NULL, '11111111-2222-3333-4444-555555555555', 2, 'y', POINT(3, 4))")
	src := newStreamSource(t, SnapshotInitial, 3, "b_keyless.nokey", "b_keyless.uniq")
	r := openTask(t, src, nil)
	defer r.Close()
	snap := readUntil(t, r, func(rec stream.Record) bool {
		var p Position
		json.Unmarshal(rec.Position, &p)
		return p.Done
	})
	var nokey, uniq []stream.Record
	for _, rec := range snap {
		switch rec.Topic {
		case "sluice.b_keyless.nokey":
			nokey = append(nokey, rec)
		case "sluice.b_keyless.uniq":
			uniq = append(uniq, rec)
		}
	}
	if len(nokey) != len(allTypesRows) || len(uniq) != 2 {
		t.Fatalf("snapshot: %d keyless and %d unique-keyed records, want %d and 2", len(nokey), len(uniq), len(allTypesRows))
	}
	for i, rec := range nokey {
		if rec.Key != nil || rec.KeySchema != nil {
			t.Errorf("keyless snapshot record %d: key %v (schema %v), want null", i, rec.Key, rec.KeySchema)
		}
		var p Position
		if err := json.Unmarshal(rec.Position, &p); err != nil {
			t.Fatal(err)
		}
		if p.LastPK != nil || p.Rows != int64(i+1) || p.TableDone != (i == len(nokey)-1) {
			t.Errorf("keyless snapshot record %d: position %s, want rows %d, no last_pk, table_done only on the last", i, rec.Position, i+1)
		}
	}
	for _, rec := range uniq {
		if rec.KeySchema == nil || rec.KeySchema.Name != "sluice.b_keyless.uniq.Key" || len(rec.KeySchema.Fields) != 2 ||
			rec.KeySchema.Fields[0].Name != "b" || rec.KeySchema.Fields[1].Name != "c" {
			t.Fatalf("unique-keyed snapshot record: key schema %v, want sluice.b_keyless.uniq.Key {b, c}", rec.KeySchema)
		}
	}
	if k := keyOf(t, uniq[1]); k != "11111111-2222-3333-4444-555555555555+2" {
		t.Errorf("unique-keyed snapshot key %q", k)
	}

	// The same values inserted while streaming, then an update, a delete, and changes of the keyed table.
	var streamed []string
	for i, row := range allTypesRows {
		streamed = append(streamed, strings.Replace(row, fmt.Sprintf("(%d,", i+1), fmt.Sprintf("(%d,", i+101), 1))
	}
	server.Exec(t, "SET STATEMENT sql_mode='' FOR INSERT INTO b_keyless.nokey VALUES "+strings.Join(streamed, ", "),
		"UPDATE b_keyless.nokey SET vc = 'updated' WHERE id = 101",
		"DELETE FROM b_keyless.nokey WHERE id = 102",
		"UPDATE b_keyless.uniq SET v = 'z' WHERE c = 1",
		"DELETE FROM b_keyless.uniq WHERE c = 2")
	live := readUntil(t, r, func(rec stream.Record) bool { return rec.Topic == "sluice.b_keyless.uniq" && rec.Tombstone() })
	var ops []string
	for _, rec := range live {
		op := rec.Operation.String()
		if rec.Tombstone() {
			op = "tomb"
		}
		key := "null"
		if rec.Key != nil {
			key = keyOf(t, rec)
		}
		ops = append(ops, strings.TrimPrefix(rec.Topic, "sluice.b_keyless.")+"/"+key+"/"+op)
	}
	want := []string{"nokey/null/c", "nokey/null/c", "nokey/null/c", "nokey/null/c", "nokey/null/u", "nokey/null/d",
		"uniq/11111111-2222-3333-4444-555555555555+1/u", "uniq/11111111-2222-3333-4444-555555555555+2/d",
		"uniq/11111111-2222-3333-4444-555555555555+2/tomb"}
	if !slices.Equal(ops, want) {
		t.Fatalf("streamed records\n%v\nwant\n%v", ops, want)
	}
	for _, rec := range live[:6] {
		if rec.Key != nil || rec.KeySchema != nil {
			t.Errorf("keyless streamed %v record: key %v (schema %v), want null", rec.Operation, rec.Key, rec.KeySchema)
		}
	}
	tbl, err := loadTable(t.Context(), server.DB(), tableName{"b_keyless", "nokey"}, "sluice")
	if err != nil {
		t.Fatal(err)
	}
	if !tbl.keyless() {
		t.Fatalf("b_keyless.nokey has key columns %v", tbl.pk)
	}
	for i := range nokey {
		a, b := after(t, nokey[i]), after(t, live[i])
		for c := range tbl.columns {
			ct := &tbl.columns[c]
			if ct.Name == "id" {
				continue
			}
			va, vb := a.Get(ct.Name), b.Get(ct.Name)
			if ca, cb := canonical(t, ct, va), canonical(t, ct, vb); ca != cb || fmt.Sprintf("%T", va) != fmt.Sprintf("%T", vb) {
				t.Errorf("row %d column %s (%s): snapshot %q (%T), binlog %q (%T)", i+1, ct.Name, ct.ColumnType, ca, va, cb, vb)
			}
		}
	}
	// The update's before image is the inserted row; the delete's before image is the row deleted.
	upd := live[4].Value.(*stream.Struct)
	before, _ := upd.GetStruct("before")
	if v, _ := before.GetString("vc"); v != "😀 emoji ünïcödé 𝄞" {
		t.Errorf("update before.vc = %q", v)
	}
	if v, _ := after(t, live[4]).GetString("vc"); v != "updated" {
		t.Errorf("update after.vc = %q", v)
	}
	del := live[5].Value.(*stream.Struct)
	if b, _ := del.GetStruct("before"); b == nil || b.Get("id") != int32(102) || del.Get("after") != nil {
		t.Errorf("delete: before %v after %v", b, del.Get("after"))
	}

	// Debezium's JSON for each new type (json codec), snapshot and binlog alike; a null key encodes to null.
	codec, err := stream.LookupCodec("json")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []stream.Record{nokey[0], live[0]} {
		key, err := codec.Encode(rec.KeySchema, rec.Key)
		if err != nil || key != nil {
			t.Errorf("null key encodes to %q, %v; want no bytes (a Kafka null)", key, err)
		}
		row := after(t, rec)
		js, err := codec.Encode(row.Schema(), row)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`"u":"aabbccdd-eeff-1122-8344-556677889900"`,
			`"i4":"10.1.2.3"`,
			`"i6":"2001:db8::ff00:42:8329"`,
			`"g":{"wkb":"AQMAAAABAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADwPwAAAAAAAAAAAAAAAAAA8D8AAAAAAADwPwAAAAAAAAAAAAAAAAAAAAA=","srid":4326}`,
			`"pt":{"x":1.5,"y":-2.25,"wkb":"AQEAAAAAAAAAAAD4PwAAAAAAAALA","srid":null}`,
			`"ls":{"wkb":"AQIAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8AAAAAAAAAQAAAAAAAAAAA","srid":null}`,
		} {
			if !strings.Contains(string(js), want) {
				t.Errorf("%s record's JSON lacks %s:\n%s", rec.Operation, want, js)
			}
		}
	}
	row2 := after(t, nokey[1])
	for name, want := range map[string]string{"u": "00000000-0000-0000-0000-000000000000", "i4": "0.0.0.0", "i6": "::"} {
		if v, _ := row2.GetString(name); v != want {
			t.Errorf("row 2 %s = %q, want %q", name, v, want)
		}
	}
	if v, _ := after(t, nokey[3]).GetString("i6"); v != "::ffff:1.2.3.4" {
		t.Errorf("IPv4-mapped INET6 = %q", v)
	}
	// The schemas, as json-schema writes them: Debezium's names, versions and docs.
	jsc, err := stream.LookupCodec("json-schema")
	if err != nil {
		t.Fatal(err)
	}
	js, err := jsc.Encode(nokey[0].ValueSchema, nokey[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"type":"string","optional":true,"name":"io.debezium.data.Uuid","version":1,"field":"u"}`,
		`{"type":"string","optional":true,"field":"i4"}`,
		`{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry","field":"g"}`,
		`{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)","field":"pt"}`,
	} {
		if !strings.Contains(string(js), want) {
			t.Errorf("json-schema envelope lacks %s", want)
		}
	}
	// A NOT NULL POINT is a required Point; a NOT NULL UUID a required Uuid string.
	ut, err := loadTable(t.Context(), server.DB(), tableName{"b_keyless", "uniq"}, "sluice")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b", "pt"} {
		if f, _ := ut.valueSchema.Field(name); f.Schema.Optional {
			t.Errorf("NOT NULL column %s has an optional schema", name)
		}
	}
}

// TestKeylessSnapshotRestartsTheTable: a keyless table is read from one cursor in chunks; reopened in the
// middle of it, the task copies it again from its first row (and says so); reopened after its last row
// (table_done), the task goes on with the next table.
func TestKeylessSnapshotRestartsTheTable(t *testing.T) {
	server.CreateDatabase(t, "b_kresume")
	var rows []string
	for i := 1; i <= 10; i++ {
		rows = append(rows, fmt.Sprintf("(%d, 'v%d')", i%3, i)) // duplicate rows are fine: no key
	}
	server.Exec(t, "CREATE TABLE b_kresume.a (n INT, v VARCHAR(10))", "INSERT INTO b_kresume.a VALUES "+strings.Join(rows, ", "),
		"CREATE TABLE b_kresume.b (id INT PRIMARY KEY)", "INSERT INTO b_kresume.b VALUES (1), (2), (3)")
	src := newSource(t, 3, "b_kresume.a", "b_kresume.b")
	first := readTask(t, src, nil, 2) // two chunks of a, then Close in the middle of its cursor
	if len(first) != 6 {
		t.Fatalf("two chunks: %d records", len(first))
	}
	var p Position
	if err := json.Unmarshal(first[5].Position, &p); err != nil {
		t.Fatal(err)
	}
	if p.Table != "b_kresume.a" || p.Rows != 6 || p.LastPK != nil || p.TableDone || p.Done {
		t.Fatalf("position after 6 rows of a keyless table: %s", first[5].Position)
	}
	again := readTask(t, src, first[5].Position, 0)
	var tables []string
	for _, rec := range again {
		tables = append(tables, strings.TrimPrefix(rec.Topic, "sluice.b_kresume."))
	}
	if want := "a a a a a a a a a a b b b"; strings.Join(tables, " ") != want {
		t.Fatalf("reopened mid-table: %v, want %s (the keyless table again from its first row)", tables, want)
	}
	seen := map[string]int{}
	for _, rec := range again[:10] {
		v, _ := after(t, rec).GetString("v")
		seen[v]++
	}
	if len(seen) != 10 {
		t.Errorf("keyless table copied again: %v, want v1..v10 once each", seen)
	}
	if err := json.Unmarshal(again[9].Position, &p); err != nil {
		t.Fatal(err)
	}
	if p.Rows != 10 || !p.TableDone {
		t.Fatalf("position of the keyless table's last row: %s", again[9].Position)
	}
	if s, _ := again[9].Value.(*stream.Struct).GetStruct("source"); s.Get("snapshot") != "last" {
		t.Errorf("source.snapshot of the keyless table's last row = %v", s.Get("snapshot"))
	}
	rest := readTask(t, src, again[9].Position, 0)
	if len(rest) != 3 || rest[0].Topic != "sluice.b_kresume.b" {
		t.Fatalf("reopened after the keyless table's last row: %d records, first on %s; want b's 3", len(rest), rest[0].Topic)
	}
}

// TestKeylessThroughTopology: a keyless table's records cross Kafka with a null key (json-schema codecs) on
// a topic of two partitions: the sink gets every record with a nil key and key schema, the null keys were
// spread over both partitions (the producer's partitioner picks one at random: the documented loss of
// order), and the streamed delete has no tombstone.
func TestKeylessThroughTopology(t *testing.T) {
	server.CreateDatabase(t, "b_ktopo")
	const rows = 200
	var values []string
	for i := 1; i <= rows; i++ {
		values = append(values, fmt.Sprintf("(%d, 'row %d')", i, i))
	}
	server.Exec(t, "CREATE TABLE b_ktopo.log (n INT, v VARCHAR(20))", "INSERT INTO b_ktopo.log VALUES "+strings.Join(values, ", "))
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"b_ktopo.log"}, SnapshotMode: SnapshotInitial,
		ChunkSize: 64, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tp := topology.New("mysql-keyless")
	topic := tp.Topic(src.Topic("b_ktopo.log"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"), topology.Partitions(2))
	tp.Source("cdc", src).To(topic)
	sink := &recordingSink{}
	tp.Flow("log").From(topic).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = testkit.Brokers(t, 1), testkit.FreeAddr(t), quiet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()
	waitFor := func(what string, n int) []stream.Record {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			if recs := sink.records(); len(recs) >= n {
				return recs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the sink got %d records after 60s, want %d", what, len(sink.records()), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("snapshot", rows)
	server.Exec(t, "UPDATE b_ktopo.log SET v = 'updated' WHERE n = 1", "DELETE FROM b_ktopo.log WHERE n = 2",
		"INSERT INTO b_ktopo.log VALUES (999, 'last')")
	recs := waitFor("stream", rows+3)
	partitions := map[int32]int{}
	ops := map[string]int{}
	for _, rec := range recs {
		if rec.Key != nil || rec.KeySchema != nil {
			t.Fatalf("record at %s/%d/%d: key %v (schema %v), want null", rec.Topic, rec.Partition, rec.Offset, rec.Key, rec.KeySchema)
		}
		if rec.Value == nil {
			t.Fatalf("record at %s/%d/%d is a tombstone: a keyless table's delete has none", rec.Topic, rec.Partition, rec.Offset)
		}
		partitions[rec.Partition]++
		op, _ := rec.Value.(*stream.Struct).GetString("op")
		ops[op]++
	}
	if len(partitions) != 2 {
		t.Errorf("null-key records on partitions %v, want both of the topic's 2 (random partitioner)", partitions)
	}
	if ops["r"] != rows || ops["u"] != 1 || ops["d"] != 1 || ops["c"] != 1 || len(recs) != rows+3 {
		t.Errorf("ops %v in %d records", ops, len(recs))
	}
	t.Logf("%d null-key records spread over partitions %v", len(recs), partitions)
}
