// Command file-to-file is the classic Kafka Connect example in Sluice: lines of files -> Kafka topic ->
// lines of a file, surviving crashes without losing a line.
//
//	go run ./examples/file-to-file -in PATH[,PATH...] -out PATH [-topic lines]
//
// With no SLUICE_BROKERS it runs an embedded broker on SLUICE_BROKER_ADDR (default 127.0.0.1:9092) that
// keeps its data in SLUICE_DATA_DIR (default ./sluice-data). Start a second copy with the same -name and
// SLUICE_BROKERS pointing at a shared broker, and the two split the files and the topic's partitions.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

func main() {
	in := flag.String("in", "", "comma-separated input files or glob patterns (required)")
	out := flag.String("out", "", "output file (required)")
	topic := flag.String("topic", "lines", "Kafka topic between the files")
	name := flag.String("name", "file-to-file", "pipeline name: replicas with the same name share the work")
	partitions := flag.Int("partitions", 4, "partitions of the topic, when Sluice creates it")
	batch := flag.Int("batch", 1000, "most lines per sink write")
	flag.Parse()
	if err := run(*name, *in, *out, *topic, *partitions, *batch); err != nil {
		if topology.Logged(err) { // a running pipeline's failure: its log line above says it all
			fmt.Fprintf(os.Stderr, "file-to-file: stopped by the failure logged above\n")
		} else {
			fmt.Fprintln(os.Stderr, "file-to-file:", err)
		}
		os.Exit(1)
	}
}

func run(name, in, out, topic string, partitions, batch int) error {
	cfg, err := topology.ConfigFromEnv()
	if err != nil {
		return err
	}
	var paths []string
	for _, p := range strings.Split(in, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	src, err := filesource.New(filesource.Config{Paths: paths})
	if err != nil {
		return fmt.Errorf("-in: %w", err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		return fmt.Errorf("-out: %w", err)
	}

	t := declare(name, topic, partitions, batch, src, sink)

	if cfg.Embedded() {
		fmt.Printf("data dir: %s\nbroker:   %s (embedded)\n", cfg.DataDir, cfg.BrokerAddr)
	} else {
		fmt.Printf("broker:   %s\n", strings.Join(cfg.Brokers, ","))
	}
	fmt.Printf("topic:    %s\n", topic)
	if cfg.HTTPAddr != "off" {
		fmt.Printf("metrics:  http://%s/metrics\n", cfg.HTTPAddr)
	}

	ctx, stop := topology.SignalContext(context.Background()) // a second signal exits at once
	defer stop()
	return t.RunWith(ctx, cfg)
}

// declare is the pipeline: the files' lines into topic, the topic's records into the output file. Its
// consumer groups and engine topics are named after name (see topology.Topology.EngineNames).
func declare(name, topic string, partitions, batch int, src *filesource.Source, sink *filesink.Sink) *topology.Topology {
	t := topology.New(name)
	lines := t.Topic(topic, topology.ValueCodec("string"), topology.Partitions(partitions))
	t.Source("files", src).To(lines)
	t.Flow("to-file").From(lines).To(sink, topology.BatchSize(batch))
	return t
}
