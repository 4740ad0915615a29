package elasticsearch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// A record with a schema (here Debezium's shape of a MySQL row: DECIMAL(12,2) and DATETIME(6)) gets its
// index created with a mapping derived from the schema, and its values written in the form that mapping
// parses.
func ExampleSink_Write_schemaMapping() {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: "orders"})
	if err != nil {
		panic(err)
	}
	if err := sink.Open(context.Background()); err != nil {
		panic(err)
	}

	schema := stream.NewStruct("shop.orders.Value").
		Field("id", stream.Int64Schema()).
		Field("amount", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "12")).
		Field("created_at", &stream.Schema{Type: stream.TypeInt64, Name: "io.debezium.time.MicroTimestamp"}).
		MustBuild()
	order, _ := stream.NewStructValue(schema)
	_ = order.Put("id", int64(1))
	_ = order.Put("amount", stream.NewDecimal(4250, 2))
	_ = order.Put("created_at", int64(1796051235123456))
	err = sink.Write(context.Background(), []stream.Record{{Key: int64(1), Value: order, ValueSchema: schema}})
	if err != nil {
		panic(err)
	}

	for _, path := range []string{"/orders/_mapping", "/orders/_source/1"} {
		res, err := http.Get(srv.URL() + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// {"orders":{"mappings":{"properties":{"amount":{"scaling_factor":100,"type":"scaled_float"},"created_at":{"type":"date"},"id":{"type":"long"}}}}}
	// {"id":1,"amount":42.50,"created_at":"2026-11-30T15:07:15.123456Z"}
}
