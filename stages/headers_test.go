package stages_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// hdrTestField is one field of a HeaderFrom test value.
type hdrTestField struct {
	name   string
	schema *stream.Schema
	value  any
}

// hdrTestStruct builds a struct value of the fields, for the schema'd variant of a case.
func hdrTestStruct(t *testing.T, fields []hdrTestField) (*stream.Schema, *stream.Struct) {
	t.Helper()
	b := stream.NewStruct("")
	for _, f := range fields {
		b.Field(f.name, f.schema)
	}
	schema, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := stream.NewStructValue(schema)
	for _, f := range fields {
		if err := st.Put(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	return schema, st
}

// hdrTestMap builds the schemaless variant of a case.
func hdrTestMap(fields []hdrTestField) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		m[f.name] = f.value
	}
	return m
}

func hdrTestHeaders(kv ...string) []stream.Header {
	var hs []stream.Header
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, stream.Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func hdrTestEqualHeaders(a, b []stream.Header) bool {
	return slices.EqualFunc(a, b, func(x, y stream.Header) bool {
		return x.Key == y.Key && string(x.Value) == string(y.Value) && (x.Value == nil) == (y.Value == nil)
	})
}

// TestHeaderFrom ports the cases of Kafka's HeaderFromTest.data() (connect/transforms/src/test/java/org/
// apache/kafka/connect/transforms/HeaderFromTest.java), each run on the key and on the value, with a schema
// and without.
func TestHeaderFrom(t *testing.T) {
	fooSchema := stream.NewStruct("").Field("foo", stream.StringSchema()).MustBuild()
	foo, _ := stream.NewStructValue(fooSchema)
	_ = foo.Put("foo", "foo-value")
	f1 := hdrTestField{"field1", stream.StringSchema(), "field1-value"}
	f2 := hdrTestField{"field2", stream.StringSchema(), "field2-value"}
	fStruct := hdrTestField{"field1", fooSchema, foo}

	cases := []struct {
		name            string
		in              []hdrTestField
		headers         []stream.Header
		fields, names   []string
		op              stages.HeaderFromOperation
		want            []hdrTestField
		wantHeaders     []stream.Header
		wantNotInSchema []string
	}{
		{
			name: "basic copy", in: []hdrTestField{f1, f2}, headers: hdrTestHeaders("header1", "existing-value"),
			fields: []string{"field1"}, names: []string{"inserted1"}, op: stages.HeaderCopy,
			want:        []hdrTestField{f1, f2},
			wantHeaders: hdrTestHeaders("header1", "existing-value", "inserted1", "field1-value"),
		},
		{
			name: "basic move", in: []hdrTestField{f1, f2}, headers: hdrTestHeaders("header1", "existing-value"),
			fields: []string{"field1"}, names: []string{"inserted1"}, op: stages.HeaderMove,
			want:        []hdrTestField{f2},
			wantHeaders: hdrTestHeaders("header1", "existing-value", "inserted1", "field1-value"),
		},
		{
			name: "copy with preexisting header", in: []hdrTestField{f1, f2}, headers: hdrTestHeaders("inserted1", "existing-value"),
			fields: []string{"field1"}, names: []string{"inserted1"}, op: stages.HeaderCopy,
			want:        []hdrTestField{f1, f2},
			wantHeaders: hdrTestHeaders("inserted1", "existing-value", "inserted1", "field1-value"),
		},
		{
			name: "move with preexisting header", in: []hdrTestField{f1, f2}, headers: hdrTestHeaders("inserted1", "existing-value"),
			fields: []string{"field1"}, names: []string{"inserted1"}, op: stages.HeaderMove,
			want:        []hdrTestField{f2},
			wantHeaders: hdrTestHeaders("inserted1", "existing-value", "inserted1", "field1-value"),
		},
		{
			name: "copy with struct value", in: []hdrTestField{fStruct, f2}, headers: hdrTestHeaders("header1", "existing-value"),
			fields: []string{"field1"}, names: []string{"inserted1"}, op: stages.HeaderCopy,
			want:        []hdrTestField{fStruct, f2},
			wantHeaders: hdrTestHeaders("header1", "existing-value", "inserted1", `{"foo":"foo-value"}`),
		},
		{
			name: "move with struct value", in: []hdrTestField{fStruct, f2}, headers: hdrTestHeaders("header1", "existing-value"),
			fields: []string{"field1"}, names: []string{"inserted1"}, op: stages.HeaderMove,
			want:        []hdrTestField{f2},
			wantHeaders: hdrTestHeaders("header1", "existing-value", "inserted1", `{"foo":"foo-value"}`),
		},
		{
			name: "two headers from same field", in: []hdrTestField{f1, f2}, headers: hdrTestHeaders("header1", "existing-value"),
			fields: []string{"field1", "field1"}, names: []string{"inserted1", "inserted2"}, op: stages.HeaderMove,
			want:        []hdrTestField{f2},
			wantHeaders: hdrTestHeaders("header1", "existing-value", "inserted1", "field1-value", "inserted2", "field1-value"),
		},
		{
			name: "two fields to same header", in: []hdrTestField{f1, f2}, headers: hdrTestHeaders("header1", "existing-value"),
			fields: []string{"field1", "field2"}, names: []string{"inserted1", "inserted1"}, op: stages.HeaderMove,
			want:        nil,
			wantHeaders: hdrTestHeaders("header1", "existing-value", "inserted1", "field1-value", "inserted1", "field2-value"),
		},
	}
	ctx := context.Background()
	for _, tc := range cases {
		for _, onKey := range []bool{false, true} {
			for _, withSchema := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/key=%v/schema=%v", tc.name, onKey, withSchema), func(t *testing.T) {
					cfg := stages.HeaderFromConfig{Fields: tc.fields, Headers: tc.names, Operation: tc.op}
					build := stages.HeaderFromValue
					if onKey {
						build = stages.HeaderFromKey
					}
					s, err := build("hf", cfg)
					if err != nil {
						t.Fatal(err)
					}
					var inSchema, wantSchema *stream.Schema
					var inValue, wantValue any
					if withSchema {
						var st, wst *stream.Struct
						inSchema, st = hdrTestStruct(t, tc.in)
						wantSchema, wst = hdrTestStruct(t, tc.want)
						inValue, wantValue = st, wst
					} else {
						inValue, wantValue = hdrTestMap(tc.in), hdrTestMap(tc.want)
					}
					in := stream.Record{Topic: "topic", Headers: slices.Clone(tc.headers), Timestamp: time.UnixMilli(0)}
					if onKey {
						in.KeySchema, in.Key, in.Value = inSchema, inValue, "value"
					} else {
						in.ValueSchema, in.Value, in.Key = inSchema, inValue, "key"
					}
					out, err := s.Process(ctx, in)
					if err != nil || len(out) != 1 {
						t.Fatalf("Process = %v, %v", out, err)
					}
					got := out[0]
					gotSchema, gotValue, other := got.ValueSchema, got.Value, got.Key
					if onKey {
						gotSchema, gotValue, other = got.KeySchema, got.Key, got.Value
					}
					if !hdrTestEqualHeaders(got.Headers, tc.wantHeaders) {
						t.Errorf("headers = %q, want %q", got.Headers, tc.wantHeaders)
					}
					if !stream.EqualValues(gotValue, wantValue) {
						t.Errorf("transformed = %v, want %v", gotValue, wantValue)
					}
					if withSchema && !gotSchema.Equal(wantSchema) {
						t.Errorf("schema = %+v, want %+v", gotSchema, wantSchema)
					}
					if other != map[bool]string{true: "value", false: "key"}[onKey] || got.Topic != "topic" {
						t.Errorf("other parts of the record changed: %+v", got)
					}
					// The input is untouched: its headers, its map or struct.
					if !hdrTestEqualHeaders(in.Headers, tc.headers) {
						t.Errorf("input headers changed to %q", in.Headers)
					}
					if m, ok := inValue.(map[string]any); ok && !maps.EqualFunc(m, hdrTestMap(tc.in), stream.EqualValues) {
						t.Errorf("input map changed to %v", m)
					}
				})
			}
		}
	}
}

