package stages_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cast with a schema: the cast fields get schemas of their new types.
func ExampleCast() {
	cast, err := stages.Cast("types", "age:int32,price:float64,active:string")
	if err != nil {
		fmt.Println(err)
		return
	}
	schema := stream.NewStruct("shop.Customer").
		Field("age", stream.Int64Schema()).
		Field("price", stream.StringSchema()).
		Field("active", stream.BooleanSchema()).
		MustBuild()
	customer, _ := stream.NewStructValue(schema)
	_ = customer.Put("age", int64(42))
	_ = customer.Put("price", "19.90")
	_ = customer.Put("active", true)

	out, err := cast.Process(context.Background(), stream.Record{ValueSchema: schema, Value: customer})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range out[0].ValueSchema.Fields {
		fmt.Printf("%s: %s\n", f.Name, f.Schema.Type)
	}
	fmt.Println(out[0].Value)

	// A value that does not convert is an error for the record, naming the field.
	_, err = cast.Process(context.Background(), stream.Record{Value: map[string]any{"age": "old"}})
	fmt.Println(err)
	// Output:
	// age: int32
	// price: double
	// active: string
	// Struct{age=42,price=19.9,active=true}
	// stages: cannot transform record: value field "age": cannot cast "old" to int32: not a decimal integer in range
}

