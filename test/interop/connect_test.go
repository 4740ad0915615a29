package interop_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mavenjars"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
)

// The records of the JsonConverter test: one struct schema with every type of Sluice's data model (Kafka
// Connect's), and six values of it that reach each type's extremes.
var (
	geoSchema = stream.NewStruct("sluice.interop.Geo").
			Field("lat", stream.Float64Schema()).
			Field("lon", stream.Float64Schema()).MustBuild()
	addressSchema = stream.NewStruct("sluice.interop.Address").
			Field("street", stream.StringSchema()).
			Field("zip", stream.Int32Schema().AsOptional()).
			Field("geo", geoSchema).MustBuild()
	lineSchema = stream.NewStruct("sluice.interop.Line").
			Field("sku", stream.StringSchema()).
			Field("qty", stream.Int16Schema()).
			Field("price", stream.DecimalSchema(2)).MustBuild()
	everythingSchema = stream.NewStruct("sluice.interop.Everything").
				Field("id", stream.Int64Schema()).
				Field("i8", stream.Int8Schema()).
				Field("i16", stream.Int16Schema()).
				Field("i32", stream.Int32Schema()).
				Field("i64", stream.Int64Schema()).
				Field("f32", stream.Float32Schema()).
				Field("f64", stream.Float64Schema()).
				Field("flag", stream.BooleanSchema()).
				Field("text", stream.StringSchema()).
				Field("raw", stream.BytesSchema()).
				Field("amount", stream.DecimalSchema(10)).
				Field("day", stream.DateSchema()).
				Field("clock", stream.TimeSchema()).
				Field("at", stream.TimestampSchema()).
				Field("note", stream.StringSchema().AsOptional()).
				Field("discount", stream.DecimalSchema(2).AsOptional()).
				Field("shipped", stream.TimestampSchema().AsOptional()).
				Field("tags", stream.ArrayOf(stream.StringSchema())).
				Field("scores", stream.MapOf(stream.StringSchema(), stream.Int32Schema())).
				Field("labels", stream.MapOf(stream.Int32Schema(), stream.StringSchema().AsOptional())).
				Field("address", addressSchema).
				Field("billing", addressSchema.AsOptional()).
				Field("lines", stream.ArrayOf(lineSchema)).
				Field("matrix", stream.ArrayOf(stream.ArrayOf(stream.Float32Schema()))).MustBuild()
)

// everythingRecords is how many records the test writes.
const everythingRecords = 6

