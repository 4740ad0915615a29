package topology

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// A struct record joined with a struct row (or none) keeps its schema and logical values, with the row as
// an optional struct field; schemaless records are joined as objects, as before; the joined value survives
// the join output topic's json-schema codec unchanged.
func TestJoinedValueKeepsSchema(t *testing.T) {
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	r := &joinRunner{spec: &joinSpec{join: join}}
	r.plain, _ = stream.LookupCodec("json-schema")
	micro := &stream.Schema{Type: stream.TypeInt64, Name: "io.debezium.time.MicroTimestamp"}
	orderSchema := stream.NewStruct("shop.orders.Value").Field("id", stream.Int64Schema()).
		Field("amount", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "12")).
		Field("day", stream.DateSchema()).Field("created_at", micro).MustBuild()
	customerSchema := stream.NewStruct("shop.customers.Value").Field("id", stream.Int64Schema()).
		Field("name", stream.StringSchema()).MustBuild()
	order, _ := stream.NewStructValue(orderSchema)
	_ = order.Put("id", int64(1))
	_ = order.Put("amount", stream.NewDecimal(4200, 2))
	_ = order.Put("day", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	_ = order.Put("created_at", int64(1796051235123456))
	customer, _ := stream.NewStructValue(customerSchema)
	_ = customer.Put("id", int64(7))
	_ = customer.Put("name", "Ada")

	for _, c := range []struct {
		name string
		row  any
	}{{"with row", customer}, {"without row", nil}} {
		t.Run(c.name, func(t *testing.T) {
			joined, err := r.joinedValue(order, c.row)
			if err != nil {
				t.Fatal(err)
			}
			st := joined.(*stream.Struct)
			f, ok := st.Schema().Field("customer")
			if !ok || !f.Schema.Optional || f.Schema.Type != stream.TypeStruct {
				t.Fatalf("joined schema has no optional struct field customer: %v", st.Schema())
			}
			if c.row != nil && !f.Schema.Equal(customerSchema.AsOptional()) {
				t.Errorf("customer field schema %v, want the row's", f.Schema)
			}
			wire, err := r.plain.Encode(nil, joined)
			if err != nil {
				t.Fatal(err)
			}
			schema, back, err := r.plain.Decode(wire)
			if err != nil {
				t.Fatal(err)
			}
			if !stream.EqualValues(back, joined) || !schema.Equal(st.Schema()) {
				t.Errorf("json-schema round trip changed the joined value:\n got  %v\n want %v", back, joined)
			}
			for _, name := range []string{"id", "amount", "day", "created_at"} {
				if got, _ := st.Schema().Field(name); !got.Schema.Equal(mustField(t, orderSchema, name)) {
					t.Errorf("field %s schema %v, want the record's", name, got.Schema)
				}
			}
		})
	}
	again, _ := r.joinedValue(order, customer)
	once, _ := r.joinedValue(order, customer)
	if again.(*stream.Struct).Schema() != once.(*stream.Struct).Schema() {
		t.Error("records of one shape do not share the joined schema")
	}

	plain, err := r.joinedValue(map[string]any{"id": int64(1)}, map[string]any{"name": "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if m := plain.(map[string]any); m["customer"].(map[string]any)["name"] != "Ada" {
		t.Errorf("schemaless join %v", m)
	}
}

func mustField(t *testing.T, s *stream.Schema, name string) *stream.Schema {
	t.Helper()
	f, ok := s.Field(name)
	if !ok {
		t.Fatalf("no field %s", name)
	}
	return f.Schema
}
