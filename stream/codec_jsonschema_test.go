package stream

import (
	"testing"
	"time"
)

// Golden envelopes: the bytes Kafka Connect's JsonConverter (schemas.enable=true, decimal.format=BASE64)
// writes for the same data. Member order follows JsonConverter.asJsonSchema: "type", then "items" / "keys",
// "values" / "fields", then "optional", "name", "version", "doc", "parameters", "default", and "field" last
// for struct fields; cases mirror JsonConverterTest's *ToJson tests.
func TestJSONSchemaGolden(t *testing.T) {
	fourFields := NewStruct("").Field("field1", BooleanSchema()).Field("field2", StringSchema()).
		Field("field3", StringSchema()).Field("field4", BooleanSchema()).MustBuild()
	customerKey := NewStruct("mysql-server-1.inventory.customers.Key").Field("id", Int32Schema()).MustBuild()
	price := DecimalSchema(2).WithParameter("connect.decimal.precision", "10").AsOptional()
	row := NewStruct("dbserver1.inventory.products.Value").
		Field("id", Int32Schema()).
		Field("name", StringSchema()).
		Field("price", price).
		Field("weight", Float64Schema().AsOptional()).
		Field("created", TimestampSchema().AsOptional()).
		MustBuild()
	tests := []struct {
		name   string
		schema *Schema
		v      any
		want   string
	}{
		{"boolean", BooleanSchema(), true, `{"schema":{"type":"boolean","optional":false},"payload":true}`},
		{"optional null", BooleanSchema().AsOptional(), nil, `{"schema":{"type":"boolean","optional":true},"payload":null}`},
		{"default", BooleanSchema().WithDefault(true), true,
			`{"schema":{"type":"boolean","optional":false,"default":true},"payload":true}`},
		{"metadata", BooleanSchema().WithName("bool").WithVersion(3).WithDoc("the documentation").WithParameter("foo", "bar"), true,
			`{"schema":{"type":"boolean","optional":false,"name":"bool","version":3,"doc":"the documentation","parameters":{"foo":"bar"}},"payload":true}`},
		{"int8", Int8Schema(), int8(12), `{"schema":{"type":"int8","optional":false},"payload":12}`},
		{"int16", Int16Schema(), int16(12), `{"schema":{"type":"int16","optional":false},"payload":12}`},
		{"int32", Int32Schema(), int32(12), `{"schema":{"type":"int32","optional":false},"payload":12}`},
		{"int64", Int64Schema(), int64(4398046511104), `{"schema":{"type":"int64","optional":false},"payload":4398046511104}`},
		{"float", Float32Schema(), float32(12.34), `{"schema":{"type":"float","optional":false},"payload":12.34}`},
		{"double", Float64Schema(), 12.34, `{"schema":{"type":"double","optional":false},"payload":12.34}`},
		{"whole double", Float64Schema(), 3.0, `{"schema":{"type":"double","optional":false},"payload":3.0}`},
		{"bytes", BytesSchema(), []byte("test-string"), `{"schema":{"type":"bytes","optional":false},"payload":"dGVzdC1zdHJpbmc="}`},
		{"string", StringSchema(), "test-string", `{"schema":{"type":"string","optional":false},"payload":"test-string"}`},
		{"array", ArrayOf(Int32Schema()), []any{int32(1), int32(2), int32(3)},
			`{"schema":{"type":"array","items":{"type":"int32","optional":false},"optional":false},"payload":[1,2,3]}`},
		{"map string keys", MapOf(StringSchema(), Int32Schema()), map[string]any{"key2": int32(15), "key1": int32(12)},
			`{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"key1":12,"key2":15}}`},
		{"map int keys", MapOf(Int32Schema(), Int32Schema()), map[any]any{int32(2): int32(15), int32(1): int32(12)},
			`{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":[[1,12],[2,15]]}`},
		{"struct", fourFields, structOf(t, fourFields, "field1", true, "field2", "string2", "field3", "string3", "field4", false),
			`{"schema":{"type":"struct","fields":[{"type":"boolean","optional":false,"field":"field1"},{"type":"string","optional":false,"field":"field2"},{"type":"string","optional":false,"field":"field3"},{"type":"boolean","optional":false,"field":"field4"}],"optional":false},"payload":{"field1":true,"field2":"string2","field3":"string3","field4":false}}`},
		{"decimal", DecimalSchema(2), NewDecimal(156, 2),
			`{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AJw="}`},
		{"decimal default", DecimalSchema(2).WithDefault(NewDecimal(156, 2)), nil,
			`{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"default":"AJw="},"payload":"AJw="}`},
		{"date", DateSchema(), time.Date(1997, 5, 19, 0, 0, 0, 0, time.UTC),
			`{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1},"payload":10000}`},
		{"time", TimeSchema(), time.Date(1970, 1, 1, 4, 0, 0, 0, time.UTC),
			`{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time","version":1},"payload":14400000}`},
		{"timestamp", TimestampSchema(), time.UnixMilli(4000000000),
			`{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":4000000000}`},
		{"null schema", nil, true, `{"schema":null,"payload":true}`},
		{"null schema array", nil, []any{int32(1), "string", true}, `{"schema":null,"payload":[1,"string",true]}`},
		{"null schema map", nil, map[string]any{"key1": int32(12), "key2": "string", "key3": true},
			`{"schema":null,"payload":{"key1":12,"key2":"string","key3":true}}`},
		{"null schema mixed keys", nil, map[any]any{"string": int32(12), int32(52): "string", false: true},
			`{"schema":null,"payload":[["string",12],[52,"string"],[false,true]]}`},
		{"debezium key", customerKey, structOf(t, customerKey, "id", int32(1001)),
			`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"mysql-server-1.inventory.customers.Key"},"payload":{"id":1001}}`},
		{"debezium row", row, structOf(t, row, "id", int32(101), "name", "scooter", "price", NewDecimal(-350, 2), "weight", 3.14),
			`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":false,"field":"name"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},{"type":"double","optional":true,"field":"weight"},{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"created"}],"optional":false,"name":"dbserver1.inventory.products.Value"},"payload":{"id":101,"name":"scooter","price":"/qI=","weight":3.14,"created":null}}`},
	}
	// What Decode returns when it differs from the value encoded: schemaless numbers widen to int64, and
	// schemaless maps with non-string keys stay arrays of pairs, as in Connect.
	decoded := map[string]any{
		"null schema array": []any{int64(1), "string", true},
		"null schema map":   map[string]any{"key1": int64(12), "key2": "string", "key3": true},
		"null schema mixed keys": []any{[]any{"string", int64(12)}, []any{int64(52), "string"},
			[]any{false, true}},
	}
	var codec JSONSchemaCodec
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.Encode(tt.schema, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Encode\n got: %s\nwant: %s", got, tt.want)
			}
			schema, v, err := codec.Decode(got)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.v
			if want == nil && tt.schema != nil {
				want = tt.schema.Default
			}
			if d, ok := decoded[tt.name]; ok {
				want = d
			}
			if !schema.Equal(tt.schema) || !EqualValues(v, want) {
				t.Errorf("Decode = %+v, %v; want %+v, %v", schema, v, tt.schema, want)
			}
		})
	}
}

