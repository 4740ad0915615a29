package stream

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestJSONEncode(t *testing.T) {
	point := NewStruct("p").Field("x", Int32Schema()).Field("y", Float32Schema().AsOptional()).MustBuild()
	tests := []struct {
		name   string
		schema *Schema
		v      any
		want   string
	}{
		{"decimal numeric", DecimalSchema(2), NewDecimal(156, 2), `1.56`},
		{"decimal trailing zeros", DecimalSchema(4), NewDecimal(15600, 4), `1.5600`},
		{"decimal rescaled", DecimalSchema(3), NewDecimal(15, 1), `1.500`},
		{"decimal tiny", DecimalSchema(8), NewDecimal(-12, 8), `-1.2E-7`},
		{"decimal schemaless", nil, NewDecimal(5, 1), `0.5`},
		{"struct", point, structOf(t, point, "x", int32(1)), `{"x":1,"y":null}`},
		{"struct schemaless", nil, structOf(t, point, "x", int32(1), "y", float32(2)), `{"x":1,"y":2.0}`},
		{"nil with optional schema", Int8Schema().AsOptional(), nil, `null`},
		{"nil with default", Int8Schema().WithDefault(int8(3)), nil, `3`},
		{"timestamp", TimestampSchema(), time.UnixMilli(-5), `-5`},
		{"schemaless time", nil, time.UnixMilli(42), `42`},
		{"schemaless NaN", nil, math.NaN(), `"NaN"`},
		{"schemaless bytes", nil, []byte("hi"), `"aGk="`},
		{"schemaless sorted keys", nil, map[string]any{"b": int8(1), "a": int16(2), "c": nil}, `{"a":2,"b":1,"c":null}`},
		{"schemaless non-string keys", nil, map[any]any{int64(2): "b", int64(1): "a"}, `[[1,"a"],[2,"b"]]`},
		{"schemaless string keys in map[any]any", nil, map[any]any{"k": true}, `{"k":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSONCodec{}.Encode(tt.schema, tt.v)
			if err != nil || string(got) != tt.want {
				t.Errorf("Encode = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	if got, err := (JSONCodec{}).Encode(nil, nil); got != nil || err != nil {
		t.Errorf("Encode(nil, nil) = %q, %v; want nil bytes", got, err)
	}
}

// Schemaless decoding yields the types Connect's JsonConverter yields with schemas.enable=false, except that
// numbers beyond int64 and numbers with a fraction or exponent are exact Decimals, not float64.
func TestJSONDecode(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{`12`, int64(12)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775808`, dec(t, "9223372036854775808")},
		{`-18446744073709551616`, dec(t, "-18446744073709551616")},
		{`12.24`, NewDecimal(1224, 2)},
		{`1e2`, NewDecimal(1, -2)},
		{`1.0`, NewDecimal(10, 1)},
		{`2.00`, NewDecimal(200, 2)},
		{`1234567890123456789.12`, dec(t, "1234567890123456789.12")},
		{`-0.0`, NewDecimal(0, 1)},
		{`0E00`, int64(0)},
		{`1.0E1`, int64(10)},
		{`1E1`, NewDecimal(1, -1)},
		{`1.7976931348623157E308`, dec(t, "17976931348623157E292")},
		{`4.9E-324`, NewDecimal(49, 325)},
		{`1e-400`, NewDecimal(1, 400)},
		{`"a string"`, "a string"},
		{` [1, "2", 3.5, null] `, []any{int64(1), "2", NewDecimal(35, 1), nil}},
		{`{ "a": "", "b": null, "c": {"d": [true]} }`, map[string]any{"a": "", "b": nil, "c": map[string]any{"d": []any{true}}}},
	}
	for _, tt := range tests {
		schema, v, err := JSONCodec{}.Decode([]byte(tt.in))
		if err != nil || schema != nil || !EqualValues(v, tt.want) {
			t.Errorf("Decode(%s) = %v, %#v, %v; want nil, %#v", tt.in, schema, v, err, tt.want)
		}
	}
	for _, in := range [][]byte{nil, {}} {
		if s, v, err := (JSONCodec{}).Decode(in); s != nil || v != nil || err != nil {
			t.Errorf("Decode(%q) = %v, %v, %v; want all nil", in, s, v, err)
		}
	}
	for _, in := range []string{`{`, `1 2`, `{"a":1}}`, `'x'`, `NaN`} {
		if _, _, err := (JSONCodec{}).Decode([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%s) error = %v, want ErrMalformed", in, err)
		}
	}
}

