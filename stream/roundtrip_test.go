package stream

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

type roundTripCase struct {
	name   string
	schema *Schema
	v      any
}

// roundTripCases covers every schema type with edge values.
func roundTripCases(t testing.TB) []roundTripCase {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	address := NewStruct("shop.Address").
		Field("street", StringSchema()).
		Field("zip", Int32Schema().AsOptional()).
		Field("geo", NewStruct("shop.Geo").Field("lat", Float64Schema()).Field("lon", Float64Schema()).Optional().MustBuild()).
		MustBuild()
	geo, _ := address.Field("geo")
	line := NewStruct("shop.Line").Field("sku", StringSchema()).Field("qty", Int16Schema()).
		Field("price", DecimalSchema(30).WithParameter("connect.decimal.precision", "65")).MustBuild()
	withDefaults := NewStruct("defaults").
		Field("n", Int32Schema().WithDefault(int32(7))).
		Field("s", StringSchema().AsOptional().WithDefault("dflt")).
		Field("d", DecimalSchema(2).WithDefault(NewDecimal(-1, 2))).
		Field("day", DateSchema().WithDefault(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))).
		Field("list", ArrayOf(Int8Schema()).WithDefault([]any{int8(1), int8(2)})).
		MustBuild()
	order := NewStruct("shop.Order").
		Field("id", Int64Schema()).
		Field("shipping", address).
		Field("billing", address.AsOptional()).
		Field("lines", ArrayOf(line)).
		Field("attrs", MapOf(StringSchema(), StringSchema().AsOptional())).
		Field("placed", TimestampSchema()).
		Version(3).Doc("an order").
		MustBuild()
	addr := structOf(t, address, "street", "1 Main St \"Apt\" 2\n", "zip", int32(10115),
		"geo", structOf(t, geo.Schema, "lat", 52.52, "lon", 13.405))
	maxDec := bigDec(t, strings.Repeat("9", 65), 30)
	minDec := bigDec(t, "-"+strings.Repeat("9", 65), 30)
	selfDefault := NewStruct("self").Field("x", Int32Schema()).MustBuild()
	selfDefault.Default = structOf(t, selfDefault, "x", int32(-1))
	nines38 := strings.Repeat("9", 38)
	dec38 := func(scale int) *Schema {
		return DecimalSchema(scale).WithParameter("connect.decimal.precision", "38")
	}
	microTimestamp := Int64Schema().WithName("io.debezium.time.MicroTimestamp")
	mapsOfStructs := MapOf(StringSchema(), MapOf(StringSchema(), address))

	return []roundTripCase{
		{"int8 min", Int8Schema(), int8(math.MinInt8)},
		{"int8 max", Int8Schema(), int8(math.MaxInt8)},
		{"int16 min", Int16Schema(), int16(math.MinInt16)},
		{"int16 max", Int16Schema(), int16(math.MaxInt16)},
		{"int32 min", Int32Schema(), int32(math.MinInt32)},
		{"int32 max", Int32Schema(), int32(math.MaxInt32)},
		{"int64 min", Int64Schema(), int64(math.MinInt64)},
		{"int64 max", Int64Schema(), int64(math.MaxInt64)},
		{"float max", Float32Schema(), float32(math.MaxFloat32)},
		{"float smallest", Float32Schema(), float32(math.SmallestNonzeroFloat32)},
		{"float tenth", Float32Schema(), float32(0.1)},
		{"float NaN", Float32Schema(), float32(math.NaN())},
		{"float -Inf", Float32Schema(), float32(math.Inf(-1))},
		{"double max", Float64Schema(), math.MaxFloat64},
		{"double smallest", Float64Schema(), math.SmallestNonzeroFloat64},
		{"double -0", Float64Schema(), math.Copysign(0, -1)},
		{"double NaN", Float64Schema(), math.NaN()},
		{"double +Inf", Float64Schema(), math.Inf(1)},
		{"double 1e-7", Float64Schema(), 1e-7},
		{"boolean", BooleanSchema(), false},
		{"string empty", StringSchema(), ""},
		{"string unicode", StringSchema(), "Grüße ☃ 😀 \u2028 <&> \x00\x1f\"\\"},
		{"bytes empty", BytesSchema(), []byte{}},
		{"bytes all", BytesSchema(), allBytes},
		{"array empty", ArrayOf(StringSchema()), []any{}},
		{"array optional items", ArrayOf(Int64Schema().AsOptional()), []any{int64(1), nil, int64(-1)}},
		{"array of arrays", ArrayOf(ArrayOf(BooleanSchema())), []any{[]any{true}, []any{}, []any{false, true}}},
		{"array of structs", ArrayOf(address), []any{addr, structOf(t, address, "street", "", "geo", nil)}},
		{"map string keys", MapOf(StringSchema(), address), map[string]any{"home": addr, "": addr}},
		{"map empty", MapOf(StringSchema(), Int8Schema()), map[string]any{}},
		{"map int64 keys", MapOf(Int64Schema(), StringSchema()), map[any]any{int64(math.MinInt64): "min", int64(0): "zero"}},
		{"map boolean keys", MapOf(BooleanSchema(), Float64Schema()), map[any]any{true: 1.5, false: -2.0}},
		{"map decimal keys", MapOf(DecimalSchema(1), Int8Schema()), map[any]any{NewDecimal(15, 1): int8(1), NewDecimal(-15, 1): int8(2)}},
		{"map optional keys", MapOf(Int32Schema().AsOptional(), Int32Schema()), map[any]any{nil: int32(0), int32(1): int32(1)}},
		{"map struct keys", MapOf(geo.Schema, StringSchema()), map[any]any{structOf(t, geo.Schema, "lat", 1.0, "lon", 2.0): "a"}},
		{"map of maps", MapOf(StringSchema(), MapOf(Int16Schema(), ArrayOf(StringSchema()))),
			map[string]any{"a": map[any]any{int16(1): []any{"x"}}}},
		{"struct nested", order, structOf(t, order, "id", int64(1), "shipping", addr, "billing", nil,
			"lines", []any{structOf(t, line, "sku", "A-1", "qty", int16(2), "price", maxDec),
				structOf(t, line, "sku", "B-2", "qty", int16(-1), "price", minDec)},
			"attrs", map[string]any{"gift": "yes", "note": nil},
			"placed", time.UnixMilli(1700000000123).UTC())},
		{"struct optional nil", address.AsOptional(), nil},
		{"struct defaults", withDefaults, structOf(t, withDefaults)},
		{"struct self default", selfDefault, nil},
		{"decimal 65,30 max", DecimalSchema(30), maxDec},
		{"decimal 65,30 min", DecimalSchema(30), minDec},
		{"decimal tiny", DecimalSchema(30), bigDec(t, "1", 30)},
		{"decimal zero", DecimalSchema(30), bigDec(t, "0", 30)},
		{"decimal negative scale", DecimalSchema(-3), NewDecimal(-12, -3)},
		{"decimal 38,0 max", dec38(0), bigDec(t, nines38, 0)},
		{"decimal 38,0 min", dec38(0), bigDec(t, "-"+nines38, 0)},
		{"decimal 38,10 max", dec38(10), bigDec(t, nines38, 10)},
		{"decimal 38,10 negative", dec38(10), bigDec(t, "-1", 10)},
		{"decimal 38,38 max", dec38(38), bigDec(t, nines38, 38)},
		{"decimal 38,38 min", dec38(38), bigDec(t, "-"+nines38, 38)},
		{"micro timestamp", microTimestamp, int64(1700000000123456)},
		{"micro timestamp before epoch", microTimestamp, int64(-1)},
		{"micro timestamp min", microTimestamp, int64(math.MinInt64)},
		{"nested maps of structs", mapsOfStructs, map[string]any{"eu": map[string]any{"home": addr, "": addr}, "us": map[string]any{}}},
		{"decimal -128", DecimalSchema(0), NewDecimal(-128, 0)},
		{"date epoch", DateSchema(), time.Unix(0, 0).UTC()},
		{"date min", DateSchema(), dateFromDays(math.MinInt32)},
		{"date max", DateSchema(), dateFromDays(math.MaxInt32)},
		{"date before epoch", DateSchema(), time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"time midnight", TimeSchema(), time.Unix(0, 0).UTC()},
		{"time last ms", TimeSchema(), time.UnixMilli(millisPerDay - 1).UTC()},
		{"timestamp min", TimestampSchema(), time.UnixMilli(math.MinInt64).UTC()},
		{"timestamp max", TimestampSchema(), time.UnixMilli(math.MaxInt64).UTC()},
		{"timestamp before epoch", TimestampSchema(), time.UnixMilli(-1).UTC()},
		{"optional logical nil", TimestampSchema().AsOptional(), nil},
		{"metadata nested", ArrayOf(Int8Schema().WithName("n").WithVersion(-2).WithDoc("d\"oc").
			WithParameter("b", "2").WithParameter("a", "1")).WithName("arr"), []any{int8(1)}},
		{"schemaless scalar", nil, int64(-5)},
		{"schemaless tree", nil, map[string]any{"a": []any{int64(1), NewDecimal(25, 1), "s", true, nil, map[string]any{}}}},
		{"schemaless exact numbers", nil, []any{NewDecimal(200, 2), dec(t, "-18446744073709551615"),
			dec(t, "12345678901234567890123456789012345.123456789012345678901234567890"), NewDecimal(10, 301)}},
	}
}

