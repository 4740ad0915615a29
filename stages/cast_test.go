package stages_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's CastTest.java (connect/transforms/src/test/java/org/apache/kafka/
// connect/transforms/CastTest.java) are named after the Java test they come from.

const millisPerDay = 24 * 60 * 60 * 1000

var castSpecTypes = map[string]stream.Type{"int8": stream.TypeInt8, "int16": stream.TypeInt16, "int32": stream.TypeInt32,
	"int64": stream.TypeInt64, "float32": stream.TypeFloat32, "float64": stream.TypeFloat64, "boolean": stream.TypeBoolean,
	"string": stream.TypeString}

func TestCastConfig(t *testing.T) {
	for _, tc := range []struct {
		name, spec, mention string
	}{
		{"testConfigEmpty", "", "spec"},
		{"blank", "  ", "spec"},
		{"testConfigInvalidSchemaType", "foo:faketype", "faketype"},
		{"testConfigInvalidTargetType", "foo:array", "array"},
		{"testUnsupportedTargetType", "foo:bytes", "bytes"},
		{"testConfigInvalidMap", "foo:int8:extra", "foo:int8:extra"},
		{"testConfigMixWholeAndFieldTransformation", "foo:int8,int32", "only entry"},
		{"two whole-value types", "int8,int16", "only entry"},
		{"no field name", ":int8", "no field name"},
		{"empty entry", "a:int8,,b:int16", "empty entry"},
		{"field cast twice", "a:int8,a:int16", `"a" twice`},
		{"stream type name", "a:double", "double"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := stages.Cast("cast", tc.spec)
			ftConfigErr(t, s, err, "spec", tc.mention, `stage "cast"`)
		})
	}
	for _, spec := range []string{"int8", " INT64 ", "a:int8, b : Float64,c:BOOLEAN", "a:string"} {
		if _, err := stages.Cast("cast", spec); err != nil {
			t.Errorf("spec %q: %v", spec, err)
		}
	}
}

// castNullValueRecordWithSchema, castNullValueRecordSchemaless, castNullKeyRecordWithSchema,
// castNullKeyRecordSchemaless: a nil key or value passes through.
func TestCastNullPassesThrough(t *testing.T) {
	value, _ := stages.Cast("cast", "foo:int64")
	key, _ := stages.Cast("cast", "foo:int64", stages.OnKey())
	for name, tc := range map[string]struct {
		stage stages.Stage
		rec   stream.Record
	}{
		"value with schema": {value, stream.Record{KeySchema: stream.StringSchema(), Key: "key", ValueSchema: stream.StringSchema()}},
		"value schemaless":  {value, stream.Record{KeySchema: stream.StringSchema(), Key: "key"}},
		"key with schema":   {key, stream.Record{KeySchema: stream.StringSchema(), ValueSchema: stream.StringSchema(), Value: "value"}},
		"key schemaless":    {key, stream.Record{ValueSchema: stream.StringSchema(), Value: "value"}},
	} {
		t.Run(name, func(t *testing.T) {
			out := ftRun(t, tc.stage, tc.rec)
			if out.Key != tc.rec.Key || out.Value != tc.rec.Value || out.KeySchema != tc.rec.KeySchema || out.ValueSchema != tc.rec.ValueSchema {
				t.Errorf("record changed: %+v", out)
			}
		})
	}
}

// castWholeRecordValueWithSchema* and castWholeRecordValueSchemaless*: the int32 42 cast to each type.
func TestCastWholeValue(t *testing.T) {
	for _, tc := range []struct {
		spec string
		in   any
		want any
	}{
		{"int8", int32(42), int8(42)},
		{"int16", int32(42), int16(42)},
		{"int32", int32(42), int32(42)},
		{"int64", int32(42), int64(42)},
		{"float32", int32(42), float32(42)},
		{"float64", int32(42), float64(42)},
		{"boolean", int32(42), true},
		{"boolean", int32(0), false},
		{"string", int32(42), "42"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := stages.Cast("cast", tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			out := ftRun(t, s, stream.Record{ValueSchema: stream.Int32Schema(), Value: tc.in})
			ftSameValue(t, "with schema", out.Value, tc.want)
			ftSameSchema(t, "schema", out.ValueSchema, &stream.Schema{Type: castSpecTypes[tc.spec]})
			out = ftRun(t, s, stream.Record{Value: tc.in})
			ftSameValue(t, "schemaless", out.Value, tc.want)
			if out.ValueSchema != nil {
				t.Errorf("schemaless cast got schema %v", out.ValueSchema)
			}
		})
	}
}

