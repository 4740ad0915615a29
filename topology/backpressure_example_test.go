package topology_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// A flow in front of an upsert sink keeps only the newest pending record of each key when the sink falls
// behind; a log source drops what Kafka cannot take fast enough. Validate names a policy a component cannot
// take.
func ExampleBackpressure() {
	t := topology.New("shop")
	orders := t.Topic("orders")
	t.Source("gen", &genSource{}, topology.SourceBackpressure(topology.BackpressurePolicy{
		Mode: topology.BackpressureDrop, MaxRecords: 10_000})).To(orders)
	t.Flow("orders-index").From(orders).To(nopSink{}, topology.BatchSize(500),
		topology.Backpressure(topology.BackpressurePolicy{Mode: topology.BackpressureLatest, MaxRecords: 50_000}))
	t.Flow("orders-archive").From(orders).To(nopSink{},
		topology.Backpressure(topology.BackpressurePolicy{Mode: topology.BackpressureBuffer, MaxBytes: 64 << 20,
			MaxDiskBytes: 10 << 30, Then: topology.BackpressureError, Wait: time.Minute}))
	fmt.Println(t.Validate())

	bad := topology.New("bad")
	in := bad.Topic("in")
	bad.Flow("f").From(in).To(nopSink{}, topology.Backpressure(topology.BackpressurePolicy{
		Mode: topology.BackpressureDrop, Wait: time.Second}))
	fmt.Println(bad.Validate())
	// Output:
	// <nil>
	// invalid topology "bad": flow "f": Backpressure Wait: applies to ERROR (or BUFFER then ERROR) only, the mode is DROP
}