func TestStringCodec(t *testing.T) {
	var c StringCodec
	tests := []struct {
		v    any
		want string
	}{
		{"héllo", "héllo"},
		{[]byte("raw\xff"), "raw\xff"},
		{int8(-8), "-8"},
		{int16(16), "16"},
		{int32(32), "32"},
		{int64(math.MinInt64), "-9223372036854775808"},
		{float32(1), "1.0"},
		{1e10, "1.0E10"},
		{true, "true"},
		{NewDecimal(-5, 3), "-0.005"},
		{time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), "2024-01-02T03:04:05.000000006Z"},
	}
	for _, tt := range tests {
		got, err := c.Encode(StringSchema(), tt.v)
		if err != nil || string(got) != tt.want {
			t.Errorf("Encode(%v) = %q, %v; want %q", tt.v, got, err, tt.want)
		}
	}
	if got, err := c.Encode(nil, nil); got != nil || err != nil {
		t.Errorf("Encode(nil) = %q, %v", got, err)
	}
	for _, v := range []any{[]any{}, map[string]any{}, &Struct{}, uint(1)} {
		if _, err := c.Encode(nil, v); !errors.Is(err, ErrSchemaMismatch) {
			t.Errorf("Encode(%T) error = %v, want ErrSchemaMismatch", v, err)
		}
	}
	schema, v, err := c.Decode([]byte("x\xffy"))
	if err != nil || !schema.Equal(StringSchema().AsOptional()) || v != "x\xffy" {
		t.Errorf("Decode = %v, %q, %v", schema, v, err)
	}
	if schema, v, err := c.Decode(nil); schema != nil || v != nil || err != nil {
		t.Errorf("Decode(nil) = %v, %v, %v", schema, v, err)
	}
	if _, v, _ := c.Decode([]byte{}); v != "" {
		t.Errorf("Decode(empty) = %q, want empty string", v)
	}
}

func TestBytesCodec(t *testing.T) {
	var c BytesCodec
	for _, schema := range []*Schema{nil, BytesSchema(), BytesSchema().AsOptional()} {
		got, err := c.Encode(schema, []byte{1, 2})
		if err != nil || string(got) != "\x01\x02" {
			t.Errorf("Encode(%v) = %v, %v", schema, got, err)
		}
	}
	if got, err := c.Encode(nil, nil); got != nil || err != nil {
		t.Errorf("Encode(nil) = %v, %v", got, err)
	}
	for _, tt := range []struct {
		schema *Schema
		v      any
	}{{StringSchema(), []byte{1}}, {nil, "str"}, {DecimalSchema(2), NewDecimal(1, 2)}} {
		if _, err := c.Encode(tt.schema, tt.v); !errors.Is(err, ErrSchemaMismatch) {
			t.Errorf("Encode(%v, %v) error = %v, want ErrSchemaMismatch", tt.schema, tt.v, err)
		}
	}
	schema, v, err := c.Decode([]byte{0, 255})
	if err != nil || !schema.Equal(BytesSchema().AsOptional()) || !EqualValues(v, []byte{0, 255}) {
		t.Errorf("Decode = %v, %v, %v", schema, v, err)
	}
	if schema, v, err := c.Decode(nil); schema != nil || v != nil || err != nil {
		t.Errorf("Decode(nil) = %v, %v, %v", schema, v, err)
	}
}