func TestCastWholeValueDetails(t *testing.T) {
	toString, _ := stages.Cast("cast", "string")
	toInt32, _ := stages.Cast("cast", "int32")

	// castWholeBigDecimalRecordValueWithSchemaString
	out := ftRun(t, toString, stream.Record{ValueSchema: stream.DecimalSchema(0), Value: stream.NewDecimal(42, 0)})
	ftSameValue(t, "decimal", out.Value, "42")
	ftSameSchema(t, "decimal schema", out.ValueSchema, stream.StringSchema())

	// castWholeDateRecordValueWithSchemaString: a day and a millisecond is written as a timestamp.
	ts := time.UnixMilli(millisPerDay + 1).UTC()
	out = ftRun(t, toString, stream.Record{ValueSchema: stream.TimestampSchema(), Value: ts})
	ftSameValue(t, "timestamp", out.Value, "1970-01-02T00:00:00.001Z")

	// castWholeRecordDefaultValue: the schema's default is cast too.
	out = ftRun(t, toInt32, stream.Record{ValueSchema: stream.Float32Schema().WithDefault(float32(-42.125)), Value: float32(42.125)})
	ftSameValue(t, "value", out.Value, int32(42))
	ftSameSchema(t, "schema", out.ValueSchema, stream.Int32Schema().WithDefault(int32(-42)))

	// castWholeRecordKeyWithSchema, castWholeRecordKeySchemaless
	toInt8Key, _ := stages.Cast("cast", "int8", stages.OnKey())
	out = ftRun(t, toInt8Key, stream.Record{KeySchema: stream.Int32Schema(), Key: int32(42), ValueSchema: stream.StringSchema(), Value: "bogus"})
	ftSameValue(t, "key", out.Key, int8(42))
	ftSameSchema(t, "key schema", out.KeySchema, stream.Int8Schema())
	ftSameValue(t, "value", out.Value, "bogus")
	out = ftRun(t, toInt8Key, stream.Record{Key: int32(42), ValueSchema: stream.StringSchema(), Value: "bogus"})
	ftSameValue(t, "schemaless key", out.Key, int8(42))

	// castWholeRecordValueSchemalessUnsupportedType
	toInt8, _ := stages.Cast("cast", "int8")
	ftRunErr(t, toInt8, stream.Record{Value: []any{"foo"}}, "value", "array")

	// A named schema keeps its name, version and doc (Connect's copySchemaBasics); a logical one does not,
	// or a Date cast to int32 would still claim to be a Date.
	named := stream.Int64Schema().WithName("ids.Id").WithVersion(3).WithDoc("an id").AsOptional()
	out = ftRun(t, toInt32, stream.Record{ValueSchema: named, Value: int64(7)})
	ftSameSchema(t, "named", out.ValueSchema, stream.Int32Schema().WithName("ids.Id").WithVersion(3).WithDoc("an id").AsOptional())
	out = ftRun(t, toInt32, stream.Record{ValueSchema: stream.DateSchema(), Value: time.UnixMilli(3 * millisPerDay).UTC()})
	ftSameValue(t, "date as int32", out.Value, int32(3))
	ftSameSchema(t, "date as int32 schema", out.ValueSchema, stream.Int32Schema())
	if err := out.ValueSchema.Validate(out.Value); err != nil {
		t.Error(err)
	}
}

