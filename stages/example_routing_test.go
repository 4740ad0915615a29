package stages_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Debezium names topics server.database.table; RegexRouter renames them with Java's replacement syntax.
func ExampleRegexRouter() {
	route, err := stages.RegexRouter("strip-server", `dbserver1\.(?<db>[^.]+)\.(?<table>.+)`, "cdc.${db}.$2")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, topic := range []string{"dbserver1.inventory.customers", "heartbeats.dbserver1"} {
		out, _ := route.Process(ctx, stream.Record{Topic: topic})
		fmt.Println(topic, "->", out[0].Topic)
	}

	_, err = stages.RegexRouter("bad", "(.*)", "$2")
	fmt.Println(err)
	// Output:
	// dbserver1.inventory.customers -> cdc.inventory.customers
	// heartbeats.dbserver1 -> heartbeats.dbserver1
	// stages: RegexRouter "bad": invalid stage configuration: replacement: no group 2
}

// TimestampRouter sends records to a topic (or index) per day, month or hour.
func ExampleTimestampRouter() {
	daily, _ := stages.TimestampRouter("daily", "", "") // Connect's defaults: ${topic}-${timestamp}, yyyyMMdd
	monthly, _ := stages.TimestampRouter("monthly", "logs_${timestamp}", "yyyy.MM")
	r := stream.Record{Topic: "logs", Timestamp: time.Date(2017, 1, 3, 6, 30, 1, 0, time.UTC)}
	ctx := context.Background()
	a, _ := daily.Process(ctx, r)
	b, _ := monthly.Process(ctx, r)
	fmt.Println(a[0].Topic, b[0].Topic)
	// Output: logs-20170103 logs_2017.01
}

// FilterWhere drops the records a predicate matches, like Connect's Filter with a predicate; Not keeps them
// instead (negate=true).
func ExampleFilterWhere() {
	dropTombstones, _ := stages.FilterWhere("drop-tombstones", stages.RecordIsTombstone())
	internal, _ := stages.TopicNameMatches(`_.*|.*\.internal`)
	dropInternal, _ := stages.FilterWhere("drop-internal", internal)
	debug, _ := stages.HasHeaderKey("debug")
	onlyDebug, _ := stages.FilterWhere("only-debug", stages.Not(debug))

	ctx := context.Background()
	for _, r := range []stream.Record{
		{Topic: "orders", Key: "1", Value: "paid"},
		{Topic: "orders", Key: "2"},
		{Topic: "_schemas", Key: "3", Value: "{}"},
		{Topic: "orders", Key: "4", Value: "new", Headers: []stream.Header{{Key: "debug"}}},
	} {
		a, _ := dropTombstones.Process(ctx, r)
		b, _ := dropInternal.Process(ctx, r)
		c, _ := onlyDebug.Process(ctx, r)
		fmt.Printf("%s/%s: %d %d %d\n", r.Topic, r.Key, len(a), len(b), len(c))
	}
	// Output:
	// orders/1: 1 1 0
	// orders/2: 0 1 0
	// _schemas/3: 1 0 0
	// orders/4: 1 1 1
}

// When applies a stage only to the records a predicate matches, like a predicate on any Connect transform.
// It is a stage of its own, with its own name.
func ExampleWhen() {
	unwrap, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	cdcTopics, _ := stages.TopicNameMatches(`dbserver1\..*`)
	unwrapCDC, _ := stages.When("unwrap-cdc", cdcTopics, unwrap)

	event := map[string]any{"op": "c", "before": nil, "after": map[string]any{"id": int64(1)}}
	ctx := context.Background()
	for _, topic := range []string{"dbserver1.inventory.orders", "raw.events"} {
		out, _ := unwrapCDC.Process(ctx, stream.Record{Topic: topic, Value: event})
		fmt.Println(topic, out[0].Value)
	}
	// Output:
	// dbserver1.inventory.orders map[id:1]
	// raw.events map[after:map[id:1] before:<nil> op:c]
}

// TopicNameMatches matches the whole topic name, as Java's Matcher.matches does.
func ExampleTopicNameMatches() {
	orders, _ := stages.TopicNameMatches(`orders|orders-.*`)
	for _, topic := range []string{"orders", "orders-eu", "eu-orders"} {
		fmt.Println(topic, orders(stream.Record{Topic: topic}), stages.Not(orders)(stream.Record{Topic: topic}))
	}
	// Output:
	// orders true false
	// orders-eu true false
	// eu-orders false true
}
