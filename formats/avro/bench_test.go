package avro_test

import (
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/stream"
)

// benchOrder is a change-event-sized value: a struct of ten fields with a decimal, a timestamp, an optional
// string and a nested struct.
func benchOrder(b *testing.B) (*stream.Schema, *stream.Struct, map[string]any) {
	customer := stream.NewStruct("shop.Customer").Field("id", stream.Int64Schema()).Field("name", stream.StringSchema()).MustBuild()
	schema := stream.NewStruct("shop.Order").
		Field("id", stream.Int64Schema()).
		Field("customer", customer).
		Field("status", stream.StringSchema()).
		Field("total", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "12")).
		Field("qty", stream.Int32Schema()).
		Field("note", stream.StringSchema().AsOptional()).
		Field("created", stream.Int64Schema().WithName(avro.MicroTimestampName)).
		Field("placed", stream.TimestampSchema()).
		Field("paid", stream.BooleanSchema()).
		Field("weight", stream.Float64Schema()).
		MustBuild()
	c := structOf(b, customer, "id", int64(7), "name", "Ada Lovelace")
	at := time.UnixMilli(1700000000123).UTC()
	v := structOf(b, schema, "id", int64(123456), "customer", c, "status", "shipped", "total", stream.NewDecimal(1234599, 2),
		"qty", int32(3), "note", "leave at the door", "created", at.UnixMicro(), "placed", at, "paid", true, "weight", 1.25)
	raw := map[string]any{"id": int64(123456), "customer": map[string]any{"id": int64(7), "name": "Ada Lovelace"},
		"status": "shipped", "total": []byte{0x01, 0x2d, 0x67, 0x07}, "qty": 3, "note": "leave at the door",
		"created": at.UnixMicro(), "placed": at.UnixMilli(), "paid": true, "weight": 1.25}
	return schema, v, raw
}

// BenchmarkEncodeDecode measures one Encode and one Decode of benchOrder: the avro codec, the json-schema
// codec, and hamba/avro's own Marshal/Unmarshal of the same Avro record from Go maps (the raw baseline,
// with decimal and timestamps pre-converted).
func BenchmarkEncodeDecode(b *testing.B) {
	schema, v, raw := benchOrder(b)
	b.Run("avro", func(b *testing.B) {
		codec := bind(b, &exactRegistry{}, "orders", false, "")
		b.ReportAllocs()
		for b.Loop() {
			data, err := codec.Encode(schema, v)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := codec.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-schema", func(b *testing.B) {
		var codec stream.JSONSchemaCodec
		b.ReportAllocs()
		for b.Loop() {
			data, err := codec.Encode(schema, v)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := codec.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hamba-raw", func(b *testing.B) {
		text, err := avro.SchemaFor(schema)
		if err != nil {
			b.Fatal(err)
		}
		hs, err := hamba.ParseWithCache(text, "", &hamba.SchemaCache{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			data, err := hamba.Marshal(hs, raw)
			if err != nil {
				b.Fatal(err)
			}
			var out map[string]any
			if err := hamba.Unmarshal(hs, data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
