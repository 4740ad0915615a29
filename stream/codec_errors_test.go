package stream

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJSONSchemaDecodeErrors(t *testing.T) {
	env := func(schema, payload string) string { return `{"schema":` + schema + `,"payload":` + payload + `}` }
	nested := `{"type":"struct","fields":[{"field":"address","type":"struct","fields":[{"field":"zip","type":"int32"}]}]}`
	tests := []struct {
		name string
		in   string
		kind error
		msg  string
	}{
		{"not JSON", `nope`, ErrMalformed, "invalid JSON"},
		{"trailing data", env("null", "1") + ` 2`, ErrMalformed, "data after the top-level value"},
		{"not an object", `[1]`, ErrMalformed, `exactly "schema" and "payload"`},
		{"no payload", `{"schema":null}`, ErrMalformed, `exactly "schema" and "payload"`},
		{"extra member", `{"schema":null,"payload":1,"x":2}`, ErrMalformed, `exactly "schema" and "payload"`},
		{"schema not object", env(`"int8"`, "1"), ErrInvalidSchema, "schema must be a JSON object"},
		{"no type", env(`{}`, "1"), ErrInvalidSchema, `schema has no "type" string`},
		{"unknown type", env(`{"type":"int128"}`, "1"), ErrInvalidSchema, `unknown type "int128"`},
		{"array without items", env(`{"type":"array"}`, "[]"), ErrInvalidSchema, `array schema has no "items" schema`},
		{"array null items", env(`{"type":"array","items":null}`, "[]"), ErrInvalidSchema, `no "items" schema`},
		{"map without keys", env(`{"type":"map","values":{"type":"int8"}}`, "[]"), ErrInvalidSchema, `no "keys" schema`},
		{"fields not array", env(`{"type":"struct","fields":{}}`, "{}"), ErrInvalidSchema, `"fields" is not an array`},
		{"field without name", env(`{"type":"struct","fields":[{"type":"int8"}]}`, "{}"), ErrInvalidSchema, `struct field 0 has no "field" name`},
		{"duplicate field", env(`{"type":"struct","fields":[{"type":"int8","field":"a"},{"type":"int8","field":"a"}]}`, "{}"),
			ErrInvalidSchema, `duplicate struct field "a"`},
		{"bad nested field schema", env(`{"type":"struct","fields":[{"type":"nope","field":"a"}]}`, "{}"),
			ErrInvalidSchema, `field "a": unknown type "nope"`},
		{"parameter not string", env(`{"type":"int8","parameters":{"p":1}}`, "1"), ErrInvalidSchema, `parameter "p" is JSON number`},
		{"version out of range", env(`{"type":"int8","version":3000000000}`, "1"), ErrInvalidSchema, "version 3000000000"},
		{"bad default", env(`{"type":"int8","default":"x"}`, "1"), ErrInvalidSchema, "default value"},
		{"null default for required", env(`{"type":"int8","default":null}`, "1"), ErrInvalidSchema, "default value"},
		{"bytes map keys", env(`{"type":"map","keys":{"type":"bytes"},"values":{"type":"int8"}}`, `[["AA==",1]]`),
			ErrInvalidSchema, "map keys of type bytes are not supported"},
		{"decimal without scale", env(`{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal"}`, `"AA=="`),
			ErrInvalidSchema, `no "scale" parameter`},
		{"int8 overflow", env(`{"type":"int8"}`, "128"), ErrSchemaMismatch, "128 out of range for int8"},
		{"int64 overflow", env(`{"type":"int64"}`, "9223372036854775808"), ErrSchemaMismatch, "out of range for int64"},
		{"fraction for int", env(`{"type":"int32"}`, "1.5"), ErrSchemaMismatch, "expected int32, got JSON number"},
		{"exponent for int", env(`{"type":"int32"}`, "1e2"), ErrSchemaMismatch, "expected int32, got JSON number"},
		{"float overflow", env(`{"type":"float"}`, "1e39"), ErrSchemaMismatch, "out of range for float"},
		{"string for float", env(`{"type":"double"}`, `"1.5"`), ErrSchemaMismatch, "expected double, got JSON string"},
		{"required null", env(`{"type":"int32"}`, "null"), ErrSchemaMismatch, "null for required int32"},
		{"string for boolean", env(`{"type":"boolean"}`, `"true"`), ErrSchemaMismatch, "expected boolean, got JSON string"},
		{"bad base64", env(`{"type":"bytes"}`, `"!!"`), ErrSchemaMismatch, "not base64"},
		{"nested path", env(nested, `{"address":{"zip":"x"}}`), ErrSchemaMismatch,
			`field "address.zip": expected int32, got JSON string`},
		{"missing required field", env(nested, `{"address":{}}`), ErrSchemaMismatch, `field "address.zip": null for required int32`},
		{"array element", env(`{"type":"array","items":{"type":"string"}}`, `["a",1]`), ErrSchemaMismatch, `field "[1]"`},
		{"object for int map", env(`{"type":"map","keys":{"type":"int8"},"values":{"type":"int8"}}`, `{}`),
			ErrSchemaMismatch, "as JSON array of pairs, got JSON object"},
		{"bad pair", env(`{"type":"map","keys":{"type":"int8"},"values":{"type":"int8"}}`, `[[1]]`),
			ErrSchemaMismatch, "not a [key, value] pair"},
		{"empty decimal", env(`{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}`, `""`),
			ErrSchemaMismatch, "non-empty base64"},
		{"lossy decimal", env(`{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}`, `1.555`),
			ErrSchemaMismatch, "does not fit scale 2"},
		{"time out of day", env(`{"type":"int32","name":"org.apache.kafka.connect.data.Time"}`, `86400000`),
			ErrSchemaMismatch, "not in [0, 86400000)"},
		{"date overflow", env(`{"type":"int32","name":"org.apache.kafka.connect.data.Date"}`, `2147483648`),
			ErrSchemaMismatch, "out of range for Date"},
		{"schemaless huge exponent", env("null", `1e99999`), ErrSchemaMismatch, "cannot be held exactly"},
		{"schemaless too many digits", env("null", "1"+strings.Repeat("0", 20000)), ErrSchemaMismatch, "cannot be held exactly"},
	}
	var codec JSONSchemaCodec
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, v, err := codec.Decode([]byte(tt.in))
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Decode(%s) = %v, %v, %v\nwant error wrapping %v containing %q", tt.in, s, v, err, tt.kind, tt.msg)
			}
		})
	}
}