func TestHeaderFromEdgeCases(t *testing.T) {
	ctx := context.Background()
	copyID, err := stages.HeaderFromValue("copy-id", stages.HeaderFromConfig{
		Fields: []string{"id", "missing"}, Headers: []string{"id", "missing"}, Operation: stages.HeaderCopy,
	})
	if err != nil {
		t.Fatal(err)
	}

	// Tombstones pass through (Connect would fail: requireMap/requireStruct on null).
	tomb := stream.Record{Key: "k", Headers: hdrTestHeaders("a", "b")}
	if out, err := copyID.Process(ctx, tomb); err != nil || len(out) != 1 || out[0].Value != nil || len(out[0].Headers) != 1 {
		t.Errorf("tombstone: %v, %v", out, err)
	}

	if out, err := copyID.Process(ctx, stream.Record{Value: (*stream.Struct)(nil)}); err != nil || len(out) != 1 {
		t.Errorf("nil *stream.Struct: %v, %v", out, err)
	}

	// A missing key of a schemaless value gives a header with a nil (Kafka null) value.
	out, err := copyID.Process(ctx, stream.Record{Value: map[string]any{"id": int64(7)}})
	if err != nil || !hdrTestEqualHeaders(out[0].Headers, []stream.Header{{Key: "id", Value: []byte("7")}, {Key: "missing"}}) {
		t.Errorf("schemaless with a missing key: %v, %v", out, err)
	}

	// A listed field missing from the schema is an error (Connect fails too).
	schema := stream.NewStruct("row").Field("id", stream.Int32Schema()).MustBuild()
	st, _ := stream.NewStructValue(schema)
	_ = st.Put("id", int32(1))
	if _, err := copyID.Process(ctx, stream.Record{ValueSchema: schema, Value: st}); !errors.Is(err, stream.ErrSchemaMismatch) ||
		!strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing schema field: %v", err)
	}

	// A *stream.Struct without Record.ValueSchema uses its own schema.
	copyOnlyID, _ := stages.HeaderFromValue("copy-id", stages.HeaderFromConfig{Fields: []string{"id"}, Headers: []string{"h"}, Operation: stages.HeaderMove})
	out, err = copyOnlyID.Process(ctx, stream.Record{Value: st})
	if err != nil || string(out[0].Headers[0].Value) != "1" || len(out[0].ValueSchema.Fields) != 0 || out[0].ValueSchema.Name != "row" {
		t.Errorf("struct without a record schema: %+v, %v", out, err)
	}

	// Values of the wrong shape are errors wrapping stream.ErrSchemaMismatch.
	for _, bad := range []stream.Record{
		{Value: "a string"},
		{Value: []any{int64(1)}},
		{ValueSchema: schema, Value: map[string]any{"id": int32(1)}},
	} {
		if _, err := copyID.Process(ctx, bad); !errors.Is(err, stream.ErrSchemaMismatch) {
			t.Errorf("%#v: err = %v, want ErrSchemaMismatch", bad.Value, err)
		}
	}

	// Headers appended to a record whose header slice has spare capacity do not leak into the input's array.
	spare := make([]stream.Header, 1, 4)
	spare[0] = stream.Header{Key: "x", Value: []byte("y")}
	in := stream.Record{Value: map[string]any{"id": "a"}, Headers: spare}
	out1, _ := copyOnlyID.Process(ctx, in)
	in.Value = map[string]any{"id": "b"}
	out2, _ := copyOnlyID.Process(ctx, in)
	if string(out1[0].Headers[1].Value) != "a" || string(out2[0].Headers[1].Value) != "b" {
		t.Errorf("outputs share a header array: %q, %q", out1[0].Headers, out2[0].Headers)
	}
}

