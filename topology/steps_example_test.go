package topology_test

import (
	"fmt"
	"time"

	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// A flow joins a table as a step of its own: each order gets the customer row its customer_id refers to,
// as field "customer", and is sent again whenever that row changes. The stages before the join run in the
// join's group; Validate checks that the orders and the customers meet on equal partitions.
func ExampleFlow_Join() {
	index, _ := filesink.New(filesink.Config{Path: "orders.jsonl"})
	t := topology.New("shop-search")
	customers := t.Topic("shop.customers", topology.KeyCodec("json"), topology.Partitions(2))
	orders := t.Topic("shop.orders", topology.KeyCodec("json"), topology.Partitions(2))
	customerRows := t.Table("customers", customers)
	noTrace, err := stages.DropHeaders("no-trace", "trace")
	if err != nil {
		fmt.Println(err)
		return
	}
	withCustomer, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		fmt.Println(err)
		return
	}
	t.Flow("orders-index").From(orders).
		Via(noTrace).
		Join(customerRows, withCustomer).
		To(index)
	fmt.Println("valid:", t.Validate() == nil)

	// The same join on a topic with other partitions cannot bring a record and its row together.
	refunds := t.Topic("shop.refunds", topology.KeyCodec("json"), topology.Partitions(3))
	refundsIndex, _ := filesink.New(filesink.Config{Path: "refunds.jsonl"})
	t.Flow("refunds-index").From(refunds).Join(customerRows, withCustomer).To(refundsIndex)
	fmt.Println(t.Validate())
	// Output:
	// valid: true
	// invalid topology "shop-search": flow "refunds-index": join "with-customer": topic "shop.refunds" has 3 partitions and table "customers"'s topic "shop.customers" has 2: a join needs them equal
}

// Keyed steps keep state per record key in a goka group of their own: here duplicates are dropped, then each
// key's records are counted. Every stateful step's output is the next step's input.
func ExampleFlow_Keyed() {
	counts, _ := filesink.New(filesink.Config{Path: "counts.jsonl"})
	dedupe, err := stages.Dedupe("dedupe", time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	count, err := stages.Count("count")
	if err != nil {
		fmt.Println(err)
		return
	}
	t := topology.New("clicks")
	clicks := t.Topic("clicks", topology.KeyCodec("json"))
	t.Flow("per-user").From(clicks).Keyed(dedupe).Keyed(count).To(counts)
	fmt.Println("valid:", t.Validate() == nil)
	// Output:
	// valid: true
}
