package stages_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's MaskFieldTest.java are named after the Java test they come from.

var maskSchema = stream.NewStruct("").
	Field("magic", stream.Int32Schema()).
	Field("bool", stream.BooleanSchema()).
	Field("byte", stream.Int8Schema()).
	Field("short", stream.Int16Schema()).
	Field("int", stream.Int32Schema()).
	Field("long", stream.Int64Schema()).
	Field("float", stream.Float32Schema()).
	Field("double", stream.Float64Schema()).
	Field("string", stream.StringSchema()).
	Field("date", stream.DateSchema()).
	Field("time", stream.TimeSchema()).
	Field("timestamp", stream.TimestampSchema()).
	Field("decimal", stream.DecimalSchema(0)).
	Field("array", stream.ArrayOf(stream.Int32Schema())).
	Field("map", stream.MapOf(stream.StringSchema(), stream.StringSchema())).
	Field("optional", stream.StringSchema().AsOptional()).
	MustBuild()

func maskValues(t *testing.T) (map[string]any, *stream.Struct) {
	now := time.Now().UTC()
	schemaless := map[string]any{
		"magic": int32(42), "bool": true, "byte": int8(42), "short": int16(42), "int": int32(42), "long": int64(42),
		"float": float32(42), "double": 42.0, "string": "55.121.20.20", "date": now, "bigdec": stream.NewDecimal(420, 1),
		"list": []any{int32(42)}, "map": map[string]any{"key": "value"}, "null": nil,
	}
	withSchema := ftStruct(t, maskSchema,
		"magic", int32(42), "bool", true, "byte", int8(42), "short", int16(42), "int", int32(42), "long", int64(42),
		"float", float32(42), "double", 42.0, "string", "hmm",
		"date", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "time", time.UnixMilli(1234).UTC(), "timestamp", now,
		"decimal", stream.NewDecimal(42, 0), "array", []any{int32(1), int32(2), int32(3)}, "map", map[string]any{"what": "what"})
	return schemaless, withSchema
}

func TestMaskFieldConfig(t *testing.T) {
	s, err := stages.MaskField("mask", stages.MaskFieldConfig{})
	ftConfigErr(t, s, err, "Fields", `stage "mask"`)
	s, err = stages.MaskField("mask", stages.MaskFieldConfig{Fields: []string{"a", ""}})
	ftConfigErr(t, s, err, "Fields", "empty")
	ftConfigErr(t, nil, stages.MaskFieldConfig{Fields: []string{"a", "a"}}.Validate(), "Fields", `"a"`)
}