// TestHeaderValueEncoding pins the documented header encoding of field values.
func TestHeaderValueEncoding(t *testing.T) {
	dec, _ := stream.ParseDecimal("12.50")
	cases := []struct {
		name  string
		value any
		want  []byte
	}{
		{"nil", nil, nil},
		{"string", "Ada", []byte("Ada")},
		{"bytes", []byte{0, 1, 2}, []byte{0, 1, 2}},
		{"int8", int8(2), []byte("2")},
		{"int32", int32(50000), []byte("50000")},
		{"int64", int64(87474836647), []byte("87474836647")},
		{"float64 in Java notation", 1.0, []byte("1.0")},
		{"float32", float32(2.5), []byte("2.5")},
		{"bool", true, []byte("true")},
		{"decimal", dec, []byte("12.50")},
		{"time", time.Date(2019, 8, 23, 14, 34, 54, 346e6, time.UTC), []byte("2019-08-23T14:34:54.346Z")},
		{"map as JSON", map[string]any{"b": int64(1), "a": "x"}, []byte(`{"a":"x","b":1}`)},
		{"array as JSON", []any{int64(1), "two"}, []byte(`[1,"two"]`)},
	}
	ctx := context.Background()
	s, _ := stages.HeaderFromValue("h", stages.HeaderFromConfig{Fields: []string{"f"}, Headers: []string{"h"}, Operation: stages.HeaderCopy})
	for _, tc := range cases {
		out, err := s.Process(ctx, stream.Record{Value: map[string]any{"f": tc.value}})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := out[0].Headers[0].Value; string(got) != string(tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: header value %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestHeaderFromConfig ports HeaderFromTest's invalidConfig* cases and checks that errors name the option.
func TestHeaderFromConfig(t *testing.T) {
	cases := []struct {
		name   string
		cfg    stages.HeaderFromConfig
		option string
	}{
		{"extra header (invalidConfigExtraHeaderConfig)", stages.HeaderFromConfig{Fields: []string{"foo"}, Headers: []string{"foo", "bar"}, Operation: stages.HeaderCopy}, "Headers"},
		{"extra field (invalidConfigExtraFieldConfig)", stages.HeaderFromConfig{Fields: []string{"foo", "bar"}, Headers: []string{"foo"}, Operation: stages.HeaderCopy}, "Headers"},
		{"empty headers (invalidConfigEmptyHeadersAndFieldsConfig)", stages.HeaderFromConfig{Fields: []string{"foo"}, Operation: stages.HeaderCopy}, "Headers"},
		{"empty fields", stages.HeaderFromConfig{Headers: []string{"foo"}, Operation: stages.HeaderCopy}, "Fields"},
		{"no operation", stages.HeaderFromConfig{Fields: []string{"foo"}, Headers: []string{"foo"}}, "Operation"},
		{"unknown operation", stages.HeaderFromConfig{Fields: []string{"foo"}, Headers: []string{"foo"}, Operation: "rename"}, "Operation"},
		{"empty field name", stages.HeaderFromConfig{Fields: []string{"a", ""}, Headers: []string{"a", "b"}, Operation: stages.HeaderMove}, "Fields[1]"},
		{"empty header name", stages.HeaderFromConfig{Fields: []string{"a"}, Headers: []string{""}, Operation: stages.HeaderMove}, "Headers[0]"},
	}
	for _, tc := range cases {
		for _, build := range []func(string, stages.HeaderFromConfig) (stages.Stage, error){stages.HeaderFromValue, stages.HeaderFromKey} {
			_, err := build("hf", tc.cfg)
			if !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), `"hf"`) ||
				!strings.Contains(err.Error(), ": "+tc.option+": ") {
				t.Errorf("%s: err = %v, want ErrTransformConfig naming %s", tc.name, err, tc.option)
			}
		}
	}
	if _, err := stages.HeaderFromValue("", stages.HeaderFromConfig{Fields: []string{"a"}, Headers: []string{"a"}, Operation: stages.HeaderCopy}); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("no name: %v", err)
	}
}

