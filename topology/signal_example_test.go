package topology_test

import (
	"context"
	"fmt"
	"os"

	"github.com/sluicehq/sluice/topology"
)

// A pipeline binary stops cleanly on the first SIGINT or SIGTERM (Run returns nil, exit status 0) and at
// once on a second one.
func ExampleSignalContext() {
	ctx, stop := topology.SignalContext(context.Background())
	defer stop()

	t := topology.New("example")
	// ... declare topics, sources and flows ...
	if err := t.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}
