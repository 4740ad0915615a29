// Command file-to-file is the classic Kafka Connect example in Sluice: lines of files -> Kafka topic ->
// lines of a file, surviving crashes without losing a line.
//
//	go run ./examples/file-to-file -in PATH[,PATH...] -out PATH [-topic lines]
//
// Without -in it reads SLUICE_DATA_DIR/demo-input.log (./sluice-data/demo-input.log by default), which it
// creates with a few lines when missing: append to it and watch the lines reach -out. A file given with -in
// that does not exist is waited for, with a warning naming it every 30 s.
//
// The example stops (as after Ctrl-C) when the process that started it dies, e.g. a killed `go run`.
//
// With no SLUICE_BROKERS it runs an embedded broker on SLUICE_BROKER_ADDR (default 127.0.0.1:9092) that
// keeps its data in SLUICE_DATA_DIR (default ./sluice-data). Start a second copy with the same -name and
// SLUICE_BROKERS pointing at a shared broker, and the two split the files and the topic's partitions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/parentdeath"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

func main() {
	in := flag.String("in", "", "comma-separated input files or glob patterns (default: SLUICE_DATA_DIR/demo-input.log, created when missing)")
	out := flag.String("out", "", "output file (required)")
	topic := flag.String("topic", "lines", "Kafka topic between the files")
	name := flag.String("name", "file-to-file", "pipeline name: replicas with the same name share the work")
	partitions := flag.Int("partitions", 4, "partitions of the topic, when Sluice creates it")
	batch := flag.Int("batch", 1000, "most lines per sink write")
	flag.Parse()
	// Killing `go run` does not reach its child: stop as after Ctrl-C when the parent dies.
	if err := parentdeath.Arm(syscall.SIGTERM); err != nil {
		fmt.Fprintln(os.Stderr, "file-to-file:", err)
	}
	inGiven := false
	flag.Visit(func(f *flag.Flag) { inGiven = inGiven || f.Name == "in" })
	if err := run(*name, *in, inGiven, *out, *topic, *partitions, *batch); err != nil {
		if topology.Logged(err) { // a running pipeline's failure: its log line above says it all
			fmt.Fprintf(os.Stderr, "file-to-file: stopped by the failure logged above\n")
		} else {
			fmt.Fprintln(os.Stderr, "file-to-file:", err)
		}
		os.Exit(1)
	}
}

func run(name, in string, inGiven bool, out, topic string, partitions, batch int) error {
	cfg, err := topology.ConfigFromEnv()
	if err != nil {
		return err
	}
	if !inGiven {
		if in, err = demoInput(cfg.DataDir); err != nil {
			return fmt.Errorf("-in not given: %w", err)
		}
	}
	if cfg.Embedded() {
		// Port 0 picks a free port: pick it now, so that the address printed below is the one to use.
		if cfg.BrokerAddr, err = broker.ResolveAddr(cfg.BrokerAddr); err != nil {
			return fmt.Errorf("SLUICE_BROKER_ADDR: %w", err)
		}
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
	fmt.Printf("input:    %s\n", strings.Join(paths, ","))
	fmt.Printf("topic:    %s\n", topic)
	if cfg.HTTPAddr != "off" {
		if cfg.HTTPAddr == topology.DefaultHTTPAddr && os.Getenv("SLUICE_HTTP_ADDR") == "" && httpAddrTaken(cfg.HTTPAddr) {
			fmt.Printf("metrics:  %s is taken (another replica?): on a free port, named by the log line \"default HTTP address taken\"\n", cfg.HTTPAddr)
		} else {
			fmt.Printf("metrics:  http://%s/metrics\n", cfg.HTTPAddr)
		}
	}

	ctx, stop := topology.SignalContext(context.Background()) // a second signal exits at once
	defer stop()
	return t.RunWith(ctx, cfg)
}

// httpAddrTaken reports whether something listens on addr now.
func httpAddrTaken(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// demoInput is the input used without -in: dataDir/demo-input.log, created with a few lines when missing.
func demoInput(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "demo-input.log")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintf(f, "first line of the demo input\nsecond line\nthird line: append more with echo hello >> %s\n", path)
	return path, errors.Join(err, f.Close())
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