// TestInsertHeader ports Kafka's InsertHeaderTest: the header is always appended, literal bytes are kept.
func TestInsertHeader(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		key      string
		value    []byte
		existing []stream.Header
		want     []stream.Header
	}{
		{"insertHeaderWithNullValue", "AAA", nil, nil, []stream.Header{{Key: "AAA"}}},
		{"insertHeaderWithStringValue", "dummy header", []byte("dummy value"), nil, hdrTestHeaders("dummy header", "dummy value")},
		{"insertHeaderWithStringValueWhenOneExists", "AAA", []byte("dummy value"), hdrTestHeaders("BBB", "existent value"),
			hdrTestHeaders("BBB", "existent value", "AAA", "dummy value")},
		{"insertHeaderWithStringValueWithSameKey", "AAA", []byte("dummy value"), hdrTestHeaders("AAA", "existent value", "BBB", "existent value"),
			hdrTestHeaders("AAA", "existent value", "BBB", "existent value", "AAA", "dummy value")},
		{"insertHeaderWithInt64Value", "AAA", []byte("87474836647"), nil, hdrTestHeaders("AAA", "87474836647")},
		{"insertHeaderWithDateValue", "AAA", []byte("2019-08-23"), nil, hdrTestHeaders("AAA", "2019-08-23")},
	}
	for _, tc := range cases {
		s, err := stages.InsertHeader("ins", tc.key, tc.value)
		if err != nil {
			t.Fatal(err)
		}
		// A tombstone gets the header too.
		out, err := s.Process(ctx, stream.Record{Topic: "test", Headers: slices.Clone(tc.existing)})
		if err != nil || !hdrTestEqualHeaders(out[0].Headers, tc.want) {
			t.Errorf("%s: headers %q, %v; want %q", tc.name, out[0].Headers, err, tc.want)
		}
	}

	// Each record gets its own bytes.
	s, _ := stages.InsertHeader("ins", "h", []byte("v"))
	a, _ := s.Process(ctx, stream.Record{})
	b, _ := s.Process(ctx, stream.Record{})
	a[0].Headers[0].Value[0] = 'X'
	if string(b[0].Headers[0].Value) != "v" {
		t.Error("records share header bytes")
	}

	// insertHeaderWithNullName, insertHeaderWithBlankName.
	if _, err := stages.InsertHeader("ins", "", []byte("dummy value")); !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), "header") {
		t.Errorf("empty header name: %v", err)
	}
	if _, err := stages.InsertHeader("", "h", nil); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("no stage name: %v", err)
	}
}

