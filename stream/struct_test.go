package stream

import (
	"errors"
	"testing"
	"time"
)

func TestStructPutGet(t *testing.T) {
	inner := NewStruct("in").Field("n", Int8Schema()).MustBuild()
	ts := time.UnixMilli(1700000000000).UTC()
	schema := NewStruct("all").
		Field("i8", Int8Schema()).Field("i16", Int16Schema()).Field("i32", Int32Schema()).Field("i64", Int64Schema()).
		Field("f32", Float32Schema()).Field("f64", Float64Schema()).Field("b", BooleanSchema()).
		Field("s", StringSchema()).Field("raw", BytesSchema()).Field("arr", ArrayOf(Int8Schema())).
		Field("st", inner).Field("d", DecimalSchema(1)).Field("ts", TimestampSchema()).
		Field("opt", StringSchema().AsOptional()).
		Field("def", Int32Schema().WithDefault(int32(5))).
		MustBuild()
	s := structOf(t, schema, "i8", int8(1), "i16", int16(2), "i32", int32(3), "i64", int64(4),
		"f32", float32(5.5), "f64", 6.5, "b", true, "s", "x", "raw", []byte{7}, "arr", []any{int8(8)},
		"st", structOf(t, inner, "n", int8(9)), "d", dec(t, "1.0"), "ts", ts)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got any, err error, want any) {
		t.Helper()
		if err != nil || !EqualValues(got, want) {
			t.Errorf("get %s = %v, %v; want %v", name, got, err, want)
		}
	}
	i8, err := s.GetInt8("i8")
	check("i8", i8, err, int8(1))
	i16, err := s.GetInt16("i16")
	check("i16", i16, err, int16(2))
	i32, err := s.GetInt32("i32")
	check("i32", i32, err, int32(3))
	i64, err := s.GetInt64("i64")
	check("i64", i64, err, int64(4))
	f32, err := s.GetFloat32("f32")
	check("f32", f32, err, float32(5.5))
	f64, err := s.GetFloat64("f64")
	check("f64", f64, err, 6.5)
	b, err := s.GetBoolean("b")
	check("b", b, err, true)
	str, err := s.GetString("s")
	check("s", str, err, "x")
	raw, err := s.GetBytes("raw")
	check("raw", raw, err, []byte{7})
	arr, err := s.GetArray("arr")
	check("arr", arr, err, []any{int8(8)})
	st, err := s.GetStruct("st")
	check("st", st, err, structOf(t, inner, "n", int8(9)))
	d, err := s.GetDecimal("d")
	check("d", d, err, dec(t, "1.0"))
	got, err := s.GetTime("ts")
	check("ts", got, err, ts)

	// Nil optional values give the zero value; nil fields with a default give the default.
	opt, err := s.GetString("opt")
	check("opt", opt, err, "")
	def, err := s.GetInt32("def")
	check("def", def, err, int32(5))
	if s.Get("def") != int32(5) || s.Get("nope") != nil {
		t.Error("Get does not fall back to the default, or finds an unknown field")
	}

	// Errors, not panics.
	if _, err := s.GetInt64("i8"); !errors.Is(err, ErrSchemaMismatch) || err.Error() != `stream: schema mismatch: field "i8": value is int8, not int64` {
		t.Errorf("GetInt64 of int8 field: %v", err)
	}
	if _, err := s.GetString("nope"); !errors.Is(err, ErrSchemaMismatch) || err.Error() != `stream: schema mismatch: field "nope": no such field in struct all` {
		t.Errorf("GetString of unknown field: %v", err)
	}
	if err := s.Put("nope", 1); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("Put unknown field: %v", err)
	}
	if err := s.Put("i8", int16(1)); !errors.Is(err, ErrSchemaMismatch) || s.Get("i8") != int8(1) {
		t.Errorf("Put wrong type: %v, value now %v", err, s.Get("i8"))
	}
	if err := s.Put("i8", nil); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("Put nil in required field: %v", err)
	}
	if err := s.Put("def", nil); err != nil {
		t.Errorf("Put nil in field with default: %v", err)
	}
	if err := s.Put("opt", nil); err != nil {
		t.Errorf("Put nil in optional field: %v", err)
	}
}

func TestNewStructValueErrors(t *testing.T) {
	for _, s := range []*Schema{nil, Int32Schema()} {
		if _, err := NewStructValue(s); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("NewStructValue(%v) error = %v, want ErrInvalidSchema", s, err)
		}
	}
}

func TestStructValidateMissing(t *testing.T) {
	schema := NewStruct("").Field("a", Int32Schema()).Field("b", Int32Schema().AsOptional()).MustBuild()
	s := structOf(t, schema, "b", int32(1))
	if err := s.Validate(); !errors.Is(err, ErrSchemaMismatch) || err.Error() != `stream: schema mismatch: field "a": nil value for required int32` {
		t.Errorf("Validate = %v", err)
	}
}

func TestStructString(t *testing.T) {
	schema := NewStruct("").Field("a", Int32Schema()).Field("b", StringSchema().AsOptional()).Field("c", StringSchema()).MustBuild()
	if got := structOf(t, schema, "a", int32(1), "c", "x").String(); got != "Struct{a=1,c=x}" {
		t.Errorf("String() = %q", got)
	}
}
