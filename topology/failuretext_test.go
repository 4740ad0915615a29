package topology

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-multierror"
)

// engineFailure says a processor's error in the user's words, whatever goka and sarama wrapped around it
// (the shapes below are goka v1.1.17's and sarama's own), and keeps the cause for errors.Is.
func TestEngineFailureText(t *testing.T) {
	outage := fmt.Errorf("consumer group %q: Kafka at %s unavailable for 3s (RetryTimeout): %w", "shop.index", "127.0.0.1:9092", sarama.ErrOutOfBrokers)
	perPartition := func(p int32, err error) error { // goka's errProcessing text around its async failer's
		return fmt.Errorf("error processing message (partition=%d): asynchronous error from callback: %w", p, err)
	}
	tooLarge := fmt.Errorf("could not commit message with key '%s': %w", "k2",
		multierror.Append(nil, fmt.Errorf("error emitting to shop.out: %w", &sarama.ProducerError{Msg: &sarama.ProducerMessage{Topic: "shop.out"}, Err: sarama.ErrMessageSizeTooLarge})))
	for _, c := range []struct {
		name string
		err  error
		want string
		is   error
	}{
		{"Kafka gone", fmt.Errorf("error consuming from group consumer: %w", outage),
			`flow "index": consumer group "shop.index": Kafka at 127.0.0.1:9092 unavailable for 3s (RetryTimeout): client has run out of available brokers to talk to`,
			sarama.ErrOutOfBrokers},
		{"one partition's write refused", fmt.Errorf("error consuming from group consumer: %w", multierror.Append(nil, perPartition(0, tooLarge))),
			`flow "index": record with key "k2": cannot write to topic shop.out: Message was too large, server rejected it to avoid allocation error`,
			sarama.ErrMessageSizeTooLarge},
		{"the same on two partitions", multierror.Append(nil, perPartition(0, tooLarge), perPartition(1, tooLarge)),
			`flow "index": record with key "k2": `, sarama.ErrMessageSizeTooLarge},
		{"a panic", multierror.Append(nil, fmt.Errorf("error processing message (partition=3): panic in callback: %v\n%s", "boom",
			"goroutine 7 [running]:\nmain.f()\n\t/x/main.go:12 +0x1d")),
			`flow "index": panicked: boom`, nil},
		{"a decoding failure of goka's", fmt.Errorf("error processing message (partition=1): error decoding message for key k7 from shop.x-loop/1: unexpected end of JSON input"),
			`flow "index": cannot decode a record with key "k7" from shop.x-loop/1: unexpected end of JSON input`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := engineFailure(`flow "index"`, c.err)
			t.Logf("%q\n -> %q", c.err, got)
			if !strings.HasPrefix(got.Error(), c.want) {
				t.Errorf("got  %q\nwant %q...", got, c.want)
			}
			if c.name == "the same on two partitions" && strings.Count(got.Error(), "k2") != 1 {
				t.Errorf("the cause is said %d times, want once: %q", strings.Count(got.Error(), "k2"), got)
			}
			for _, w := range []string{"error consuming", "could not commit", "partition=", "callback", "kafka: ", "kafka server: ", "occurred", "goroutine", ".go:", "\n"} {
				if strings.Contains(got.Error(), w) {
					t.Errorf("%q says %q", got, w)
				}
			}
			if c.is != nil && !errors.Is(got, c.is) {
				t.Errorf("errors.Is(%v) = false: the cause is lost", c.is)
			}
		})
	}
}

// A key shows when it is text a reader can read, cut when long.
func TestRecordRefText(t *testing.T) {
	for _, c := range []struct {
		key, want string
	}{
		{"k2", `orders/0@17 (key "k2")`},
		{`{"id":2}`, `orders/0@17 (key "{\"id\":2}")`},
		{"", "orders/0@17"},
		{"\x00\x01binary", "orders/0@17"},
		{"\xff\xfe", "orders/0@17"},
		{strings.Repeat("k", 200), `orders/0@17 (key "` + strings.Repeat("k", maxKeyShown) + `"...)`},
	} {
		if got := (recordRef{topic: "orders", partition: 0, offset: 17, key: c.key}).String(); got != c.want {
			t.Errorf("key %q: %s, want %s", c.key, got, c.want)
		}
	}
}

// A record of a stateful step's output topic is named as the step's output, by partition and offset, not
// by the engine's topic name; so is a sink batch read from it.
func TestStepOutputText(t *testing.T) {
	out := &Topic{name: "shop.orders.count.out", step: "count"}
	rec := recordRef{topic: out.name, partition: 1, offset: 17, key: "o1", about: stepOutputAbout(out)}
	if got, want := rec.String(), `output of step "count" (partition 1, offset 17) (key "o1")`; got != want {
		t.Errorf("recordRef: %s, want %s", got, want)
	}
	items := []sinkItem{
		{origin: origin{topic: out.name, partition: 0, offset: 120}},
		{origin: origin{topic: out.name, partition: 0, offset: 129}},
		{origin: origin{topic: out.name, partition: 1, offset: 88}},
	}
	if got, want := batchSpan(items, out), `output of step "count" (partition 0, offsets 120-129; partition 1, offset 88)`; got != want {
		t.Errorf("batchSpan: %s, want %s", got, want)
	}
	orders := &Topic{name: "orders"}
	for i := range items {
		items[i].origin.topic = "orders"
	}
	if got, want := batchSpan(items, orders), "orders/0@120-129, orders/1@88"; got != want {
		t.Errorf("batchSpan of a declared topic: %s, want %s", got, want)
	}
}

// A stall or failure message counts records in English: "1 record", "2 records".
func TestCountRecords(t *testing.T) {
	for n, want := range map[int]string{0: "0 records", 1: "1 record", 2: "2 records", 500: "500 records"} {
		if got := countRecords(n); got != want {
			t.Errorf("countRecords(%d) = %q, want %q", n, got, want)
		}
	}
}
