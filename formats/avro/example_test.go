package avro_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/stream"
)

// A topic's values in Avro through Sluice's embedded schema registry: the codec registers the schema under
// "orders-value" on first use and writes Confluent's wire format, which any Confluent deserializer reads.
// In a pipeline, topology does the binding for every topic declared with the "avro" codec.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	registry, err := schemaregistry.OpenEmbedded(ctx, schemaregistry.NewMemoryLog(),
		schemaregistry.EmbeddedOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer registry.Close()

	registered, _ := stream.LookupCodec("avro") // registered by importing formats/avro
	codec, err := registered.(stream.TopicCodec).ForTopic(stream.TopicBinding{Topic: "orders", Registry: registry})
	if err != nil {
		fmt.Println(err)
		return
	}

	schema := stream.NewStruct("shop.Order").
		Field("id", stream.Int64Schema()).
		Field("total", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "10")).
		Field("note", stream.StringSchema().AsOptional()).
		MustBuild()
	order, _ := stream.NewStructValue(schema)
	_ = order.Put("id", int64(42))
	_ = order.Put("total", stream.NewDecimal(1999, 2))

	data, err := codec.Encode(schema, order)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("magic byte %d, schema id %d, %d bytes of Avro\n", data[0], binary.BigEndian.Uint32(data[1:5]), len(data)-5)

	got, value, err := codec.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(value, got.Equal(schema))

	avroSchema, _ := avro.SchemaFor(stream.Int16Schema())
	fmt.Println(avroSchema)
	// Output:
	// magic byte 0, schema id 1, 5 bytes of Avro
	// Struct{id=42,total=19.99} true
	// {"type":"int","connect.type":"int16"}
}