// castLogicalToPrimitive
func TestCastLogicalToPrimitive(t *testing.T) {
	s, err := stages.Cast("cast", "date_to_int32:int32,timestamp_to_int64:int64,time_to_int64:int64,"+
		"decimal_to_int32:int32,timestamp_to_float64:float64,null_timestamp_to_int32:int32")
	if err != nil {
		t.Fatal(err)
	}
	schema := stream.NewStruct("").
		Field("date_to_int32", stream.DateSchema()).
		Field("timestamp_to_int64", stream.TimestampSchema()).
		Field("time_to_int64", stream.TimeSchema()).
		Field("decimal_to_int32", stream.DecimalSchema(0)).
		Field("timestamp_to_float64", stream.TimestampSchema()).
		Field("null_timestamp_to_int32", stream.TimestampSchema().AsOptional()).
		MustBuild()
	value := ftStruct(t, schema,
		"date_to_int32", time.UnixMilli(millisPerDay).UTC(),
		"timestamp_to_int64", time.UnixMilli(0).UTC(),
		"time_to_int64", time.UnixMilli(1).UTC(),
		"decimal_to_int32", stream.NewDecimal(math.MaxInt32+1, 0),
		"timestamp_to_float64", time.UnixMilli(math.MaxInt64).UTC())
	out := ftRun(t, s, stream.Record{ValueSchema: schema, Value: value})
	got := out.Value.(*stream.Struct)
	for field, want := range map[string]any{
		"date_to_int32":           int32(1),
		"timestamp_to_int64":      int64(0),
		"time_to_int64":           int64(1),
		"decimal_to_int32":        int32(math.MinInt32),
		"timestamp_to_float64":    9.223372036854776e18,
		"null_timestamp_to_int32": nil,
	} {
		ftSameValue(t, field, got.Get(field), want)
	}
	ftSameSchema(t, "schema", out.ValueSchema, stream.NewStruct("").
		Field("date_to_int32", stream.Int32Schema()).
		Field("timestamp_to_int64", stream.Int64Schema()).
		Field("time_to_int64", stream.Int64Schema()).
		Field("decimal_to_int32", stream.Int32Schema()).
		Field("timestamp_to_float64", stream.Float64Schema()).
		Field("null_timestamp_to_int32", stream.Int32Schema().AsOptional()).
		MustBuild())
}

// castLogicalToString
func TestCastLogicalToString(t *testing.T) {
	s, _ := stages.Cast("cast", "date:string,decimal:string,time:string,timestamp:string")
	schema := stream.NewStruct("").
		Field("date", stream.DateSchema()).
		Field("decimal", stream.DecimalSchema(0)).
		Field("time", stream.TimeSchema()).
		Field("timestamp", stream.TimestampSchema()).
		MustBuild()
	value := ftStruct(t, schema,
		"date", time.UnixMilli(millisPerDay).UTC(),
		"decimal", stream.NewDecimal(1982, 0),
		"time", time.UnixMilli(60*60*1000).UTC(),
		"timestamp", time.Date(2024, 2, 29, 13, 4, 5, 678e6, time.UTC))
	got := ftRun(t, s, stream.Record{ValueSchema: schema, Value: value}).Value.(*stream.Struct)
	for field, want := range map[string]string{
		"date": "1970-01-02", "decimal": "1982", "time": "01:00:00.000Z", "timestamp": "2024-02-29T13:04:05.678Z",
	} {
		ftSameValue(t, field, got.Get(field), want)
		if f, _ := got.Schema().Field(field); f.Schema.Type != stream.TypeString {
			t.Errorf("%s schema is %s", field, f.Schema.Type)
		}
	}
}

