package mysql

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/stream"
)

// nativeValues are UUID, INET4 and INET6 values whose stored bytes end in zero bytes (which the binlog
// drops), whose text has every INET6 form (compressed runs, ties, IPv4-compatible, IPv4-mapped, hex tails)
// and extreme bytes.
var nativeValues = [][3]string{
	{"aabbccdd-eeff-1122-8344-556677889900", "10.0.0.0", "::ffff:1.2.3.4"},
	{"00000000-0000-0000-0000-000000000000", "0.0.0.0", "::"},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", "255.255.255.255", "::1.2.3.4"},
	{"01234567-89ab-7def-8123-456789abcdef", "1.0.0.0", "::1"},
	{"00000000-0000-0000-0000-000000000001", "0.0.0.1", "2001:db8:0:0:1:0:0:1"},
	{"10000000-0000-0000-0000-000000000000", "127.0.0.1", "2001:0:0:1:0:0:0:1"},
	{"123e4567-e89b-12d3-a456-426614174000", "192.168.255.0", "FE80::1"},
	{"123e4567-e89b-42d3-a456-426614174000", "8.8.8.8", "::ffff:0:1.2.3.4"},
	{"123e4567-e89b-52d3-c456-426614174000", "1.2.3.4", "1::"},
	{"123e4567-e89b-62d3-0456-426614174000", "1.2.3.4", "::2:3:4:5:6:7:8"},
	{"123e4567-e89b-02d3-f456-426614174000", "1.2.3.4", "64:ff9b::1.2.3.4"},
	{"123e4567-e89b-f2d3-a456-426614174000", "1.2.3.4", "::0.0.1.2"},
	{"123e4567-e89b-12d3-a456-426614174000", "1.2.3.4", "1:2:3:4:5:6:7:8"},
	{"123e4567-e89b-12d3-a456-426614174000", "1.2.3.4", "2001:db8::"},
	{"123e4567-e89b-12d3-a456-426614174001", "1.2.3.4", "1:0:2:3:4:5:6:7"},
	{"123e4567-e89b-12d3-a456-426614174002", "1.2.3.4", "1:2:3:4:5:6:7:0"},
	{"123e4567-e89b-12d3-a456-426614174003", "1.2.3.4", "1:0:0:2:0:0:3:4"},
	{"123e4567-e89b-12d3-a456-426614174004", "1.2.3.4", "::0.1.0.0"},
	{"123e4567-e89b-12d3-a456-426614174005", "1.2.3.4", "::ffff:0.0.0.0"},
}

// TestNativeTypesMatchServerText: UUID, INET4 and INET6 values read by the snapshot and streamed from the
// binlog are the text the server's own CAST(col AS CHAR) gives, for every value of nativeValues. The
// UUID column is the primary key, copied in chunks of 3 (keyset paging compares UUIDs as the server does).
func TestNativeTypesMatchServerText(t *testing.T) {
	server.CreateDatabase(t, "b_native")
	var rows []string
	for _, v := range nativeValues {
		rows = append(rows, fmt.Sprintf("('%s', '%s', '%s')", v[0], v[1], v[2]))
	}
	server.Exec(t, "CREATE TABLE b_native.t (u UUID NOT NULL, i4 INET4, i6 INET6, n INT NOT NULL AUTO_INCREMENT, PRIMARY KEY (u, n), KEY (n))",
		"INSERT INTO b_native.t (u, i4, i6) VALUES "+strings.Join(rows, ", "))
	src := newStreamSource(t, SnapshotInitial, 3, "b_native.t")
	r := openTask(t, src, nil)
	defer r.Close()
	snap := readUntil(t, r, func(rec stream.Record) bool {
		var p Position
		json.Unmarshal(rec.Position, &p)
		return p.Done
	})
	server.Exec(t, "INSERT INTO b_native.t (u, i4, i6, n) SELECT u, i4, i6, n + 1000 FROM b_native.t ORDER BY n")
	live := readUntil(t, r, func(rec stream.Record) bool {
		n, _ := after(t, rec).GetInt32("n")
		return n == int32(1000+len(nativeValues))
	})
	if len(snap) != len(nativeValues) || len(live) != len(nativeValues) {
		t.Fatalf("%d snapshot and %d streamed records, want %d each", len(snap), len(live), len(nativeValues))
	}
	check := func(what string, rec stream.Record) {
		row := after(t, rec)
		n, _ := row.GetInt32("n")
		n %= 1000
		var want [3]sql.NullString
		if err := server.DB().QueryRow("SELECT CAST(u AS CHAR), CAST(i4 AS CHAR), CAST(i6 AS CHAR) FROM b_native.t WHERE n = ?", n).
			Scan(&want[0], &want[1], &want[2]); err != nil {
			t.Fatal(err)
		}
		for i, col := range []string{"u", "i4", "i6"} {
			if got, _ := row.GetString(col); got != want[i].String {
				t.Errorf("%s row %d %s = %q, the server says %q", what, n, col, got, want[i].String)
			}
		}
	}
	for i := range snap {
		check("snapshot", snap[i])
		check("binlog", live[i])
	}
	// The snapshot went through the keyset pages in the server's UUID order, each row once.
	seen := map[string]bool{}
	for _, rec := range snap {
		seen[keyOf(t, rec)] = true
	}
	if len(seen) != len(nativeValues) {
		t.Errorf("%d distinct keys in the snapshot, want %d", len(seen), len(nativeValues))
	}
}

