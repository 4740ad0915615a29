package stages_test

import (
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's FlattenTest.java are named after the Java test they come from.

func flattenStage(t *testing.T, delimiter string, opts ...stages.FieldOption) stages.Stage {
	t.Helper()
	s, err := stages.Flatten("flatten", delimiter, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// topLevelStructRequired, topLevelMapRequired
func TestFlattenNeedsAStructOrMap(t *testing.T) {
	ftRunErr(t, flattenStage(t, ""), stream.Record{ValueSchema: stream.Int32Schema(), Value: int32(42)}, "value", "int32")
	ftRunErr(t, flattenStage(t, ""), stream.Record{Value: int32(42)}, "value", "int32")
}

// testNestedStruct
func TestFlattenNestedStruct(t *testing.T) {
	supported := stream.NewStruct("").
		Field("int8", stream.Int8Schema()).
		Field("int16", stream.Int16Schema()).
		Field("int32", stream.Int32Schema()).
		Field("int64", stream.Int64Schema()).
		Field("float32", stream.Float32Schema()).
		Field("float64", stream.Float64Schema()).
		Field("boolean", stream.BooleanSchema()).
		Field("string", stream.StringSchema()).
		Field("bytes", stream.BytesSchema()).
		MustBuild()
	oneLevel := stream.NewStruct("").Field("B", supported).MustBuild()
	twoLevel := stream.NewStruct("").Field("A", oneLevel).MustBuild()
	values := []any{"int8", int8(8), "int16", int16(16), "int32", int32(32), "int64", int64(64), "float32", float32(32),
		"float64", 64.0, "boolean", true, "string", "stringy", "bytes", []byte("bytes")}
	value := ftStruct(t, twoLevel, "A", ftStruct(t, oneLevel, "B", ftStruct(t, supported, values...)))

	out := ftRun(t, flattenStage(t, ""), stream.Record{ValueSchema: twoLevel, Value: value})
	flat := out.Value.(*stream.Struct)
	if n := len(out.ValueSchema.Fields); n != 9 {
		t.Fatalf("%d fields, want 9", n)
	}
	for i := 0; i < len(values); i += 2 {
		ftSameValue(t, "A.B."+values[i].(string), flat.Get("A.B."+values[i].(string)), values[i+1])
	}
	if flat.Schema() != out.ValueSchema {
		t.Error("value and record schemas differ")
	}
}

// testNestedMapWithDelimiter
func TestFlattenNestedMapWithDelimiter(t *testing.T) {
	supported := map[string]any{"int8": int8(8), "int16": int16(16), "int32": int32(32), "int64": int64(64),
		"float32": float32(32), "float64": 64.0, "boolean": true, "string": "stringy", "bytes": []byte("bytes")}
	in := map[string]any{"A": map[string]any{"B": supported}}
	out := ftRun(t, flattenStage(t, "#"), stream.Record{Value: in})
	if out.ValueSchema != nil {
		t.Errorf("schema %v", out.ValueSchema)
	}
	want := map[string]any{}
	for k, v := range supported {
		want["A#B#"+k] = v
	}
	ftSameValue(t, "value", out.Value, want)
}

// testOptionalFieldStruct, testOptionalStruct, testOptionalNestedStruct, testOptionalFieldMap
func TestFlattenOptional(t *testing.T) {
	s := flattenStage(t, "")
	supported := stream.NewStruct("").Field("opt_int32", stream.Int32Schema().AsOptional()).MustBuild()
	oneLevel := stream.NewStruct("").Field("B", supported).MustBuild()
	out := ftRun(t, s, stream.Record{ValueSchema: oneLevel, Value: ftStruct(t, oneLevel, "B", ftStruct(t, supported))})
	ftSameValue(t, "B.opt_int32", out.Value.(*stream.Struct).Get("B.opt_int32"), nil)

	optional := stream.NewStruct("").Field("opt_int32", stream.Int32Schema().AsOptional()).Optional().MustBuild()
	out = ftRun(t, s, stream.Record{ValueSchema: optional})
	if out.ValueSchema != optional || out.Value != nil {
		t.Errorf("optional struct, nil value: %+v", out)
	}

	nestedOptional := stream.NewStruct("").Field("B", optional).MustBuild()
	out = ftRun(t, s, stream.Record{ValueSchema: nestedOptional, Value: ftStruct(t, nestedOptional)})
	ftSameValue(t, "B.opt_int32", out.Value.(*stream.Struct).Get("B.opt_int32"), nil)
	ftSameSchema(t, "schema", out.ValueSchema, stream.NewStruct("").Field("B.opt_int32", stream.Int32Schema().AsOptional()).MustBuild())

	out = ftRun(t, s, stream.Record{Value: map[string]any{"B": map[string]any{"opt_int32": nil}}})
	ftSameValue(t, "map", out.Value, map[string]any{"B.opt_int32": nil})
}

// testOptionalAndDefaultValuesNested: fields under an optional struct become optional, and take the
// struct's default when they have none of their own.
func TestFlattenOptionalAndDefaultValuesNested(t *testing.T) {
	base := stream.NewStruct("").
		Field("req_field", stream.StringSchema()).
		Field("opt_field", stream.StringSchema().AsOptional().WithDefault("child_default")).
		Optional().MustBuild()
	schema := base.WithDefault(ftStruct(t, base, "req_field", "req_default"))
	out := ftRun(t, flattenStage(t, ""), stream.Record{ValueSchema: schema, Value: ftStruct(t, schema)})
	ftSameSchema(t, "schema", out.ValueSchema, stream.NewStruct("").
		Field("req_field", stream.StringSchema().AsOptional().WithDefault("req_default")).
		Field("opt_field", stream.StringSchema().AsOptional().WithDefault("child_default")).
		MustBuild())
}

// testKey
func TestFlattenKey(t *testing.T) {
	out := ftRun(t, flattenStage(t, "", stages.OnKey()), stream.Record{Key: map[string]any{"A": map[string]any{"B": int32(12)}}})
	if out.KeySchema != nil {
		t.Errorf("key schema %v", out.KeySchema)
	}
	ftSameValue(t, "key", out.Key, map[string]any{"A.B": int32(12)})
}

// testSchemalessArray, testArrayWithSchema: arrays are kept as they are.
func TestFlattenArrays(t *testing.T) {
	in := map[string]any{"foo": []any{"bar", map[string]any{"baz": map[string]any{"lfg": "lfg"}}}}
	ftSameValue(t, "schemaless", ftRun(t, flattenStage(t, ""), stream.Record{Value: in}).Value, in)

	nested := stream.NewStruct("").Field("lfg", stream.StringSchema()).MustBuild()
	inner := stream.NewStruct("").Field("baz", nested).MustBuild()
	schema := stream.NewStruct("").Field("foo", stream.ArrayOf(inner).WithDoc("durk")).MustBuild()
	value := ftStruct(t, schema, "foo", []any{ftStruct(t, inner, "baz", ftStruct(t, nested, "lfg", "lfg"))})
	out := ftRun(t, flattenStage(t, ""), stream.Record{ValueSchema: schema, Value: value})
	ftSameSchema(t, "schema", out.ValueSchema, schema)
	ftSameValue(t, "value", out.Value, value)

	withMap := stream.NewStruct("").Field("m", stream.MapOf(stream.StringSchema(), stream.Int8Schema())).MustBuild()
	mv := ftStruct(t, withMap, "m", map[string]any{"x": int8(1)})
	ftSameValue(t, "map field", ftRun(t, flattenStage(t, ""), stream.Record{ValueSchema: withMap, Value: mv}).Value, mv)
}

// tombstoneEventWithoutSchemaShouldPassThrough, tombstoneEventWithSchemaShouldPassThrough
func TestFlattenTombstones(t *testing.T) {
	schema := stream.NewStruct("name").Version(1).Doc("doc").Field("magic", stream.Int64Schema().AsOptional()).MustBuild()
	for _, rec := range []stream.Record{{Topic: "test"}, {Topic: "test", ValueSchema: schema}} {
		out := ftRun(t, flattenStage(t, ""), rec)
		if out.Value != nil || out.ValueSchema != rec.ValueSchema {
			t.Errorf("tombstone: %+v", out)
		}
	}
}

// testMapWithNullFields, testStructWithNullFields: nothing nested, nothing changes.
func TestFlattenNullFields(t *testing.T) {
	in := map[string]any{"firstNull": nil, "firstNonNull": "nonNull", "secondNull": nil, "secondNonNull": "alsoNonNull", "thirdNonNull": nil}
	ftSameValue(t, "map", ftRun(t, flattenStage(t, ""), stream.Record{Value: in}).Value, in)

	b := stream.NewStruct("")
	for _, f := range []string{"firstNull", "firstNonNull", "secondNull", "secondNonNull", "thirdNonNull"} {
		b.Field(f, stream.StringSchema().AsOptional())
	}
	schema := b.MustBuild()
	value := ftStruct(t, schema, "firstNonNull", "nonNull", "secondNonNull", "alsoNonNull")
	out := ftRun(t, flattenStage(t, ""), stream.Record{ValueSchema: schema, Value: value})
	ftSameValue(t, "struct", out.Value, value)
	ftSameSchema(t, "schema", out.ValueSchema, schema)
}

// The flattened schema keeps the name, version and doc of the value schema; logical types stay logical.
func TestFlattenKeepsSchemaBasics(t *testing.T) {
	inner := stream.NewStruct("inner").Field("at", stream.TimestampSchema()).Field("amount", stream.DecimalSchema(2)).MustBuild()
	schema := stream.NewStruct("outer").Version(4).Doc("d").Field("id", stream.Int64Schema()).Field("x", inner).MustBuild()
	out := ftRun(t, flattenStage(t, "_"), stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "id", int64(1),
		"x", ftStruct(t, inner, "at", ftTime(5), "amount", stream.NewDecimal(150, 2)))})
	want := stream.NewStruct("outer").Version(4).Doc("d").
		Field("id", stream.Int64Schema()).
		Field("x_at", stream.TimestampSchema()).
		Field("x_amount", stream.DecimalSchema(2)).
		MustBuild()
	ftSameSchema(t, "schema", out.ValueSchema, want)
	ftSameValue(t, "value", out.Value, ftStruct(t, want, "id", int64(1), "x_at", ftTime(5), "x_amount", stream.NewDecimal(150, 2)))
}

// Connect's LinkedHashMap (or SchemaBuilder) would keep one of two fields that flatten to one name;
// Sluice reports the record.
func TestFlattenCollisions(t *testing.T) {
	ftRunErr(t, flattenStage(t, ""), stream.Record{Value: map[string]any{"a.b": 1, "a": map[string]any{"b": 2}}}, `"a.b"`)
	inner := stream.NewStruct("").Field("b", stream.Int8Schema()).MustBuild()
	schema := stream.NewStruct("").Field("a.b", stream.Int8Schema()).Field("a", inner).MustBuild()
	ftRunErr(t, flattenStage(t, ""), stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "a.b", int8(1), "a", ftStruct(t, inner, "b", int8(2)))}, `"a.b"`)
	ftRunErr(t, flattenStage(t, ""), stream.Record{Value: map[string]any{"s": ftStruct(t, inner, "b", int8(2))}}, `"s"`, "is struct")
}
