package elasticsearch

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// BenchmarkDocumentBody compares writing a flagship order (decimal, microsecond timestamp, joined
// customer) by its schema, with the mapping check, against the json codec's body (IgnoreSchema).
func BenchmarkDocumentBody(b *testing.B) {
	customer := stream.NewStruct("c").Field("id", stream.Int64Schema()).Field("name", stream.StringSchema()).
		Field("email", stream.StringSchema()).Optional().MustBuild()
	order := stream.NewStruct("o").Field("id", stream.Int64Schema()).Field("customer_id", stream.Int64Schema()).
		Field("amount", stream.DecimalSchema(2).WithParameter(decimalPrecisionParameter, "12")).
		Field("status", stream.StringSchema()).
		Field("created_at", &stream.Schema{Type: stream.TypeInt64, Name: debeziumMicroTimestamp}).
		Field("customer", customer).MustBuild()
	c, _ := stream.NewStructValue(customer)
	_ = c.Put("id", int64(1))
	_ = c.Put("name", "Ada Lovelace")
	_ = c.Put("email", "ada@example.com")
	v, _ := stream.NewStructValue(order)
	_ = v.Put("id", int64(42))
	_ = v.Put("customer_id", int64(1))
	_ = v.Put("amount", stream.NewDecimal(4250, 2))
	_ = v.Put("status", "paid")
	_ = v.Put("created_at", time.Now().UnixMicro())
	_ = v.Put("customer", c)
	// A decoder gives every record its own schema pointer: compare with an equal copy.
	codec, _ := stream.LookupCodec("json-schema")
	wire, _ := codec.Encode(order, v)
	rs, rv, _ := codec.Decode(wire)
	rec := stream.Record{Topic: "orders", Key: int64(42), Value: rv, ValueSchema: rs}
	for _, ignore := range []bool{false, true} {
		name := "schema"
		if ignore {
			name = "ignore-schema"
		}
		b.Run(name, func(b *testing.B) {
			s, err := New(Config{IgnoreSchema: ignore})
			if err != nil {
				b.Fatal(err)
			}
			s.mappings.remember("orders", order)
			b.ReportAllocs()
			for b.Loop() {
				a, err := s.actionFor(0, &rec)
				if err != nil {
					b.Fatal(err)
				}
				if !ignore && !s.mappings.known(a.index, rec.ValueSchema) {
					b.Fatal("schema not known")
				}
			}
		})
	}
}