func TestJSONSchemaRoundTrip(t *testing.T) {
	var codec JSONSchemaCodec
	for _, tt := range roundTripCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.schema.Validate(tt.v); err != nil {
				t.Fatalf("test value does not validate: %v", err)
			}
			data, err := codec.Encode(tt.schema, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(data) {
				t.Fatalf("Encode wrote invalid JSON: %s", data)
			}
			schema, v, err := codec.Decode(data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			want := tt.v
			if want == nil && tt.schema != nil {
				want = tt.schema.Default
			}
			if st, ok := want.(*Struct); ok {
				want = withDefaults(st) // decoders fill unset fields with their defaults, as Connect does
			}
			if !schema.Equal(tt.schema) {
				t.Errorf("schema changed:\n got %+v\nwant %+v\njson %s", schema, tt.schema, data)
			}
			if !EqualValues(v, want) {
				t.Errorf("value changed:\n got %v\nwant %v\njson %s", v, want, data)
			}
			if err := schema.Validate(v); err != nil {
				t.Errorf("decoded value does not validate: %v", err)
			}
			again, err := codec.Encode(schema, v)
			if err != nil || !bytes.Equal(again, data) {
				t.Errorf("re-encoding differs: %v\n got %s\nwant %s", err, again, data)
			}
		})
	}
}

