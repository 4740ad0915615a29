package topology_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// recordingSink keeps what it was given.
type recordingSink struct {
	mu      sync.Mutex
	records []stream.Record
}

func (s *recordingSink) Open(context.Context) error { return nil }
func (s *recordingSink) Close() error               { return nil }
func (s *recordingSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, batch...)
	return nil
}

// A record the flow cannot decode stops the pipeline with an error naming where it is, and the group's
// committed offset does not pass it: after a fix, it is read again.
func TestUndecodableRecordStopsFlowWithoutSkippingIt(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := kafka.SaramaConfig(kafka.Settings{})
	if err := kafka.EnsureTopics(b.Addrs(), cfg, 1, []kafka.TopicSpec{{Name: "events", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(b.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":`, `{"n":4}`, `{"n":5}`} {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "events", Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatal(err)
		}
	}
	producer.Close()

	sink := &recordingSink{}
	tp := topology.New("strict")
	events := tp.Topic("events", topology.ValueCodec("json"))
	tp.Flow("index").From(events).To(sink, topology.BatchSize(1))
	rc := topology.DefaultConfig()
	rc.Brokers, rc.HTTPAddr = b.Addrs(), "off"
	rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = tp.RunWith(ctx, rc)
	if err == nil || !strings.Contains(err.Error(), `flow "index": events/0@3: decode value with json`) {
		t.Fatalf("RunWith = %v; want a failure naming events/0@3 and the codec", err)
	}
	if len(sink.records) > 3 {
		t.Errorf("sink got %d records; nothing after the bad one may pass", len(sink.records))
	}

	admin, err := sarama.NewClusterAdmin(b.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	offsets, err := admin.ListConsumerGroupOffsets("strict.index", map[string][]int32{"events": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if committed := offsets.GetBlock("events", 0).Offset; committed > 3 {
		t.Fatalf("committed offset %d passes the undecodable record at offset 3", committed)
	} else {
		t.Logf("committed offset %d, error: %v", committed, err)
	}
}
