package stream

import (
	"errors"
	"math/big"
	"testing"
	"time"
)

func TestValidateAccepts(t *testing.T) {
	point := NewStruct("p").Field("x", Int32Schema()).Field("label", StringSchema().AsOptional()).MustBuild()
	tests := []struct {
		name   string
		schema *Schema
		v      any
	}{
		{"int8", Int8Schema(), int8(-128)},
		{"int16", Int16Schema(), int16(32767)},
		{"int32", Int32Schema(), int32(-1)},
		{"int64", Int64Schema(), int64(1)},
		{"float", Float32Schema(), float32(1.5)},
		{"double", Float64Schema(), 2.5},
		{"boolean", BooleanSchema(), true},
		{"string", StringSchema(), ""},
		{"bytes", BytesSchema(), []byte{}},
		{"optional nil", Int32Schema().AsOptional(), nil},
		{"default for nil", Int32Schema().WithDefault(int32(3)), nil},
		{"array", ArrayOf(Int64Schema().AsOptional()), []any{int64(1), nil}},
		{"string map", MapOf(StringSchema(), Int32Schema()), map[string]any{"a": int32(1)}},
		{"string map as map[any]any", MapOf(StringSchema(), Int32Schema()), map[any]any{"a": int32(1)}},
		{"int map", MapOf(Int32Schema(), BooleanSchema()), map[any]any{int32(1): true}},
		{"struct", point, structOf(t, point, "x", int32(1))},
		{"struct in optional field", ArrayOf(point.AsOptional()), []any{structOf(t, point, "x", int32(1))}},
		{"decimal", DecimalSchema(2), dec(t, "1.5")},
		{"decimal zero value", DecimalSchema(2), Decimal{}},
		{"date", DateSchema(), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"date in other zone", DateSchema(), time.Date(2024, 2, 29, 1, 0, 0, 0, time.FixedZone("CET", 3600))},
		{"time", TimeSchema(), time.Date(1970, 1, 1, 23, 59, 59, 999e6, time.UTC)},
		{"timestamp", TimestampSchema(), time.Date(2024, 1, 1, 12, 0, 0, 123456789, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.schema.Validate(tt.v); err != nil {
				t.Error(err)
			}
		})
	}
}

// Errors name the path of the offending field.
func TestValidateErrorsNamePath(t *testing.T) {
	address := NewStruct("shop.Address").Field("street", StringSchema()).Field("zip", Int32Schema()).MustBuild()
	customer := NewStruct("shop.Customer").
		Field("id", Int64Schema()).
		Field("address", address).
		Field("tags", ArrayOf(StringSchema())).
		Field("scores", MapOf(StringSchema(), Float64Schema())).
		Field("history", ArrayOf(address)).
		MustBuild()
	badAddress := &Struct{schema: address, values: []any{"Main St", "10115"}}
	full := func(kv ...any) *Struct {
		values := []any{int64(1), structOf(t, address, "street", "s", "zip", int32(1)), []any{}, map[string]any{}, []any{}}
		for i := 0; i < len(kv); i += 2 {
			values[customer.fieldIndex(kv[i].(string))] = kv[i+1]
		}
		return &Struct{schema: customer, values: values}
	}
	tests := []struct {
		name   string
		schema *Schema
		v      any
		want   string
	}{
		{"root", Int32Schema(), "x", `stream: schema mismatch: expected int32, got string`},
		{"required nil", StringSchema(), nil, `stream: schema mismatch: nil value for required string`},
		{"nested field", customer, full("address", badAddress),
			`stream: schema mismatch: field "address.zip": expected int32, got string`},
		{"missing field", customer, full("id", nil),
			`stream: schema mismatch: field "id": nil value for required int64`},
		{"array element", customer, full("tags", []any{"a", int64(2)}),
			`stream: schema mismatch: field "tags[1]": expected string, got int64`},
		{"map value", customer, full("scores", map[string]any{"k": float32(1)}),
			`stream: schema mismatch: field "scores[\"k\"]": expected double, got float`},
		{"struct in array", customer, full("history", []any{badAddress}),
			`stream: schema mismatch: field "history[0].zip": expected int32, got string`},
		{"wrong struct schema", customer, full("address", structOf(t, customer, "id", int64(1))),
			`stream: schema mismatch: field "address": struct schema struct shop.Customer does not match expected struct shop.Address`},
		{"map key", MapOf(Int32Schema(), StringSchema()), map[any]any{int64(1): "x"},
			`stream: schema mismatch: field "[1]": expected int32, got int64`},
		{"string map for int keys", MapOf(Int32Schema(), StringSchema()), map[string]any{},
			`stream: schema mismatch: expected map with int32 keys, got map with string keys`},
		{"go int", Int64Schema(), 1, `stream: schema mismatch: expected int64, got Go int`},
		{"typed slice", ArrayOf(StringSchema()), []string{"a"}, `stream: schema mismatch: expected array, got Go slice`},
		{"decimal type", DecimalSchema(2), 1.5, `stream: schema mismatch: expected Decimal, got double`},
		{"decimal scale", DecimalSchema(1), dec(t, "1.25"), `stream: schema mismatch: decimal 1.25 does not fit scale 1 without rounding`},
		{"date not midnight", DateSchema(), time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC),
			`stream: schema mismatch: Date value 2024-01-01T00:00:01Z is not at midnight UTC`},
		{"time with date", TimeSchema(), time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC),
			`stream: schema mismatch: Time value 1970-01-02T00:00:00Z is not on 1970-01-01 UTC`},
		{"timestamp range", TimestampSchema(), time.Date(300000000, 1, 1, 0, 0, 0, 0, time.UTC),
			`stream: schema mismatch: Timestamp value 300000000-01-01T00:00:00Z does not fit in int64 milliseconds`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.schema.Validate(tt.v)
			if !errors.Is(err, ErrSchemaMismatch) || err.Error() != tt.want {
				t.Errorf("Validate error\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestValidateSchemaless(t *testing.T) {
	var none *Schema
	ok := []any{nil, int8(1), "s", []byte("b"), dec(t, "1"), time.Now(), []any{map[string]any{"a": []any{}}},
		map[any]any{int32(1): int64(2)}}
	for _, v := range ok {
		if err := none.Validate(v); err != nil {
			t.Errorf("Validate(%v): %v", v, err)
		}
	}
	err := none.Validate(map[string]any{"a": []any{1}})
	if !errors.Is(err, ErrSchemaMismatch) || err.Error() != `stream: schema mismatch: field "[\"a\"][0]": Go int is not a type of the data model` {
		t.Errorf("Validate error = %v", err)
	}
	if err := none.Validate(big.NewInt(1)); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("Validate(*big.Int) = %v", err)
	}
}