// testSchemaless
func TestMaskFieldSchemaless(t *testing.T) {
	in, _ := maskValues(t)
	var fields []string
	for f := range in {
		if f != "magic" {
			fields = append(fields, f)
		}
	}
	s, err := stages.MaskField("mask", stages.MaskFieldConfig{Fields: append(fields, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	out := ftRun(t, s, stream.Record{Value: in})
	ftSameValue(t, "value", out.Value, map[string]any{
		"magic": int32(42), "bool": false, "byte": int8(0), "short": int16(0), "int": int32(0), "long": int64(0),
		"float": float32(0), "double": 0.0, "string": "", "date": time.Unix(0, 0).UTC(), "bigdec": stream.NewDecimal(0, 1),
		"list": []any{}, "map": map[string]any{}, "null": nil,
	})
	ftSameValue(t, "input unchanged", in["string"], "55.121.20.20")
}

// testWithSchema
func TestMaskFieldWithSchema(t *testing.T) {
	_, in := maskValues(t)
	var fields []string
	for _, f := range maskSchema.Fields {
		if f.Name != "magic" {
			fields = append(fields, f.Name)
		}
	}
	s, _ := stages.MaskField("mask", stages.MaskFieldConfig{Fields: fields})
	out := ftRun(t, s, stream.Record{ValueSchema: maskSchema, Value: in})
	if out.ValueSchema != maskSchema {
		t.Error("schema changed")
	}
	epoch := time.Unix(0, 0).UTC()
	ftSameValue(t, "value", out.Value, ftStruct(t, maskSchema,
		"magic", int32(42), "bool", false, "byte", int8(0), "short", int16(0), "int", int32(0), "long", int64(0),
		"float", float32(0), "double", 0.0, "string", "", "date", epoch, "time", epoch, "timestamp", epoch,
		"decimal", stream.NewDecimal(0, 0), "array", []any{}, "map", map[string]any{}))
}

// testSchemalessWithReplacement, testWithSchemaAndReplacement
func TestMaskFieldReplacement(t *testing.T) {
	schemaless, withSchema := maskValues(t)
	for _, tc := range []struct {
		field, replacement string
		want               any
	}{
		{"short", "123", int16(123)},
		{"byte", "123", int8(123)},
		{"int", "123", int32(123)},
		{"long", "123", int64(123)},
		{"float", "123.0", float32(123)},
		{"double", "123.0", 123.0},
		{"string", "123", "123"},
	} {
		s, err := stages.MaskField("mask", stages.MaskFieldConfig{Fields: []string{tc.field}, Replacement: tc.replacement})
		if err != nil {
			t.Fatal(err)
		}
		out := ftRun(t, s, stream.Record{Value: schemaless})
		ftSameValue(t, "schemaless "+tc.field, out.Value.(map[string]any)[tc.field], tc.want)
		out = ftRun(t, s, stream.Record{ValueSchema: maskSchema, Value: withSchema})
		ftSameValue(t, "with schema "+tc.field, out.Value.(*stream.Struct).Get(tc.field), tc.want)
	}
	// Decimals: the value as written schemaless, at the field's scale with a schema.
	s, _ := stages.MaskField("mask", stages.MaskFieldConfig{Fields: []string{"bigdec", "decimal"}, Replacement: "123.0"})
	ftSameValue(t, "bigdec", ftRun(t, s, stream.Record{Value: schemaless}).Value.(map[string]any)["bigdec"], stream.NewDecimal(1230, 1))
	ftSameValue(t, "decimal", ftRun(t, s, stream.Record{ValueSchema: maskSchema, Value: withSchema}).Value.(*stream.Struct).Get("decimal"), stream.NewDecimal(123, 0))
}

// testSchemalessUnsupportedReplacementType, testWithSchemaUnsupportedReplacementType,
// testReplacementTypeMismatch; plus types Connect cannot mask at all.
func TestMaskFieldErrors(t *testing.T) {
	schemaless, withSchema := maskValues(t)
	for _, tc := range []struct {
		field, replacement string
		schema             bool
		mention            string
	}{
		{"date", "x", false, "replacement"},
		{"bool", "false", false, "replacement"},
		{"list", "123", false, "replacement"},
		{"map", "321", false, "replacement"},
		{"time", "1", true, "replacement"},
		{"timestamp", "1", true, "replacement"},
		{"array", "123", true, "replacement"},
		{"byte", "foo", false, `"foo"`},
		{"short", "foo", false, `"foo"`},
		{"int", "foo", false, `"foo"`},
		{"long", "foo", false, `"foo"`},
		{"float", "foo", false, `"foo"`},
		{"double", "foo", false, `"foo"`},
		{"bigdec", "foo", false, `"foo"`},
		{"byte", "300", false, `"300"`},
		{"decimal", "1.5", true, `"1.5"`},
	} {
		s, _ := stages.MaskField("mask", stages.MaskFieldConfig{Fields: []string{tc.field}, Replacement: tc.replacement})
		rec := stream.Record{Value: schemaless}
		if tc.schema {
			rec = stream.Record{ValueSchema: maskSchema, Value: withSchema}
		}
		ftRunErr(t, s, rec, `field "`+tc.field+`"`, tc.mention)
	}
	s, _ := stages.MaskField("mask", stages.MaskFieldConfig{Fields: []string{"b"}})
	ftRunErr(t, s, stream.Record{Value: map[string]any{"b": []byte("secret")}}, `field "b"`, "bytes")
}

func TestMaskFieldNulls(t *testing.T) {
	s, _ := stages.MaskField("mask", stages.MaskFieldConfig{Fields: []string{"optional"}})
	for _, rec := range []stream.Record{{Key: "k"}, {Key: "k", ValueSchema: maskSchema}} {
		out := ftRun(t, s, rec)
		if out.Value != nil || out.ValueSchema != rec.ValueSchema {
			t.Errorf("tombstone: %+v", out)
		}
	}
	_, in := maskValues(t)
	out := ftRun(t, s, stream.Record{ValueSchema: maskSchema, Value: in})
	ftSameValue(t, "nil field", out.Value.(*stream.Struct).Get("optional"), nil)
}
