// Command crashpipe is the pipeline that the stateful crash test (crash_test.go) SIGKILLs and restarts: four
// flows over topics that the test fills, each through one stateful step into a file of its own.
//
//		crashpipe -name NAME -out DIR
//
//	  - count:  events -> stages.Count                        -> DIR/count.out
//	  - sum:    events -> stages.Aggregate (sum of field n)   -> DIR/sum.out
//	  - dedupe: dups   -> stages.Dedupe                       -> DIR/dedupe.out
//	  - join:   orders -> Join(customers, JoinForeignKey)     -> DIR/join.out
//
// Every topic has json keys ({"id":N}), json values and Partitions partitions. The broker comes from
// SLUICE_BROKERS (topology.ConfigFromEnv).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// Partitions is the partition count of every input topic.
const Partitions = 4

// Sum is the aggregate of the sum flow: the record's id, how many records it had and the sum of their n.
type Sum struct {
	ID      any   `json:"id"`
	Records int64 `json:"records"`
	Sum     int64 `json:"sum"`
}

func main() {
	name := flag.String("name", "crashpipe", "pipeline name")
	out := flag.String("out", ".", "directory of the output files")
	flag.Parse()
	if err := run(*name, *out); err != nil {
		fmt.Fprintln(os.Stderr, "crashpipe:", err)
		os.Exit(1)
	}
}

func run(name, out string) error {
	cfg, err := topology.ConfigFromEnv()
	if err != nil {
		return err
	}
	t := topology.New(name)
	topic := func(name string) *topology.Topic {
		return t.Topic(name, topology.KeyCodec("json"), topology.Partitions(Partitions))
	}
	events, dups, orders, customers := topic("events"), topic("dups"), topic("orders"), topic("customers")
	sink := func(file string) (*filesink.Sink, error) {
		return filesink.New(filesink.Config{Path: filepath.Join(out, file)})
	}

	count, err := stages.Count("count")
	if err != nil {
		return err
	}
	sum, err := stages.Aggregate("sum", func(acc Sum, r stream.Record) (Sum, error) {
		id, _ := stream.FieldOf(r.Value, "id")
		n, _ := stream.FieldOf(r.Value, "n")
		v, err := strconv.ParseInt(fmt.Sprint(n), 10, 64)
		if err != nil {
			return acc, fmt.Errorf("field n: %w", err)
		}
		acc.ID, acc.Records, acc.Sum = id, acc.Records+1, acc.Sum+v
		return acc, nil
	})
	if err != nil {
		return err
	}
	dedupe, err := stages.Dedupe("dedupe", 0)
	if err != nil {
		return err
	}
	customerRows := t.Table("customers", customers)
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		from  *topology.Topic
		keyed stages.Keyed // or
		join  *stages.Join
	}{{"count", events, count, nil}, {"sum", events, sum, nil}, {"dedupe", dups, dedupe, nil}, {"join", orders, nil, join}} {
		s, err := sink(f.name + ".out")
		if err != nil {
			return err
		}
		flow := t.Flow(f.name).From(f.from)
		if f.join != nil {
			flow.Join(customerRows, f.join)
		} else {
			flow.Keyed(f.keyed)
		}
		flow.To(s, topology.Linger(20*time.Millisecond))
	}
	ctx, stop := topology.SignalContext(context.Background())
	defer stop()
	return t.RunWith(ctx, cfg)
}