func TestEncodeErrorsNamePath(t *testing.T) {
	address := NewStruct("a").Field("zip", Int32Schema()).MustBuild()
	customer := NewStruct("c").Field("address", address).Field("tags", ArrayOf(StringSchema())).MustBuild()
	badAddress := &Struct{schema: address, values: []any{"10115"}}
	tests := []struct {
		name   string
		schema *Schema
		v      any
		kind   error
		want   string
	}{
		{"nested", customer, &Struct{schema: customer, values: []any{badAddress, []any{}}}, ErrSchemaMismatch,
			`stream: schema mismatch: field "address.zip": expected int32, got string`},
		{"array", customer, &Struct{schema: customer, values: []any{structOf(t, address, "zip", int32(1)), []any{"a", nil}}},
			ErrSchemaMismatch, `stream: schema mismatch: field "tags[1]": nil value for required string`},
		{"required nil", Int64Schema(), nil, ErrSchemaMismatch, `stream: schema mismatch: nil value for required int64`},
		{"wrong struct", address, structOf(t, customer), ErrSchemaMismatch,
			`stream: schema mismatch: struct schema struct c does not match expected struct a`},
		{"schemaless unsupported", nil, []any{uint(1)}, ErrSchemaMismatch,
			`stream: schema mismatch: field "[0]": cannot encode Go uint: not a type of the data model`},
		{"non-string key for string map", MapOf(StringSchema(), Int8Schema()), map[any]any{int8(1): int8(1)}, ErrSchemaMismatch,
			`stream: schema mismatch: field "[1]": expected string key, got int8`},
		{"decimal scale", DecimalSchema(0), NewDecimal(15, 1), ErrSchemaMismatch,
			`stream: schema mismatch: decimal 1.5 does not fit scale 0 without rounding`},
		{"date", DateSchema(), time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC), ErrSchemaMismatch,
			`stream: schema mismatch: Date value 2024-01-01T12:00:00Z is not at midnight UTC`},
		{"array schema without items", &Schema{Type: TypeArray}, []any{}, ErrInvalidSchema,
			`stream: invalid schema: array schema has no Items`},
		{"unknown type", &Schema{Type: "x"}, int8(1), ErrInvalidSchema, `stream: invalid schema: unknown type "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, codec := range []Codec{JSONCodec{}, JSONSchemaCodec{}} {
				data, err := codec.Encode(tt.schema, tt.v)
				if !errors.Is(err, tt.kind) || err.Error() != tt.want {
					t.Errorf("%s Encode = %s, %v\nwant error %s", codec.Name(), data, err, tt.want)
				}
			}
		})
	}
}
