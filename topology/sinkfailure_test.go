package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// brokenSink fails every write for good, as a destination that refuses the pipeline's credentials.
type brokenSink struct{}

const brokenCause = "index orders: 403 forbidden: this action is not authorized"

func (brokenSink) Open(context.Context) error                   { return nil }
func (brokenSink) Close() error                                 { return nil }
func (brokenSink) Write(context.Context, []stream.Record) error { return errors.New(brokenCause) }
func (brokenSink) String() string                               { return "the test's broken sink" }

// vetoSink rejects the record whose value has "n": 13 the way the Elasticsearch sink rejects a document the
// index mapping refuses (reason and the document's index and id in headers), and writes the rest.
type vetoSink struct{}

const vetoCause = "status 400 mapper_parsing_exception: failed to parse field [amount]"

func (vetoSink) Open(context.Context) error { return nil }
func (vetoSink) Close() error               { return nil }
func (vetoSink) Write(_ context.Context, batch []stream.Record) error {
	var rej sinks.RejectedError
	for i, r := range batch {
		if m, ok := r.Value.(map[string]any); ok && fmt.Sprint(m["n"]) == "13" {
			rej.Rejections = append(rej.Rejections, sinks.Rejection{Index: i, Reason: errors.New(vetoCause),
				Headers: []stream.Header{{Key: "sluice.errors.es.index", Value: []byte("orders")}, {Key: "sluice.errors.es.id", Value: []byte("order-13")}}})
		}
	}
	if len(rej.Rejections) > 0 {
		return fmt.Errorf("elasticsearch sink: bulk: %w", &rej)
	}
	return nil
}

// produceSpread writes {"n": i} for i in [0, 20) to topic: 0-9 to partition 0, 10-19 to partition 1.
func produceSpread(t *testing.T, brokers []string, topic string) {
	t.Helper()
	testkit.CreateTopic(t, brokers, topic, 2)
	msgs := make([]testkit.Message, 20)
	for i := range msgs {
		msgs[i] = testkit.Message{Partition: int32(i / 10), Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	testkit.Produce(t, brokers, topic, msgs...)
}

// runFailing runs a flow of topic "events" (2 partitions, 20 records) into sink until it fails, and returns
// RunWith's error and the pipeline's log.
func runFailing(t *testing.T, sink sinks.Sink) (error, *testkit.LogBuffer) {
	t.Helper()
	brokers := testkit.Brokers(t, 1)
	produceSpread(t, brokers, "events")
	tp := topology.New("failing")
	events := tp.Topic("events", topology.ValueCodec("json"), topology.Partitions(2))
	tp.Flow("index").From(events).To(sink, topology.BatchSize(100), topology.Linger(500*time.Millisecond))
	rc := topology.DefaultConfig()
	rc.Brokers, rc.HTTPAddr = brokers, "off"
	log := &testkit.LogBuffer{}
	rc.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := tp.RunWith(ctx, rc)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("RunWith = %v (%v); want the sink's failure; log:\n%s", err, ctx.Err(), strings.Join(log.Lines(""), "\n"))
	}
	return err, log
}

// checkOnce asserts that the failure is logged in exactly one ERROR line, that this line and RunWith's error
// each say the cause once, and that both match where.
func checkOnce(t *testing.T, err error, log *testkit.LogBuffer, cause string, where *regexp.Regexp) {
	t.Helper()
	errorLines := log.Lines("level=ERROR")
	causeLines := log.Lines(cause)
	t.Logf("RunWith: %v", err)
	for _, l := range causeLines {
		t.Logf("log: %s", l)
	}
	if len(errorLines) != 1 || len(causeLines) != 1 {
		t.Fatalf("%d ERROR lines and %d lines naming the cause; want the failure logged once:\n%s",
			len(errorLines), len(causeLines), strings.Join(log.Lines(""), "\n"))
	}
	if !where.MatchString(errorLines[0]) {
		t.Errorf("error line %q does not match %q", errorLines[0], where)
	}
	if n := strings.Count(err.Error(), cause); n != 1 {
		t.Errorf("RunWith's error says the cause %d times, want once: %v", n, err)
	}
	if !where.MatchString(err.Error()) {
		t.Errorf("RunWith's error %q does not match %q", err, where)
	}
}

// A sink write that fails for good stops the pipeline with one error line that names the flow, the sink,
// the Kafka records the batch holds (topic/partition@first-last offset) and the cause; RunWith's error says
// the same, once (not once per record or partition).
func TestPermanentSinkFailureLoggedOnce(t *testing.T) {
	err, log := runFailing(t, brokenSink{})
	checkOnce(t, err, log, brokenCause, regexp.MustCompile(
		`flow \\?"index\\?": sink write of \d+ records? \(events/[01]@0-\d(, events/[01]@0-\d)?\) to the test's broken sink: `+regexp.QuoteMeta(brokenCause)))
}

// A record the sink rejects, in a flow with no dead-letter topic, stops the pipeline with one error line
// naming the flow, the rejected record's topic/partition@offset, the document it was meant to be (the
// sink's headers) and why.
func TestSinkRejectionWithoutDeadLetterNamesTheRecord(t *testing.T) {
	err, log := runFailing(t, vetoSink{})
	checkOnce(t, err, log, vetoCause, regexp.MustCompile(
		`flow \\?"index\\?": sink write of \d+ records? \(.+\) to the sink of flow \\?"index\\?": rejected events/1@3 \(es\.index=orders, es\.id=order-13\): `+regexp.QuoteMeta(vetoCause)))
}