// castFieldsWithSchema
func TestCastFieldsWithSchema(t *testing.T) {
	s, err := stages.Cast("cast", "int8:int16,int16:int32,int32:int64,int64:boolean,float32:float64,float64:boolean,"+
		"boolean:int8,string:int32,bigdecimal:string,date:string,optional:int32,bytes:string")
	if err != nil {
		t.Fatal(err)
	}
	bytes := []byte{0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}
	schema := stream.NewStruct("").
		Field("int8", stream.Int8Schema()).
		Field("int16", stream.Int16Schema().AsOptional()).
		Field("int32", stream.Int32Schema().WithDefault(int32(2))).
		Field("int64", stream.Int64Schema()).
		Field("float32", stream.Float32Schema()).
		Field("float64", stream.Float64Schema().WithDefault(-1.125)).
		Field("boolean", stream.BooleanSchema()).
		Field("string", stream.StringSchema()).
		Field("bigdecimal", stream.DecimalSchema(0)).
		Field("date", stream.DateSchema()).
		Field("optional", stream.Float32Schema().AsOptional()).
		Field("timestamp", stream.TimestampSchema()).
		Field("bytes", stream.BytesSchema()).
		MustBuild()
	day := time.UnixMilli(millisPerDay).UTC()
	value := ftStruct(t, schema, "int8", int8(8), "int16", int16(16), "int32", int32(32), "int64", int64(64),
		"float32", float32(32), "float64", -64.0, "boolean", true, "bigdecimal", stream.NewDecimal(42, 0),
		"date", day, "string", "42", "timestamp", time.UnixMilli(0).UTC(), "bytes", bytes)
	out := ftRun(t, s, stream.Record{ValueSchema: schema, Value: value})
	got := out.Value.(*stream.Struct)
	for field, want := range map[string]any{
		"int8": int16(8), "int16": int32(16), "int32": int64(32), "int64": true, "float32": 32.0, "float64": true,
		"boolean": int8(1), "string": int32(42), "bigdecimal": "42", "date": "1970-01-02",
		"timestamp": time.UnixMilli(0).UTC(), "bytes": "/ty6mHZUMhA=", "optional": nil,
	} {
		ftSameValue(t, field, got.Get(field), want)
	}
	ftSameSchema(t, "schema", out.ValueSchema, stream.NewStruct("").
		Field("int8", stream.Int16Schema()).
		Field("int16", stream.Int32Schema().AsOptional()).
		Field("int32", stream.Int64Schema().WithDefault(int64(2))).
		Field("int64", stream.BooleanSchema()).
		Field("float32", stream.Float64Schema()).
		Field("float64", stream.BooleanSchema().WithDefault(true)).
		Field("boolean", stream.Int8Schema()).
		Field("string", stream.Int32Schema()).
		Field("bigdecimal", stream.StringSchema()).
		Field("date", stream.StringSchema()).
		Field("optional", stream.Int32Schema().AsOptional()).
		Field("timestamp", stream.TimestampSchema()).
		Field("bytes", stream.StringSchema()).
		MustBuild())
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
}

// castFieldsSchemaless
func TestCastFieldsSchemaless(t *testing.T) {
	s, _ := stages.Cast("cast", "int8:int16,int16:int32,int32:int64,int64:boolean,float32:float64,float64:boolean,boolean:int8,string:int32,missing:int8")
	in := map[string]any{"int8": int8(8), "int16": int16(16), "int32": int32(32), "int64": int64(64),
		"float32": float32(32), "float64": -64.0, "boolean": true, "string": "42", "other": "kept"}
	out := ftRun(t, s, stream.Record{Value: in})
	ftSameValue(t, "value", out.Value, map[string]any{"int8": int16(8), "int16": int32(16), "int32": int64(32),
		"int64": true, "float32": 32.0, "float64": true, "boolean": int8(1), "string": int32(42), "other": "kept"})
	if out.ValueSchema != nil {
		t.Errorf("schema %v", out.ValueSchema)
	}
	ftSameValue(t, "input unchanged", in["int8"], int8(8))
}