// ReplaceField on a schemaless JSON object.
func ExampleReplaceField() {
	replace, err := stages.ReplaceField("public-fields", stages.ReplaceFieldConfig{
		Exclude: []string{"password"},
		Renames: map[string]string{"mail": "email"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := replace.Process(context.Background(), stream.Record{
		Value: map[string]any{"id": int64(1), "mail": "ada@example.com", "password": "hunter2"},
	})
	fmt.Println(out[0].Value)

	// Configurations that cannot work fail when the stage is built.
	_, err = stages.ReplaceField("bad", stages.ReplaceFieldConfig{Renames: map[string]string{"a": "x", "b": "x"}})
	fmt.Println(err)
	// Output:
	// map[email:ada@example.com id:1]
	// invalid stage configuration: stage "bad": Renames: renames both "a" and "b" to "x"
}

// Flatten a nested struct, such as a Debezium change event, into top-level fields.
func ExampleFlatten() {
	flatten, err := stages.Flatten("flat", "_")
	if err != nil {
		fmt.Println(err)
		return
	}
	row := stream.NewStruct("row").Field("id", stream.Int64Schema()).Field("name", stream.StringSchema()).MustBuild()
	event := stream.NewStruct("event").Field("op", stream.StringSchema()).Field("after", row.AsOptional()).MustBuild()
	after, _ := stream.NewStructValue(row)
	_ = after.Put("id", int64(7))
	_ = after.Put("name", "Ada")
	value, _ := stream.NewStructValue(event)
	_ = value.Put("op", "c")
	_ = value.Put("after", after)

	out, _ := flatten.Process(context.Background(), stream.Record{ValueSchema: event, Value: value})
	for _, f := range out[0].ValueSchema.Fields {
		fmt.Printf("%s optional=%v\n", f.Name, f.Schema.Optional)
	}
	fmt.Println(out[0].Value)

	// Without a schema, nested maps are flattened.
	out, _ = flatten.Process(context.Background(), stream.Record{Value: map[string]any{"a": map[string]any{"b": 1.5}}})
	fmt.Println(out[0].Value)
	// Output:
	// op optional=false
	// after_id optional=true
	// after_name optional=true
	// Struct{op=c,after_id=7,after_name=Ada}
	// map[a_b:1.5]
}

// InsertField adds where a record was read from; OnKey would add it to the key instead.
func ExampleInsertField() {
	insert, err := stages.InsertField("origin", stages.InsertFieldConfig{
		TopicField:     "topic",
		PartitionField: "partition",
		OffsetField:    "offset!",
		StaticField:    "source",
		StaticValue:    "sluice",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := insert.Process(context.Background(), stream.Record{
		Topic: "orders", Partition: 2, Offset: 41, Value: map[string]any{"id": int64(1)},
	})
	fmt.Println(out[0].Value)
	// Output: map[id:1 offset:41 partition:2 source:sluice topic:orders]
}

// MaskField blanks fields, or replaces them with a given value.
func ExampleMaskField() {
	blank, _ := stages.MaskField("blank", stages.MaskFieldConfig{Fields: []string{"ssn", "salary"}})
	stars, _ := stages.MaskField("stars", stages.MaskFieldConfig{Fields: []string{"ssn"}, Replacement: "***"})
	in := stream.Record{Value: map[string]any{"name": "Ada", "ssn": "123-45-6789", "salary": 1e5}}
	out, _ := blank.Process(context.Background(), in)
	fmt.Println(out[0].Value)
	out, _ = stars.Process(context.Background(), in)
	fmt.Println(out[0].Value)
	// Output:
	// map[name:Ada salary:0 ssn:]
	// map[name:Ada salary:100000 ssn:***]
}

// ExtractField with a nested path (Connect's field.syntax.version=V2).
func ExampleExtractField() {
	extract, err := stages.ExtractField("row", stages.ExtractFieldConfig{Field: "payload.after", Syntax: stages.FieldSyntaxV2})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := extract.Process(context.Background(), stream.Record{
		Value: map[string]any{"payload": map[string]any{"op": "u", "after": map[string]any{"id": int64(7)}}},
	})
	fmt.Println(out[0].Value)
	// Output: map[id:7]
}

// HoistField wraps a primitive key into a struct.
func ExampleHoistField() {
	hoist, _ := stages.HoistField("key-struct", "id", stages.OnKey())
	out, _ := hoist.Process(context.Background(), stream.Record{KeySchema: stream.Int64Schema(), Key: int64(7)})
	fmt.Println(out[0].KeySchema.Fields[0].Name, out[0].Key)
	// Output: id Struct{id=7}
}

// ValueToKey keys records by fields of their value, so that Kafka partitions and compacts them by it.
func ExampleValueToKey() {
	toKey, _ := stages.ValueToKey("by-customer", []string{"customer"})
	out, _ := toKey.Process(context.Background(), stream.Record{Value: map[string]any{"order": int64(1), "customer": "c-9"}})
	fmt.Println(out[0].Key)
	// Output: map[customer:c-9]
}

// SetSchemaMetadata names the value schema, for instance for a schema registry subject.
func ExampleSetSchemaMetadata() {
	rename, _ := stages.SetSchemaMetadata("name-it", stages.SchemaMetadata{Name: "shop.Order", Version: 2})
	schema := stream.NewStruct("").Field("id", stream.Int64Schema()).MustBuild()
	order, _ := stream.NewStructValue(schema)
	_ = order.Put("id", int64(1))
	out, _ := rename.Process(context.Background(), stream.Record{ValueSchema: schema, Value: order})
	fmt.Println(out[0].ValueSchema.Name, out[0].ValueSchema.Version, out[0].Value)
	// Output: shop.Order 2 Struct{id=1}
}

// TimestampConverter turns epoch seconds into a formatted string, and back into a Timestamp.
func ExampleTimestampConverter() {
	toString, _ := stages.TimestampConverter("fmt", stages.TimestampConverterConfig{
		Field: "at", Target: stages.TimestampString, Format: "yyyy-MM-dd'T'HH:mm:ssXXX", UnixPrecision: stages.UnixSeconds,
	})
	out, _ := toString.Process(context.Background(), stream.Record{Value: map[string]any{"at": int64(1696521093)}})
	fmt.Println(out[0].Value)

	toTimestamp, _ := stages.TimestampConverter("parse", stages.TimestampConverterConfig{
		Target: stages.TimestampTimestamp, Format: "dd/MM/yyyy HH:mm",
	})
	out, _ = toTimestamp.Process(context.Background(), stream.Record{ValueSchema: stream.StringSchema(), Value: "05/10/2023 15:51"})
	fmt.Println(out[0].ValueSchema.Name, out[0].Value.(time.Time).Format(time.RFC3339))
	// Output:
	// map[at:2023-10-05T15:51:33Z]
	// org.apache.kafka.connect.data.Timestamp 2023-10-05T15:51:00Z
}
