package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
	"github.com/spf13/cobra"
)

func runCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run --name NAME --from mysql|file|topic ... --to elasticsearch|topic|file ...",
		Short: "Run an ad-hoc pipeline from built-in connectors, configured by flags or a small YAML/JSON file",
		Long: `Run an ad-hoc pipeline from built-in connectors without writing Go, until Ctrl-C.

Sources: mysql (--mysql-dsn, --tables db.t,...: a consistent snapshot, then the binlog; each table's change
events go to topic NAME.db.table), file (--path: lines, following appends), topic (--topic: an existing
topic, decoded with --codec). Sinks: elasticsearch (--es-url, --index), topic (--to-topic), file (--out).
Change events are unwrapped into rows (--unwrap, on for mysql) before the sink; deletes delete documents.

It runs like any Sluice pipeline (SLUICE_BROKERS, SLUICE_DATA_DIR, SLUICE_HTTP_ADDR... apply: without
SLUICE_BROKERS it runs the embedded broker) and serves the operator API, so sluice status NAME works.
Positions are saved: run it again with the same --name and it goes on where it stopped.

  sluice run --name orders-es --from mysql --mysql-dsn 'user:pw@tcp(127.0.0.1:3306)/' \
      --tables shop.orders --to elasticsearch --es-url http://127.0.0.1:9200 --index orders
  sluice run --config orders-es.yaml      # name: orders-es, from: mysql, tables: [shop.orders], ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.config != "" {
				if err := loadConfigFile(cmd.Flags(), o.config); err != nil {
					return err
				}
			}
			if err := o.validate(cmd.Flags()); err != nil {
				return err
			}
			return runPipeline(cmd, o)
		},
	}
	o.register(cmd)
	return cmd
}

// runPipeline builds the topology, starts the progress display and runs until ctx ends or the pipeline fails.
func runPipeline(cmd *cobra.Command, o runOptions) error {
	cfg, err := topology.ConfigFromEnv()
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	bar := o.progress == "bar" || (o.progress == "auto" && isTerminal(stderr))
	if bar && os.Getenv("SLUICE_LOG_LEVEL") == "" && os.Getenv("SLUICE_LOG_FORMAT") == "" {
		// Info lines would scroll the bar away: only warnings and errors show above it.
		cfg.Logger = slog.New(secret.NewHandler(slog.NewTextHandler(clearLine{stderr}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(secret.NewHandler(slog.NewTextHandler(stderr, nil)))
	}
	ctx := cmd.Context()
	if o.from == "topic" && !cfg.Embedded() {
		// An existing topic is read with the partitions it has (a declaration with other counts would fail
		// at start-up); with the embedded broker it lives in the data dir, which only the run opens.
		n, err := topicPartitions(ctx, cfg.Brokers, o.topic)
		if err != nil {
			return err
		}
		o.inputPartitions = n
	}
	p, err := buildRun(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sluice run: pipeline %s: %s -> %s; Ctrl-C stops it\n", o.name, p.from, p.to)
	if bar {
		stop := showProgress(ctx, stderr, o, p.count)
		defer stop()
	}
	err = p.topology.RunWith(ctx, cfg)
	if err != nil && topology.Logged(err) {
		return errors.New("stopped by the failure logged above")
	}
	return err
}

// runPipelineDecl is what buildRun declares: the topology, where records come from and go to (for the
// first line), and the count of records that reached the sink's stage chain (for the progress display).
type runPipelineDecl struct {
	topology *topology.Topology
	from, to string
	count    *atomic.Int64
}

// buildRun declares the pipeline with the public API, as a program would.
func buildRun(o runOptions) (*runPipelineDecl, error) {
	t := topology.New(o.name)
	decl := &runPipelineDecl{topology: t, count: &atomic.Int64{}}
	counter := stages.Map("progress", func(r stream.Record) (stream.Record, error) {
		decl.count.Add(1)
		return r, nil
	})

	// The source and the topics its records go to.
	var inputs []*topology.Topic
	switch o.from {
	case "mysql":
		serverID := o.serverID
		if serverID == 0 {
			serverID = defaultServerID(o.name)
		}
		noSchemaChanges := false
		cdc, err := mysql.New(mysql.Config{DSN: o.mysqlDSN, ServerID: serverID, Tables: o.tables, TopicPrefix: o.name,
			SnapshotMode: mysql.SnapshotMode(o.snapshot), SchemaChanges: &noSchemaChanges})
		if err != nil {
			return nil, fmt.Errorf("--from mysql: %w", err)
		}
		for _, table := range o.tables {
			inputs = append(inputs, t.Topic(cdc.Topic(table), topology.KeyCodec("json-schema"),
				topology.ValueCodec("json-schema"), topology.Partitions(o.partitions)))
		}
		t.Source("mysql", cdc).ToRecordTopics()
		decl.from = "mysql " + strings.Join(o.tables, ",")
	case "file":
		// Lines up to what the topic takes: a longer one stops the task naming it (no start-up warning).
		src, err := file.New(file.Config{Paths: o.path, StopAtEnd: o.stopAtEnd, MaxLineBytes: kafka.DataMaxMessageBytes})
		if err != nil {
			return nil, fmt.Errorf("--path: %w", err)
		}
		lines := t.Topic(o.name+".lines", topology.ValueCodec("string"), topology.Partitions(o.partitions))
		if o.to == "topic" {
			// The lines go straight to the output topic: no flow, no second copy.
			out := t.Topic(o.toTopic, topology.ValueCodec("string"), topology.Partitions(o.partitions))
			t.Source("file", src).Via(counter).To(out)
			decl.from, decl.to = "file "+strings.Join(o.path, ","), "topic "+o.toTopic
			return decl, wrapInvalid(t.Validate())
		}
		t.Source("file", src).To(lines)
		inputs = append(inputs, lines)
		decl.from = "file " + strings.Join(o.path, ",")
	case "topic":
		keyCodec := o.keyCodec
		if keyCodec == "" {
			keyCodec = o.codec
		}
		partitions := o.partitions
		if o.inputPartitions > 0 {
			partitions = o.inputPartitions
		}
		inputs = append(inputs, t.Topic(o.topic, topology.KeyCodec(keyCodec), topology.ValueCodec(o.codec),
			topology.Partitions(partitions)))
		decl.from = "topic " + o.topic
	}

	// One flow per input topic, each with its own sink value.
	var unwrap stages.Stage
	if o.unwrap {
		var err error
		if unwrap, err = stages.Unwrap("unwrap", stages.UnwrapConfig{}); err != nil {
			return nil, err
		}
	}
	var out *topology.Topic
	if o.to == "topic" {
		out = t.Topic(o.toTopic, topology.ValueCodec(o.toCodec), topology.Partitions(o.partitions))
	}
	for _, in := range inputs {
		name := "out"
		if len(inputs) > 1 {
			name = "out-" + strings.ReplaceAll(strings.TrimPrefix(in.Name(), o.name+"."), ".", "-")
		}
		f := t.Flow(name).From(in)
		if unwrap != nil {
			f.Via(unwrap)
		}
		if o.from == "file" && o.to == "elasticsearch" {
			parse, err := stages.ParseJSON("parse")
			if err != nil {
				return nil, err
			}
			f.Via(parse)
		}
		if o.to == "elasticsearch" && o.id == "offset" {
			f.Via(stages.Map("id-from-offset", func(r stream.Record) (stream.Record, error) {
				r.Key = fmt.Sprintf("%s+%d+%d", r.Topic, r.Partition, r.Offset)
				r.KeySchema = nil
				return r, nil
			}))
		}
		f.Via(counter)
		if out != nil {
			f.ToTopic(out)
			continue
		}
		sink, err := newRunSink(o)
		if err != nil {
			return nil, err
		}
		f.To(sink)
	}
	switch o.to {
	case "elasticsearch":
		decl.to = "elasticsearch " + o.esURL + " index " + o.index
	case "topic":
		decl.to = "topic " + o.toTopic
	case "file":
		decl.to = "file " + o.out
	}
	return decl, wrapInvalid(t.Validate())
}

func newRunSink(o runOptions) (sinks.Sink, error) {
	switch o.to {
	case "elasticsearch":
		s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{o.esURL}, Index: o.index})
		if err != nil {
			return nil, fmt.Errorf("--to elasticsearch: %w", err)
		}
		return s, nil
	default:
		s, err := filesink.New(filesink.Config{Path: o.out})
		if err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		return s, nil
	}
}

// wrapInvalid says that a declaration error comes from the flags (a name the topology refuses, say).
func wrapInvalid(err error) error {
	if err != nil {
		return fmt.Errorf("the pipeline these settings describe is not valid: %w", err)
	}
	return nil
}

// topicPartitions returns how many partitions topic has on Kafka, within 10 seconds; a missing topic is an
// error naming --topic.
func topicPartitions(ctx context.Context, brokers []string, topic string) (int, error) {
	f := &kafkaFlags{brokers: strings.Join(brokers, ","), timeout: 10 * time.Second}
	client, addrs, err := f.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	names, err := within(ctx, f, addrs, "a metadata request", client.Topics)
	if err != nil {
		return 0, fmt.Errorf("Kafka at %s: %w", strings.Join(addrs, ","), err)
	}
	if !slices.Contains(names, topic) {
		return 0, fmt.Errorf("--topic %q: no such topic on Kafka at %s (sluice topics lists them)", topic, strings.Join(addrs, ","))
	}
	parts, err := within(ctx, f, addrs, "the partitions of "+topic, func() ([]int32, error) { return client.Partitions(topic) })
	if err != nil {
		return 0, fmt.Errorf("--topic %q: %w", topic, err)
	}
	return len(parts), nil
}
