package firstpipelines_test

import (
	"fmt"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/topology"
)

// kcatTopicToElasticsearch indexes a topic that another program writes (here kcat) into Elasticsearch.
// Its records are keyed by order id, so the default document id, the record key, names each order's
// document, and a later record of an order replaces it.
func kcatTopicToElasticsearch(esURL string) (*topology.Topology, error) {
	index, err := elasticsearch.New(elasticsearch.Config{URLs: []string{esURL}, Index: "orders"})
	if err != nil {
		return nil, err
	}
	t := topology.New("orders-search")
	orders := t.Topic("orders") // JSON values, string keys (the default codecs)
	t.Flow("index").From(orders).To(index)
	return t, t.Validate()
}

func Example_kcatTopicToElasticsearch() {
	env := start()
	defer env.close()
	env.createTopic("orders")
	// kcat -b BROKER -P -t orders -K '\t': key, a tab, the JSON value.
	env.produce("orders",
		"order-1\t"+`{"customer":"ada","amount":12.50,"status":"new"}`,
		"order-2\t"+`{"customer":"grace","amount":99.99,"status":"new"}`,
		"order-1\t"+`{"customer":"ada","amount":12.50,"status":"paid"}`)

	t, err := kcatTopicToElasticsearch(env.esURL)
	check(err)
	env.run(t, func() bool { return env.count("orders") == 2 && env.get("orders", "order-1")["status"] == "paid" })
	for _, doc := range env.documents("orders") {
		fmt.Println(doc.ID, string(doc.Source))
	}
	// Output:
	// order-1 {"amount":12.50,"customer":"ada","status":"paid"}
	// order-2 {"amount":99.99,"customer":"grace","status":"new"}
}
