package topology_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stages"
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
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "events", 1)
	values := []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":`, `{"n":4}`, `{"n":5}`}
	testkit.ProduceN(t, brokers, "events", len(values), func(i int) (string, string) { return "k", values[i] })

	sink := &recordingSink{}
	tp := topology.New("strict")
	events := tp.Topic("events", topology.ValueCodec("json"))
	tp.Flow("index").From(events).To(sink, topology.BatchSize(1))
	rc := topology.DefaultConfig()
	rc.Brokers, rc.HTTPAddr = brokers, "off"
	rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := tp.RunWith(ctx, rc)
	if err == nil || !strings.Contains(err.Error(), `flow "index": events/0@3 (key "k"): decode value with json`) {
		t.Fatalf("RunWith = %v; want a failure naming events/0@3 and the codec", err)
	}
	if len(sink.records) > 3 {
		t.Errorf("sink got %d records; nothing after the bad one may pass", len(sink.records))
	}

	if committed := testkit.CommittedOffset(t, brokers, "strict.index", "events", 0); committed > 3 {
		t.Fatalf("committed offset %d passes the undecodable record at offset 3", committed)
	} else {
		t.Logf("committed offset %d, error: %v", committed, err)
	}
}

// pickySink refuses records whose value has "reject": true, as a destination refuses bad data.
type pickySink struct{ recordingSink }

func (s *pickySink) Write(ctx context.Context, batch []stream.Record) error {
	var rej sinks.RejectedError
	var keep []stream.Record
	for i, r := range batch {
		if m, ok := r.Value.(map[string]any); ok && m["reject"] == true {
			rej.Rejections = append(rej.Rejections, sinks.Rejection{Index: i, Reason: errors.New("mapper_parsing_exception: no"),
				Headers: []stream.Header{{Key: "sluice.errors.sink.id", Value: []byte(fmt.Sprint(m["n"]))}}})
			continue
		}
		keep = append(keep, r)
	}
	_ = s.recordingSink.Write(ctx, keep)
	if len(rej.Rejections) > 0 {
		return fmt.Errorf("bulk: %w", &rej)
	}
	return nil
}

// With a dead-letter topic, an undecodable record, a record a stage refuses and a record the sink rejects
// each go there with the reason, stage and origin in headers, byte for byte; the flow goes on and commits
// past them.
func TestDeadLetterTopic(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "events", 1)
	values := []string{`{"n":0}`, `{"n":`, `{"n":2,"veto":true}`, `{"n":3,"reject":true}`, `{"n":4}`}
	var msgs []testkit.Message
	for _, v := range values {
		msgs = append(msgs, testkit.Message{Partition: -1, Key: []byte("k"), Value: []byte(v),
			Headers: []stream.Header{{Key: "trace", Value: []byte("t-" + v)}}})
	}
	testkit.Produce(t, brokers, "events", msgs...)

	sink := &pickySink{}
	veto := stages.Filter("veto", func(r stream.Record) bool { return true })
	vetoErr := stages.Map("no-vetoes", func(r stream.Record) (stream.Record, error) {
		if r.Value.(map[string]any)["veto"] == true {
			return r, errors.New("vetoed")
		}
		return r, nil
	})
	tp := topology.New("forgiving")
	events := tp.Topic("events", topology.ValueCodec("json"))
	dlq := tp.Topic("events.dlq", topology.ValueCodec("bytes"))
	tp.Flow("index").From(events).Via(veto, vetoErr).To(sink, topology.BatchSize(10)).DeadLetter(dlq)
	rc := topology.DefaultConfig()
	rc.Brokers, rc.HTTPAddr = brokers, "off"
	rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, rc) }()

	want := []struct{ value, stage, reason, offset string }{
		{`{"n":`, topology.StageDecode, "decode value with json", "1"},
		{`{"n":2,"veto":true}`, "no-vetoes", `stage "no-vetoes": vetoed`, "2"},
		{`{"n":3,"reject":true}`, topology.StageSink, "mapper_parsing_exception: no", "3"},
	}
	dead := testkit.WaitRecords(t, brokers, "events.dlq", len(want), 30*time.Second)
	for i, w := range want {
		m := dead[i]
		h := map[string]string{}
		for _, rh := range m.Headers {
			h[string(rh.Key)] = string(rh.Value)
		}
		if string(m.Value) != w.value || string(m.Key) != "k" || h["trace"] != "t-"+w.value ||
			h[topology.HeaderErrorStage] != w.stage || !strings.Contains(h[topology.HeaderErrorReason], w.reason) ||
			h[topology.HeaderErrorTopic] != "events" || h[topology.HeaderErrorPartition] != "0" ||
			h[topology.HeaderErrorOffset] != w.offset || h[topology.HeaderErrorFlow] != "index" {
			t.Errorf("dead letter %q with headers %v; want value %q at offset %s, stage %q, reason containing %q",
				m.Value, h, w.value, w.offset, w.stage, w.reason)
		}
		if w.stage == topology.StageSink && h["sluice.errors.sink.id"] != "3" {
			t.Errorf("sink's own headers missing: %v", h)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.mu.Lock()
		n := len(sink.records)
		sink.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d records, want the 2 good ones", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
	if got := testkit.CommittedOffset(t, brokers, "forgiving.index", "events", 0); got != int64(len(values)) {
		t.Errorf("committed offset %d, want %d: dead-lettered records count as handled", got, len(values))
	}
}

func waitForTopic(t *testing.T, brokers []string, topic string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(testkit.HighWaterMarks(t, brokers, topic)) > 0 {
			return
		}
	}
	t.Fatalf("topic %s never appeared", topic)
}