// TestNativeTextUnit checks the binary-to-text conversions on values the binlog cannot produce from the
// test server (a too-long value is refused naming the type).
func TestNativeTextUnit(t *testing.T) {
	ct := columnType{Column: Column{Name: "u", DataType: "uuid", ColumnType: "uuid"}, kind: kindNative}
	if _, err := ct.nativeText(make([]byte, 17)); err == nil || !strings.Contains(err.Error(), "UUID has 16") {
		t.Errorf("17 bytes as a UUID: %v", err)
	}
	if got := inet6Text([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}); got != "2001:db8::1:0:0:1" {
		t.Errorf("tie of zero runs: %q", got)
	}
	if _, _, err := wkbPoint([]byte{1, 2, 0, 0, 0}); err == nil {
		t.Error("a 5-byte WKB read as a point")
	}
}

// FuzzBinlogNative feeds arbitrary binlog bytes to the UUID, INET4, INET6, GEOMETRY and POINT conversions:
// no panic; a UUID or INET value of at most its size becomes text that parses back to the same (zero-padded)
// bytes; a spatial value either fails or keeps its WKB, and a point's x and y are the WKB's.
func FuzzBinlogNative(f *testing.F) {
	f.Add([]byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22, 0x83, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4})
	f.Add([]byte{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 2, 0xc0})
	f.Add([]byte{})
	cols := map[string]columnType{}
	for _, typ := range []string{"uuid", "inet4", "inet6", "geometry", "point"} {
		ct, err := mapColumn(Column{Name: "c", DataType: typ, ColumnType: typ, Nullable: true})
		if err != nil {
			f.Fatal(err)
		}
		cols[typ] = ct
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for typ, ct := range cols {
			v, err := ct.convertBinlog(string(b))
			n := nativeByteLength(typ)
			switch {
			case n > 0 && len(b) <= n:
				if err != nil {
					t.Fatalf("%s of %d bytes: %v", typ, len(b), err)
				}
				want := append(append([]byte(nil), b...), make([]byte, n-len(b))...)
				if got := nativeBytes(t, typ, v.(string)); string(got) != string(want) {
					t.Fatalf("%s %x: text %q reads back as %x", typ, b, v, got)
				}
			case n > 0:
				if err == nil {
					t.Fatalf("%s of %d bytes accepted: %v", typ, len(b), v)
				}
			case err == nil:
				g := v.(*stream.Struct)
				if wkb, _ := g.GetBytes("wkb"); string(wkb) != string(b[4:]) {
					t.Fatalf("%s: wkb %x, want %x", typ, wkb, b[4:])
				}
			}
		}
	})
}

// nativeBytes parses the text of a UUID, INET4 or INET6 value back into its stored bytes.
func nativeBytes(t *testing.T, typ, text string) []byte {
	t.Helper()
	if typ == "uuid" {
		b, err := hex.DecodeString(strings.ReplaceAll(text, "-", ""))
		if err != nil || len(text) != 36 {
			t.Fatalf("UUID text %q: %v", text, err)
		}
		return b
	}
	a, err := netip.ParseAddr(text)
	if err != nil {
		t.Fatalf("%s text %q: %v", typ, text, err)
	}
	if typ == "inet4" {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}

// TestNewTypesThroughAvro: a change event with every column type, UUID, INET and the spatial structs
// included (several Geometry fields: one Avro named type, reused), goes through the avro codec and the
// embedded schema registry and comes back equal, schema and value.
func TestNewTypesThroughAvro(t *testing.T) {
	server.CreateDatabase(t, "b_avro")
	server.Exec(t, strings.Replace(allTypesDDL, "types.all_types", "b_avro.all_types", 1),
		"SET STATEMENT sql_mode='' FOR INSERT INTO b_avro.all_types VALUES "+strings.Join(allTypesRows, ", "))
	recs := readTask(t, newSource(t, 10, "b_avro.all_types"), nil, 0)
	registry, err := schemaregistry.OpenEmbedded(t.Context(), schemaregistry.NewMemoryLog(),
		schemaregistry.EmbeddedOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer registry.Close()
	codec, err := avro.Codec{}.ForTopic(stream.TopicBinding{Topic: recs[0].Topic, Registry: registry})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		data, err := codec.Encode(rec.ValueSchema, rec.Value)
		if err != nil {
			t.Fatalf("avro encode: %v", err)
		}
		schema, value, err := codec.Decode(data)
		if err != nil {
			t.Fatalf("avro decode: %v", err)
		}
		if !schema.Equal(rec.ValueSchema) || !stream.EqualValues(value, rec.Value) {
			t.Fatalf("avro round trip of row %v changed it:\n%v\n%v", after(t, rec).Get("id"), value, rec.Value)
		}
	}
}
