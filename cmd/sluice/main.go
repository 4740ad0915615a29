// Command sluice is the operator's tool: a standalone embedded broker for local multi-replica development,
// the stored positions of a pipeline's sources, and an Elasticsearch-compatible server for examples.
//
//	sluice broker --addr 127.0.0.1:9092 --data-dir ./sluice-data
//	sluice positions --brokers 127.0.0.1:9092 --pipeline file-to-file --source files
//	sluice es serve --addr 127.0.0.1:9200 [--data-dir D]
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sluicehq/sluice/topology"
)

func main() {
	ctx, stop := topology.SignalContext(context.Background()) // a second signal exits at once
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}