// The plain "json" codec writes exactly the envelope's payload, except that Decimals are numbers.
func TestJSONMatchesEnvelopePayload(t *testing.T) {
	for _, tt := range roundTripCases(t) {
		if strings.Contains(tt.name, "decimal") || strings.Contains(tt.name, "struct") {
			continue
		}
		plain, err := JSONCodec{}.Encode(tt.schema, tt.v)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		env, _ := JSONSchemaCodec{}.Encode(tt.schema, tt.v)
		var parts struct{ Payload json.RawMessage }
		if err := json.Unmarshal(env, &parts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, parts.Payload) {
			t.Errorf("%s: json %s, envelope payload %s", tt.name, plain, parts.Payload)
		}
	}
}

// TestJSONRoundTrip writes the table with the plain "json" codec and reads each payload back with its
// schema (the schema travels outside the record, as with a schema registry): the same value comes back.
func TestJSONRoundTrip(t *testing.T) {
	for _, tt := range roundTripCases(t) {
		if tt.schema == nil {
			continue // schemaless values are TestJSONSchemaRoundTrip's and the json codec tests'
		}
		t.Run(tt.name, func(t *testing.T) {
			data, err := JSONCodec{}.Encode(tt.schema, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			v, err := DecodeJSONValue(tt.schema, data)
			if err != nil {
				t.Fatalf("DecodeJSONValue(%s): %v", data, err)
			}
			want := tt.v
			if want == nil {
				want = tt.schema.Default
			}
			if st, ok := want.(*Struct); ok {
				want = withDefaults(st)
			}
			if !EqualValues(v, want) {
				t.Errorf("value changed:\n got %v\nwant %v\njson %s", v, want, data)
			}
		})
	}
}

// withDefaults returns a copy of s whose nil fields hold their field's default.
func withDefaults(s *Struct) *Struct {
	c := &Struct{schema: s.schema, values: make([]any, len(s.values))}
	for i, f := range s.schema.Fields {
		c.values[i] = s.Get(f.Name)
	}
	return c
}
