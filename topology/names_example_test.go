package topology_test

import (
	"fmt"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// EngineNames lists the consumer groups and topics a pipeline uses besides the declared topics, e.g. to
// grant its ACLs; Validate refuses a declaration in which two of them would be one.
func ExampleTopology_EngineNames() {
	t := topology.New("shop")
	orders := t.Topic("orders")
	t.Source("cdc", nopSource{}).To(orders)
	count, _ := stages.Count("count")
	t.Flow("orders").From(orders).Keyed(count).To(nopSink{})
	for _, n := range t.EngineNames() {
		fmt.Printf("%-14s %-24s %s\n", n.Kind, n.Name, n.Owner)
	}

	t.Source("orders.count", nopSource{}).To(orders) // its group would be the count step's
	fmt.Println(t.Validate())
	// Output:
	// consumer group shop.cdc                 source "cdc"
	// topic          shop.cdc.control         source "cdc"
	// topic          shop.cdc-table           source "cdc"
	// consumer group shop.orders              flow "orders"
	// consumer group shop.orders.count        flow "orders" stateful step "count"
	// topic          shop.orders.count.out    flow "orders" stateful step "count"
	// topic          shop.orders.count-loop   flow "orders" stateful step "count"
	// topic          shop.orders.count-table  flow "orders" stateful step "count"
	// topic          shop.status              pipeline "shop"
	// topic          shop.commands            pipeline "shop"
	// topic          shop.audit               pipeline "shop"
	// invalid topology "shop": source "orders.count" and flow "orders" stateful step "count" (step 0) derive the same consumer group "shop.orders.count" (as source group and step group): rename one of them
}