func mustDecimal(s string) stream.Decimal {
	d, err := stream.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func mustStruct(schema *stream.Schema, kv ...any) *stream.Struct {
	st, err := stream.NewStructValue(schema)
	if err != nil {
		panic(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := st.Put(kv[i].(string), kv[i+1]); err != nil {
			panic(err)
		}
	}
	return st
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// everything returns record i's value: the extremes of each type spread over the six records, optional
// fields null in some.
func everything(i int) *stream.Struct {
	type ints struct {
		i8  int8
		i16 int16
		i32 int32
		i64 int64
	}
	intsOf := []ints{{0, 0, 0, 0}, {math.MaxInt8, math.MaxInt16, math.MaxInt32, math.MaxInt64},
		{math.MinInt8, math.MinInt16, math.MinInt32, math.MinInt64}, {-1, 1, -1, 1 << 53}, {42, -300, 70000, -(1 << 53) - 1}, {7, 7, 7, 7}}[i]
	f32 := []float32{0, math.MaxFloat32, -math.SmallestNonzeroFloat32, 0.1, -1.5e-7, 16777217}[i]
	f64 := []float64{0, math.MaxFloat64, -math.SmallestNonzeroFloat64, 0.1, 1e21, -123456789.123456789}[i]
	amount := []string{"0.0000000000", "9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999",
		"0.0000000001", "-1.5000000000", "1234567890123456789012345678.9012345678"}[i]
	day := []string{"1970-01-01", "2026-11-30", "1969-12-31", "0001-01-01", "9999-12-31", "2000-02-29"}[i]
	clock := []string{"00:00:00.000", "23:59:59.999", "12:00:00.001", "06:30:15.250", "00:00:00.001", "18:45:00.000"}[i]
	at := []string{"1970-01-01T00:00:00Z", "2026-11-30T21:34:40.123Z", "1969-07-20T20:17:40.001Z", "0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999Z", "2038-01-19T03:14:08Z"}[i]
	text := []string{"", "plain", `quote " and backslash \ and tab	and newline
end`, "Grüße 日本語 🚀", "{\"json\":[1,2]}", strings.Repeat("long ", 200)}[i]
	raw := [][]byte{{}, {0, 1, 2, 255}, []byte("bytes"), {0x80}, bytes.Repeat([]byte{0xAB}, 100), nil}[i]
	if raw == nil {
		raw = []byte{}
	}
	v := mustStruct(everythingSchema,
		"id", int64(i),
		"i8", intsOf.i8, "i16", intsOf.i16, "i32", intsOf.i32, "i64", intsOf.i64,
		"f32", f32, "f64", f64,
		"flag", i%2 == 0,
		"text", text,
		"raw", raw,
		"amount", mustDecimal(amount),
		"day", utc(day+"T00:00:00Z"),
		"clock", utc("1970-01-01T"+clock+"Z"),
		"at", utc(at),
		"tags", []any{},
		"scores", map[string]any{},
		"labels", map[any]any{},
		"address", mustStruct(addressSchema, "street", fmt.Sprintf("%d Main St", i), "geo",
			mustStruct(geoSchema, "lat", 52.52+float64(i), "lon", -13.405*float64(i))),
		"lines", []any{},
		"matrix", []any{},
	)
	if i%2 == 1 { // the optional fields set, collections filled
		put := func(name string, val any) {
			if err := v.Put(name, val); err != nil {
				panic(err)
			}
		}
		put("note", fmt.Sprintf("note %d", i))
		put("discount", mustDecimal(fmt.Sprintf("-%d.05", i)))
		put("shipped", utc("2026-12-01T08:00:00.5Z").Add(time.Duration(i)*time.Hour))
		put("tags", []any{"a", "b", fmt.Sprint(i)})
		put("scores", map[string]any{"x": int32(i), "y": int32(-i), "zz top": int32(math.MaxInt32)})
		put("labels", map[any]any{int32(1): "one", int32(-2): nil, int32(i): "i"})
		put("billing", mustStruct(addressSchema, "street", "PO Box 1", "zip", int32(10115), "geo",
			mustStruct(geoSchema, "lat", 0.0, "lon", 0.0)))
		put("lines", []any{
			mustStruct(lineSchema, "sku", "A-1", "qty", int16(2), "price", mustDecimal("19.99")),
			mustStruct(lineSchema, "sku", "B-2", "qty", int16(-1), "price", mustDecimal("-0.01")),
		})
		put("matrix", []any{[]any{float32(1), float32(2.5)}, []any{}, []any{float32(-0.125)}})
	}
	return v
}

// TestInteropConnectJsonConverterReadsJSONSchemaTopic: a pipeline writes records of every type with the
// json-schema codec; Kafka Connect's own JsonConverter (connect-json 4.4.0, schemas.enable=true), in a
// small Java program, converts each to Connect's schema and data, and its rendering equals what the
// pipeline wrote.
func TestInteropConnectJsonConverterReadsJSONSchemaTopic(t *testing.T) {
	requireInterop(t)
	brokers := testkit.Brokers(t, 1)
	dump := compileJsonConverterDump(t)
	top := numberedPipeline(t, "connect-json", "everything", "json-schema", everythingSchema, everything)
	runUntil(t, top, brokers, "off", func() bool { return topicCount(t, brokers, "everything") >= everythingRecords })

	got := dump(brokers, "everything", everythingRecords)
	want := make([]string, everythingRecords)
	for i := range want {
		want[i] = fmt.Sprintf("0/%d %s = %s", i, connectSchema(everythingSchema), connectValue(everythingSchema, everything(i)))
	}
	if len(got) != len(want) {
		t.Fatalf("JsonConverter read %d records of topic everything, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: JsonConverter read\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
	if !t.Failed() {
		t.Logf("JsonConverter read the %d records as written; the first:\n%s", len(got), got[0])
	}
}

// compileJsonConverterDump compiles test/connect/src/JsonConverterDump.java against test/connect/lib (fetched
// by internal/mavenjars when missing or older than test/connect/pom.xml, as `make connect-jars` does; the
// classes are cached under lib by source hash) and returns a function that runs it: it reads n records of
// topic from its start and returns the program's lines.
func compileJsonConverterDump(t *testing.T) func(brokers []string, topic string, n int) []string {
	t.Helper()
	java, err := mavenjars.Java()
	if err != nil {
		t.Fatalf("Kafka Connect's JsonConverter: %v", err)
	}
	dir := filepath.Join(repoRoot(t), "test", "connect")
	lib, err := mavenjars.Ensure(t.Context(), dir)
	if err != nil {
		t.Fatalf("Kafka Connect's jars: %v", err)
	}
	classes, err := mavenjars.Compile(t.Context(), lib, filepath.Join(dir, "src"))
	if err != nil {
		t.Fatalf("JsonConverterDump: %v", err)
	}
	return func(brokers []string, topic string, n int) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		cmd := exec.CommandContext(ctx, java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classes+string(os.PathListSeparator)+filepath.Join(lib, "*"),
			"JsonConverterDump", strings.Join(brokers, ","), topic, strconv.Itoa(n), "60000")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("JsonConverterDump on topic %s: %v\n%s\n%s", topic, err, stdout.String(), stderr.String())
		}
		return strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	}
}

// connectTypeNames are Kafka Connect's Schema.Type names of Sluice's schema types.
var connectTypeNames = map[stream.Type]string{
	stream.TypeInt8: "INT8", stream.TypeInt16: "INT16", stream.TypeInt32: "INT32", stream.TypeInt64: "INT64",
	stream.TypeFloat32: "FLOAT32", stream.TypeFloat64: "FLOAT64", stream.TypeBoolean: "BOOLEAN",
	stream.TypeString: "STRING", stream.TypeBytes: "BYTES", stream.TypeArray: "ARRAY", stream.TypeMap: "MAP",
	stream.TypeStruct: "STRUCT",
}

// connectSchema renders s as JsonConverterDump renders the Connect schema JsonConverter reads.
func connectSchema(s *stream.Schema) string {
	var b strings.Builder
	b.WriteString(connectTypeNames[s.Type])
	if s.Name != "" {
		b.WriteString("<" + s.Name + ">")
	}
	if len(s.Parameters) > 0 {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(s.Parameters)) {
			ps = append(ps, k+"="+s.Parameters[k])
		}
		b.WriteString("(" + strings.Join(ps, ",") + ")")
	}
	if s.Optional {
		b.WriteString("?")
	}
	switch s.Type {
	case stream.TypeStruct:
		var fs []string
		for _, f := range s.Fields {
			fs = append(fs, f.Name+":"+connectSchema(f.Schema))
		}
		b.WriteString("{" + strings.Join(fs, ", ") + "}")
	case stream.TypeArray:
		b.WriteString("[" + connectSchema(s.Items) + "]")
	case stream.TypeMap:
		b.WriteString("{" + connectSchema(s.Key) + "->" + connectSchema(s.Value) + "}")
	}
	return b.String()
}

// connectValue renders v of schema s as JsonConverterDump renders the Connect data JsonConverter reads.
func connectValue(s *stream.Schema, v any) string {
	if v == nil {
		return "null"
	}
	switch s.Name {
	case stream.DecimalName:
		return v.(stream.Decimal).String() // BigDecimal.toPlainString
	case stream.DateName, stream.TimeName, stream.TimestampName:
		t := v.(time.Time).UTC()
		return fmt.Sprintf("%d@%s", t.UnixMilli(), t.Format("2006-01-02T15:04:05.000Z"))
	}
	switch s.Type {
	// JsonConverter reads every JSON number as a BigDecimal, which has no negative zero: the -0.0 Sluice
	// writes (as JsonConverter itself writes a negative zero) reads as 0.0.
	case stream.TypeFloat32:
		f := v.(float32)
		if f == 0 {
			f = 0
		}
		return "0x" + strconv.FormatUint(uint64(math.Float32bits(f)), 16)
	case stream.TypeFloat64:
		f := v.(float64)
		if f == 0 {
			f = 0
		}
		return "0x" + strconv.FormatUint(math.Float64bits(f), 16)
	case stream.TypeString:
		return javaQuote(v.(string))
	case stream.TypeBytes:
		return base64.StdEncoding.EncodeToString(v.([]byte))
	case stream.TypeArray:
		var items []string
		for _, item := range v.([]any) {
			items = append(items, connectValue(s.Items, item))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case stream.TypeMap:
		entries := map[string]string{}
		switch m := v.(type) {
		case map[string]any:
			for k, val := range m {
				entries[connectValue(s.Key, k)] = connectValue(s.Value, val)
			}
		case map[any]any:
			for k, val := range m {
				entries[connectValue(s.Key, k)] = connectValue(s.Value, val)
			}
		}
		var items []string
		for _, k := range slices.Sorted(maps.Keys(entries)) {
			items = append(items, k+": "+entries[k])
		}
		return "{" + strings.Join(items, ", ") + "}"
	case stream.TypeStruct:
		st := v.(*stream.Struct)
		var fs []string
		for _, f := range s.Fields {
			fs = append(fs, f.Name+"="+connectValue(f.Schema, st.Get(f.Name)))
		}
		return "{" + strings.Join(fs, ", ") + "}"
	}
	return fmt.Sprint(v) // integers and booleans
}

// javaQuote quotes s as JsonConverterDump does: " and \ escaped, control characters as \u00XX.
func javaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
