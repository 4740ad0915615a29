package stream

import (
	"bytes"
	"math"
	"strconv"
	"testing"
)

// numberCase is one number of the data model and the JSON text Connect writes for it (Java's notation).
type numberCase struct {
	name   string
	schema *Schema
	v      any
	text   string
}

func numberCases(t *testing.T) []numberCase {
	dec65 := DecimalSchema(30).WithParameter("connect.decimal.precision", "65")
	return []numberCase{
		{"int8 min", Int8Schema(), int8(math.MinInt8), "-128"},
		{"int8 zero", Int8Schema(), int8(0), "0"},
		{"int8 max", Int8Schema(), int8(math.MaxInt8), "127"},
		{"int16 min", Int16Schema(), int16(math.MinInt16), "-32768"},
		{"int16 max", Int16Schema(), int16(math.MaxInt16), "32767"},
		{"int32 min", Int32Schema(), int32(math.MinInt32), "-2147483648"},
		{"int32 max", Int32Schema(), int32(math.MaxInt32), "2147483647"},
		{"int64 min", Int64Schema(), int64(math.MinInt64), "-9223372036854775808"},
		{"int64 max", Int64Schema(), int64(math.MaxInt64), "9223372036854775807"},
		{"float32 0.1", Float32Schema(), float32(0.1), "0.1"},
		{"float32 max", Float32Schema(), float32(math.MaxFloat32), "3.4028235E38"},
		{"float32 smallest", Float32Schema(), float32(math.SmallestNonzeroFloat32), "1.4E-45"},
		{"float32 2^24", Float32Schema(), float32(1 << 24), "1.6777216E7"},
		{"float32 negative", Float32Schema(), float32(-1.17549435e-38), "-1.1754944E-38"},
		{"float32 zero", Float32Schema(), float32(0), "0.0"},
		{"float64 0.1", Float64Schema(), 0.1, "0.1"},
		{"float64 1e-300", Float64Schema(), 1e-300, "1.0E-300"},
		{"float64 max", Float64Schema(), math.MaxFloat64, "1.7976931348623157E308"},
		{"float64 smallest", Float64Schema(), math.SmallestNonzeroFloat64, "4.9E-324"},
		{"float64 beyond 2^53", Float64Schema(), 1234567890123456789.0, "1.2345678901234568E18"},
		{"float64 negative", Float64Schema(), -2.5, "-2.5"},
		{"decimal(65,30) max", dec65, dec(t, "99999999999999999999999999999999999.999999999999999999999999999999"),
			"99999999999999999999999999999999999.999999999999999999999999999999"},
		{"decimal(65,30) negative", dec65, dec(t, "-12345678901234567890123456789012345.123456789012345678901234567890"),
			"-12345678901234567890123456789012345.123456789012345678901234567890"},
		{"decimal(65,30) small", dec65, dec(t, "0.000000000000000000000000000001"), "1E-30"},
		{"decimal(65,30) zero", dec65, dec(t, "0.000000000000000000000000000000"), "0E-30"},
		{"decimal(12,2) 2.00", DecimalSchema(2), NewDecimal(200, 2), "2.00"},
		{"decimal(12,2) negative", DecimalSchema(2), dec(t, "-9999999999.99"), "-9999999999.99"},
		{"decimal(20,0) uint64 max", DecimalSchema(0), dec(t, "18446744073709551615"), "18446744073709551615"},
		{"decimal beyond 2^53", DecimalSchema(2), dec(t, "1234567890123456789.12"), "1234567890123456789.12"},
	}
}

// sameDigits reports whether two JSON number texts hold the same digits at the same scale (so "2.00" and
// "2.0" differ, "3.4028235E38" and "3.4028235E+38" do not).
func sameDigits(t *testing.T, got, want string) bool {
	t.Helper()
	g, err1 := ParseDecimal(got)
	w, err2 := ParseDecimal(want)
	return err1 == nil && err2 == nil && g.Equal(w)
}