func TestJSONSchemaTombstone(t *testing.T) {
	var codec JSONSchemaCodec
	data, err := codec.Encode(nil, nil)
	if data != nil || err != nil {
		t.Errorf("Encode(nil, nil) = %q, %v; want nil bytes", data, err)
	}
	for _, in := range [][]byte{nil, {}, []byte(`{"schema":null,"payload":null}`)} {
		s, v, err := codec.Decode(in)
		if s != nil || v != nil || err != nil {
			t.Errorf("Decode(%q) = %v, %v, %v; want all nil", in, s, v, err)
		}
	}
}

// The inputs of JsonConverterTest's *ToConnect tests: whitespace, members in any order, "optional"
// missing, defaults for null payloads, numeric decimals.
func TestJSONSchemaDecodeConnectInput(t *testing.T) {
	decimal2 := `{ "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "2" } }`
	tests := []struct {
		in     string
		schema *Schema
		v      any
	}{
		{`{ "schema": { "type": "boolean" }, "payload": true }`, BooleanSchema(), true},
		{`{ "schema": { "type": "boolean", "optional": true }, "payload": null }`, BooleanSchema().AsOptional(), nil},
		{`{ "schema": { "type": "boolean", "default": true }, "payload": null }`, BooleanSchema().WithDefault(true), true},
		{`{ "schema": { "type": "boolean", "optional": false, "name": "bool", "version": 2, "doc": "the documentation", "parameters": { "foo": "bar" }}, "payload": true }`,
			BooleanSchema().WithName("bool").WithVersion(2).WithDoc("the documentation").WithParameter("foo", "bar"), true},
		{`{ "schema": { "type": "int8" }, "payload": 12 }`, Int8Schema(), int8(12)},
		{`{ "schema": { "type": "int16" }, "payload": 12 }`, Int16Schema(), int16(12)},
		{`{ "schema": { "type": "int32" }, "payload": 12 }`, Int32Schema(), int32(12)},
		{`{ "schema": { "type": "int64" }, "payload": 4398046511104 }`, Int64Schema(), int64(4398046511104)},
		{`{ "schema": { "type": "float" }, "payload": 12.34 }`, Float32Schema(), float32(12.34)},
		{`{ "schema": { "type": "double" }, "payload": 12.34 }`, Float64Schema(), 12.34},
		{`{ "schema": { "type": "bytes" }, "payload": "dGVzdC1zdHJpbmc=" }`, BytesSchema(), []byte("test-string")},
		{`{ "schema": { "type": "string" }, "payload": "foo-bar-baz" }`, StringSchema(), "foo-bar-baz"},
		{`{ "schema": { "type": "array", "items": { "type" : "int32" } }, "payload": [1, 2, 3] }`,
			ArrayOf(Int32Schema()), []any{int32(1), int32(2), int32(3)}},
		{`{ "schema": { "type": "map", "keys": { "type" : "string" }, "values": { "type" : "int32" } }, "payload": { "key1": 12, "key2": 15} }`,
			MapOf(StringSchema(), Int32Schema()), map[string]any{"key1": int32(12), "key2": int32(15)}},
		{`{ "schema": { "type": "map", "keys": { "type" : "int32" }, "values": { "type" : "int32" } }, "payload": [ [1, 12], [2, 15] ] }`,
			MapOf(Int32Schema(), Int32Schema()), map[any]any{int32(1): int32(12), int32(2): int32(15)}},
		{`{ "schema": null, "payload": 12 }`, nil, int64(12)},
		{`{ "schema": null, "payload": 12.24 }`, nil, NewDecimal(1224, 2)},
		{`{ "schema": null, "payload": [1, "2", 3] }`, nil, []any{int64(1), "2", int64(3)}},
		{`{ "schema": null, "payload": { "field1": 1, "field2": 2} }`, nil, map[string]any{"field1": int64(1), "field2": int64(2)}},
		{`{ "schema": ` + decimal2 + `, "payload": "AJw=" }`, DecimalSchema(2), NewDecimal(156, 2)},
		{`{ "schema": ` + decimal2 + `, "payload": 1.56 }`, DecimalSchema(2), NewDecimal(156, 2)},
		{`{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "4" } }, "payload": 1.5600 }`,
			DecimalSchema(4), NewDecimal(15600, 4)},
		{`{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "17" } }, "payload": 1.23456789123456789 }`,
			DecimalSchema(17), bigDec(t, "123456789123456789", 17)},
		{`{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "optional": true, "default": "AJw=", "parameters": { "scale": "2" } }, "payload": null }`,
			DecimalSchema(2).AsOptional().WithDefault(NewDecimal(156, 2)), NewDecimal(156, 2)},
		{`{ "schema": { "type": "int32", "name": "org.apache.kafka.connect.data.Date", "version": 1 }, "payload": 10000 }`,
			DateSchema(), time.Date(1997, 5, 19, 0, 0, 0, 0, time.UTC)},
		{`{ "schema": { "type": "int32", "name": "org.apache.kafka.connect.data.Date", "version": 1, "default": 0 }, "payload": null }`,
			DateSchema().WithDefault(time.Unix(0, 0)), time.Unix(0, 0)},
		{`{ "schema": { "type": "int32", "name": "org.apache.kafka.connect.data.Time", "version": 1 }, "payload": 14400000 }`,
			TimeSchema(), time.Date(1970, 1, 1, 4, 0, 0, 0, time.UTC)},
		{`{ "schema": { "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1,  "optional": true, "default": 42 }, "payload": null }`,
			TimestampSchema().AsOptional().WithDefault(time.UnixMilli(42)), time.UnixMilli(42)},
	}
	structIn := `{ "schema": { "type": "struct", "fields": [{ "field":"optional", "type": "string", "optional": true }, {  "field": "required", "type": "string" }] }, "payload": { "required": "required" } }`
	withOptional := NewStruct("").Field("optional", StringSchema().AsOptional()).Field("required", StringSchema()).MustBuild()
	tests = append(tests, struct {
		in     string
		schema *Schema
		v      any
	}{structIn, withOptional, structOf(t, withOptional, "required", "required")})

	var codec JSONSchemaCodec
	for _, tt := range tests {
		schema, v, err := codec.Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("Decode(%s): %v", tt.in, err)
			continue
		}
		if !schema.Equal(tt.schema) || !EqualValues(v, tt.v) {
			t.Errorf("Decode(%s)\n got: %+v, %v\nwant: %+v, %v", tt.in, schema, v, tt.schema, tt.v)
		}
	}
}