// TestDropHeaders ports Kafka's DropHeadersTest.
func TestDropHeaders(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		names    []string
		existing []stream.Header
		want     []stream.Header
	}{
		{"dropAllHeaders", []string{"AAA"}, hdrTestHeaders("AAA", "dummy value"), []stream.Header{}},
		{"dropOneHeaderOutOfTwo", []string{"BBB"}, hdrTestHeaders("AAA", "dummy value", "BBB", "dummy value"), hdrTestHeaders("AAA", "dummy value")},
		{"dropOneHeaderOutOfZero", []string{"BBB"}, nil, nil},
		{"dropOneHeaderHasNoMatch", []string{"AAA"}, hdrTestHeaders("BBB", "dummy value", "CCC", "dummy value"),
			hdrTestHeaders("BBB", "dummy value", "CCC", "dummy value")},
		{"dropSeveralHeaders", []string{"AAA", "BBB"},
			hdrTestHeaders("AAA", "v", "BBB", "v", "AAA", "v", "CCC", "v", "DDD", "v", "DDD", "v"),
			hdrTestHeaders("CCC", "v", "DDD", "v", "DDD", "v")},
	}
	for _, tc := range cases {
		s, err := stages.DropHeaders("drop", tc.names...)
		if err != nil {
			t.Fatal(err)
		}
		in := stream.Record{Topic: "test", Headers: slices.Clone(tc.existing)}
		out, err := s.Process(ctx, in)
		if err != nil || !hdrTestEqualHeaders(out[0].Headers, tc.want) {
			t.Errorf("%s: headers %q, %v; want %q", tc.name, out[0].Headers, err, tc.want)
		}
		if !hdrTestEqualHeaders(in.Headers, tc.existing) {
			t.Errorf("%s: input headers changed to %q", tc.name, in.Headers)
		}
	}
	for _, bad := range [][]string{nil, {"a", ""}} {
		if _, err := stages.DropHeaders("drop", bad...); !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), "names") {
			t.Errorf("DropHeaders(%q): %v", bad, err)
		}
	}
}

// HeaderFromValue copies (or moves) fields of the value into headers, for consumers that route on headers.
func ExampleHeaderFromValue() {
	tenantToHeader, err := stages.HeaderFromValue("tenant-to-header", stages.HeaderFromConfig{
		Fields:    []string{"tenant", "id"},
		Headers:   []string{"tenant", "order-id"},
		Operation: stages.HeaderMove,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := tenantToHeader.Process(context.Background(), stream.Record{
		Value: map[string]any{"tenant": "acme", "id": int64(42), "amount": 9.5},
	})
	for _, h := range out[0].Headers {
		fmt.Printf("%s=%s\n", h.Key, h.Value)
	}
	fmt.Println(out[0].Value)
	// Output:
	// tenant=acme
	// order-id=42
	// map[amount:9.5]
}

func ExampleInsertHeader() {
	tag, _ := stages.InsertHeader("tag-origin", "origin", []byte("mysql-eu"))
	drop, _ := stages.DropHeaders("drop-trace", "trace-id")
	ctx := context.Background()
	out, _ := tag.Process(ctx, stream.Record{Headers: []stream.Header{{Key: "trace-id", Value: []byte("abc")}}})
	out, _ = drop.Process(ctx, out[0])
	fmt.Printf("%q\n", out[0].Headers)
	// Output: [{"origin" "mysql-eu"}]
}

// HeaderFromKey copies a field of a schema'd key into a header; the key keeps the field.
func ExampleHeaderFromKey() {
	keySchema := stream.NewStruct("orders.Key").Field("tenant", stream.StringSchema()).Field("id", stream.Int64Schema()).MustBuild()
	key, _ := stream.NewStructValue(keySchema)
	_ = key.Put("tenant", "acme")
	_ = key.Put("id", int64(42))

	tenant, _ := stages.HeaderFromKey("tenant-header", stages.HeaderFromConfig{
		Fields: []string{"tenant"}, Headers: []string{"tenant"}, Operation: stages.HeaderCopy,
	})
	out, _ := tenant.Process(context.Background(), stream.Record{KeySchema: keySchema, Key: key, Value: "v"})
	fmt.Printf("%v %q\n", out[0].Key, out[0].Headers)
	// Output: Struct{tenant=acme,id=42} [{"tenant" "acme"}]
}