// Every numeric type of the data model through every codec keeps its digits: "json" (written with the
// schema, read back schemaless, written again), "json-schema" (read back with the schema, same Go value),
// "json-schema" without a schema, and "string".
func TestNumbersKeepTheirDigitsThroughEveryCodec(t *testing.T) {
	for _, tc := range numberCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			// json: the text is Connect's; the schemaless read holds exactly those digits.
			text, err := JSONCodec{}.Encode(tc.schema, tc.v)
			if err != nil || string(text) != tc.text {
				t.Fatalf("json Encode = %s, %v; want %s", text, err, tc.text)
			}
			_, back, err := JSONCodec{}.Decode(text)
			if err != nil {
				t.Fatalf("json Decode(%s): %v", text, err)
			}
			switch b := back.(type) {
			case int64:
				if !sameDigits(t, strconv.FormatInt(b, 10), tc.text) { // 1.6777216E7 is the integer 16777216
					t.Errorf("json Decode(%s) = int64 %d", text, b)
				}
			case Decimal:
				if !sameDigits(t, b.JavaString(), tc.text) {
					t.Errorf("json Decode(%s) = Decimal %s", text, b.JavaString())
				}
			default:
				t.Errorf("json Decode(%s) = %T %v, want int64 or Decimal", text, back, back)
			}
			again, err := JSONCodec{}.Encode(nil, back)
			if err != nil || !sameDigits(t, string(again), tc.text) {
				t.Errorf("json re-encode = %s, %v; want the digits of %s", again, err, tc.text)
			}

			// json-schema: the same Go value of the same type, and the same bytes again.
			env, err := JSONSchemaCodec{}.Encode(tc.schema, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			schema, v, err := JSONSchemaCodec{}.Decode(env)
			if err != nil || !schema.Equal(tc.schema) {
				t.Fatalf("json-schema Decode(%s) = %v, %v", env, schema, err)
			}
			if !EqualValues(v, tc.v) {
				t.Errorf("json-schema round trip = %T %v, want %T %v", v, v, tc.v, tc.v)
			}
			if env2, err := (JSONSchemaCodec{}).Encode(schema, v); err != nil || !bytes.Equal(env, env2) {
				t.Errorf("json-schema re-encode = %s, %v; want %s", env2, err, env)
			}

			// json-schema without a schema: the payload is read as the schemaless json codec reads it.
			bare, err := JSONSchemaCodec{}.Encode(nil, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			_, v, err = JSONSchemaCodec{}.Decode(bare)
			if err != nil {
				t.Fatalf("json-schema Decode(%s): %v", bare, err)
			}
			payload, _ := JSONCodec{}.Encode(nil, v)
			if !sameDigits(t, string(payload), tc.text) {
				t.Errorf("json-schema without schema: %s read back as %s", bare, payload)
			}

			// string: plain text with the same digits.
			str, err := StringCodec{}.Encode(tc.schema, tc.v)
			if err != nil || !sameDigits(t, string(str), tc.text) {
				t.Errorf("string Encode = %s, %v; want the digits of %s", str, err, tc.text)
			}
		})
	}
}

// A float32 read from its shortest text is the same float32, which float64's shortest text would not give
// (float32(0.1) as a float64 is 0.10000000149011612).
func TestFloat32ShortestText(t *testing.T) {
	for _, f := range []float32{0.1, math.MaxFloat32, math.SmallestNonzeroFloat32, 16777217, -3.3333333} {
		text, _ := JSONCodec{}.Encode(Float32Schema(), f)
		if g, err := strconv.ParseFloat(string(text), 32); err != nil || float32(g) != f {
			t.Errorf("float32 %v wrote %s, which reads back as %v", f, text, g)
		}
		if len(text) > len(strconv.FormatFloat(float64(f), 'g', -1, 32))+3 {
			t.Errorf("float32 %v wrote %s: longer than its shortest text", f, text)
		}
	}
}
