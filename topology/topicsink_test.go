package topology

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/sinktest"
	"github.com/sluicehq/sluice/stream"
)

// TestTopicSinkConformance runs the sinks conformance suite on the sink of Flow.ToTopic: records reach the
// output topic (a rewritten batch twice: Kafka is a log), and a record for a topic the topology does not
// declare is rejected alone.
func TestTopicSinkConformance(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	tp := New("topicsink")
	in := tp.Topic("in", ValueCodec("json"))
	out := tp.Topic("out", ValueCodec("json"), Partitions(2))
	tp.Flow("copy").From(in).ToTopic(out)
	if err := tp.Validate(); err != nil { // resolves the topics' codecs
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	p := &pipelineRun{t: tp, cfg: cfg, brokers: brokers, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		settings: kafka.Settings{SessionTimeout: cfg.SessionTimeout, RetryTimeout: cfg.RetryTimeout},
		topics:   map[string]*Topic{"out": out}, producers: map[string]*kafka.Producer{}}
	ctx := t.Context()
	if err := p.ensureTopics(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.openProducers(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.closeProducers)
	sinktest.Run(t, sinktest.Config{
		NewSink: func(*testing.T) sinks.Sink { return &topicSink{p: p, to: out, from: "in"} },
		Record: func(i int) stream.Record {
			return stream.Record{Topic: "in", Key: fmt.Sprint("k", i), Value: map[string]any{"n": int64(i)}}
		},
		Bad: func(i int) stream.Record {
			return stream.Record{Topic: "undeclared", Key: fmt.Sprint("k", i), Value: map[string]any{"n": int64(i)}}
		},
		ID: func(r stream.Record) string { return fmt.Sprintf(`{"n":%d}`, r.Value.(map[string]any)["n"]) },
		ReadBack: func(t *testing.T) []string {
			return testkit.Values(testkit.ReadTopic(t, brokers, "out"))
		},
	})
}
