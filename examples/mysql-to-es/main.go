// Command mysql-to-es is Sluice's flagship pipeline: MySQL changes flow through Kafka into searchable
// Elasticsearch documents, and each order document carries its customer, kept right when the customer
// changes (a foreign-key join on goka tables).
//
//	go run ./examples/mysql-to-es [-generate 50] [-progress 5s]
//
// With no settings everything runs on this machine: a private MariaDB (binlog enabled) in the data dir, the
// embedded Kafka broker, and the embedded Elasticsearch-compatible server on SLUICE_ES_ADDR
// (127.0.0.1:9200), so that `curl 127.0.0.1:9200/orders/_search` works. SLUICE_MYSQL_DSN, SLUICE_BROKERS and
// SLUICE_ES_URL point it at real servers instead; SLUICE_DATA_DIR holds all local state. SLUICE_CODEC=avro
// writes every topic in Avro (Confluent's wire format) with its schemas in the schema registry (the
// embedded one, served on the operator API, unless SLUICE_SCHEMA_REGISTRY_URL names another) instead of
// json-schema.
//
// Each document's Elasticsearch version (external) is the source's: the binlog position of the newest
// change it contains (the sluice.version header the MySQL source sets, the greater of order's and
// customer's through the join), so a replay or a stale producer never makes a document older. An index
// written by an earlier Sluice, versioned by Kafka offsets, upgrades in place: source versions are far
// larger than offsets, so each document takes its next change.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/parentdeath"
	"github.com/sluicehq/sluice/topology"
)

func main() {
	ctx, stop := topology.SignalContext(context.Background()) // a second signal exits at once
	defer stop()
	// Killing `go run` does not reach its child: stop as after Ctrl-C when the parent dies.
	if err := parentdeath.Arm(syscall.SIGTERM); err != nil {
		fmt.Fprintln(os.Stderr, "cannot follow the parent process:", err)
	}
	generateRate := flag.Int("generate", 0, "commit this many changes a second (new, updated and deleted orders, customers) to show movement")
	progress := flag.Duration("progress", 5*time.Second, "how often to print a progress line (0: never)")
	flag.Parse()
	env, err := envFromOS()
	env.generate, env.progress = *generateRate, *progress
	if err == nil {
		err = run(ctx, env, func(format string, args ...any) { fmt.Printf(format+"\n", args...) })
	}
	if err != nil {
		if topology.Logged(err) { // a running pipeline's failure: its log line above says it all
			fmt.Fprintf(os.Stderr, "mysql-to-es: stopped by the failure logged above\n")
		} else {
			fmt.Fprintln(os.Stderr, "mysql-to-es:", err)
		}
		os.Exit(1)
	}
}
