package topology_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/topology"
)

// A flow whose sink writes through the alias "orders" (the sink creates orders-000001 behind it on its
// first start) can have its index rebuilt from the flow's topic while the pipeline runs and users search
// the alias, for instance after a mapping change: Rebuild returns once the alias points to orders-000002.
// (Compiled, not run: it needs Elasticsearch; sinks/elasticsearch's TestRebuildUnderSearchLoad runs it.)
func ExampleTopology_Rebuild() {
	sink, err := elasticsearch.New(elasticsearch.Config{
		URLs:     []string{"http://127.0.0.1:9200"},
		Alias:    "orders",
		Mappings: []byte(`{"properties":{"amount":{"type":"scaled_float","scaling_factor":100}}}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	t := topology.New("shop-search")
	orders := t.Topic("shop.orders", topology.ValueCodec("json"))
	t.Flow("orders-index").From(orders).To(sink)

	ctx := context.Background()
	go t.Run(ctx) //nolint:errcheck // the running pipeline

	// Later, once it runs (Rebuild fails naming the pipeline before RunWith has started its flows), from
	// any goroutine of the process, e.g. an admin command of the program:
	st, err := t.Rebuild(ctx, "orders-index", topology.RebuildOptions{DropOld: true})
	if err != nil {
		fmt.Println(err) // the alias stays on the old index; err says why
		return
	}
	fmt.Printf("alias %s: %s -> %s, %d records\n", st.Alias, st.OldIndex, st.NewIndex, st.Records)
}
