package firstpipelines_test

import (
	"fmt"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// Order is what the filter reads of each record value; fields it does not declare travel on unchanged.
type Order struct {
	Customer string         `json:"customer"`
	Amount   stream.Decimal `json:"amount"`
}

// filterTopicToTopic copies the orders of 100 or more from one topic into another, with their keys, their
// fields (written back in name order) and their numbers' digits.
func filterTopicToTopic() (*topology.Topology, error) {
	hundred := stream.NewDecimal(100, 0)
	large := stages.FilterValue("large-orders", func(o Order) bool { return o.Amount.Cmp(hundred) >= 0 })
	t := topology.New("large-orders")
	orders, largeOrders := t.Topic("orders"), t.Topic("large-orders")
	t.Flow("filter").From(orders).Via(large).ToTopic(largeOrders)
	return t, t.Validate()
}

func Example_filterTopicToTopic() {
	env := start()
	defer env.close()
	env.createTopic("orders")
	env.produce("orders",
		"order-1\t"+`{"customer":"ada","amount":12.50}`,
		"order-2\t"+`{"customer":"grace","amount":250.00,"note":"gift"}`,
		"order-3\t"+`{"customer":"linus","amount":99.99}`,
		"order-4\t"+`{"customer":"ada","amount":100}`)

	t, err := filterTopicToTopic()
	check(err)
	var large []string
	env.run(t, func() bool { large, err = env.consumed("large-orders"); return len(large) == 2 })
	for _, record := range large {
		fmt.Println(record)
	}
	// Output:
	// order-2 {"amount":250.00,"customer":"grace","note":"gift"}
	// order-4 {"amount":100,"customer":"ada"}
}