// Java's conversions, one value at a time (schemaless whole-value casts).
func TestCastJavaConversions(t *testing.T) {
	dec := func(s string) stream.Decimal {
		d, err := stream.ParseDecimal(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		spec string
		in   any
		want any
	}{
		{"int8", int32(300), int8(44)},                      // (byte) 300
		{"int16", int64(70000), int16(4464)},                // (short) 70000
		{"int32", int64(1) << 40, int32(0)},                 // (int) 2^40
		{"int32", 1e10, int32(math.MaxInt32)},               // double to int saturates
		{"int32", -1.9, int32(-1)},                          // and truncates toward zero
		{"int64", math.NaN(), int64(0)},                     // NaN is 0
		{"int8", 1000.0, int8(-24)},                         // (byte)(int) 1000.0
		{"int32", dec("-12.99"), int32(-12)},                // BigDecimal.intValue
		{"int64", dec("1E+20"), int64(7766279631452241920)}, // low 64 bits of 10^20
		{"boolean", 0.5, false},                             // longValue() != 0
		{"boolean", dec("-0.1"), false},
		{"boolean", int8(-1), true},
		{"boolean", "TRUE", true},
		{"boolean", "yes", false},
		{"int8", true, int8(1)},
		{"float32", false, float32(0)},
		{"int32", "+42", int32(42)},
		{"int64", "-9223372036854775808", int64(math.MinInt64)},
		{"float64", " 1.5e3 ", 1500.0},
		{"float64", "2.5d", 2.5},
		{"float32", "1e50", float32(math.Inf(1))},
		{"float64", dec("0.1"), 0.1},
		{"float32", int64(16777217), float32(16777216)},
		{"string", float32(32), "32.0"},
		{"string", 1e7, "1.0E7"},
		{"string", 0.001, "0.001"},
		{"string", 1.5e-4, "1.5E-4"},
		{"string", math.Copysign(0, -1), "-0.0"},
		{"string", math.Inf(-1), "-Infinity"},
		{"string", math.SmallestNonzeroFloat64, "4.9E-324"},
		{"string", float32(1e10), "1.0E10"},
		{"string", 123456.7, "123456.7"},
		{"string", float32(0.1), "0.1"},
		{"string", dec("1.5E-7"), "1.5E-7"},
		{"string", dec("1E+3"), "1E+3"},
		{"string", dec("0.0000012"), "0.0000012"},
		{"string", true, "true"},
		{"string", []byte("hi"), "aGk="},
		{"string", time.UnixMilli(-1).UTC(), "23:59:59.999Z"},
		{"int64", time.UnixMilli(1234).UTC(), int64(1234)}, // a schemaless time is a Timestamp
	} {
		s, err := stages.Cast("cast", tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		out := ftRun(t, s, stream.Record{Value: tc.in})
		ftSameValue(t, fmt.Sprintf("%s of %T %v", tc.spec, tc.in, tc.in), out.Value, tc.want)
	}
}

func TestCastRecordErrors(t *testing.T) {
	toInt32, _ := stages.Cast("cast", "n:int32")
	for name, tc := range map[string]struct {
		rec     stream.Record
		mention []string
	}{
		"unparsable string": {stream.Record{Value: map[string]any{"n": "abc"}}, []string{`value field "n"`, `"abc"`}},
		"out of range":      {stream.Record{Value: map[string]any{"n": "3000000000"}}, []string{`field "n"`}},
		"bytes":             {stream.Record{Value: map[string]any{"n": []byte{1}}}, []string{`field "n"`, "bytes can only be cast to string"}},
		"nested map":        {stream.Record{Value: map[string]any{"n": map[string]any{}}}, []string{`field "n"`, "map with string keys"}},
		"not a map":         {stream.Record{Value: "text"}, []string{"value", "string"}},
		"not a struct": {stream.Record{ValueSchema: stream.NewStruct("").Field("n", stream.StringSchema()).MustBuild(), Value: map[string]any{"n": "1"}},
			[]string{"is map with string keys; with a schema it must be a struct"}},
		"struct field": {func() stream.Record {
			inner := stream.NewStruct("").Field("x", stream.Int8Schema()).MustBuild()
			schema := stream.NewStruct("").Field("n", inner).MustBuild()
			return stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "n", ftStruct(t, inner, "x", int8(1)))}
		}(), []string{`field "n"`, "cannot cast from struct"}},
		"schema not a struct": {stream.Record{ValueSchema: stream.StringSchema(), Value: "1"}, []string{"value", "must be a struct", "stages.ParseJSON"}},
	} {
		t.Run(name, func(t *testing.T) { ftRunErr(t, toInt32, tc.rec, tc.mention...) })
	}
}

// Connect fails on a struct schema with a default (it tries to cast the default struct itself); Sluice
// casts the default's fields like a value's. A field default that does not cast is an error for the record.
func TestCastDefaults(t *testing.T) {
	s, _ := stages.Cast("cast", "n:string")
	base := stream.NewStruct("s").Field("n", stream.Int32Schema().AsOptional()).Optional().MustBuild()
	schema := base.WithDefault(ftStruct(t, base, "n", int32(5)))
	out := ftRun(t, s, stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "n", int32(6))})
	ftSameValue(t, "value", out.Value.(*stream.Struct).Get("n"), "6")
	ftSameValue(t, "default", out.ValueSchema.Default.(*stream.Struct).Get("n"), "5")
	if !out.ValueSchema.Optional {
		t.Error("optional lost")
	}
	if err := out.ValueSchema.Check(); err != nil {
		t.Error(err)
	}

	toInt, _ := stages.Cast("cast", "n:int32")
	bad := stream.NewStruct("").Field("n", stream.StringSchema().WithDefault("abc")).MustBuild()
	ftRunErr(t, toInt, stream.Record{ValueSchema: bad, Value: ftStruct(t, bad, "n", "1")}, `field "n"`, "default value", `"abc"`)
}
