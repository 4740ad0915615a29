package elasticsearch_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// idPipeline is topic (json values) -> Elasticsearch index "events" with the given ID, with a dead-letter
// topic.
func idPipeline(t *testing.T, name, topic, esURL, id string) *topology.Topology {
	t.Helper()
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{esURL}, Index: "events", ID: id, RetryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New(name)
	in := tp.Topic(topic, topology.ValueCodec("json"), topology.Partitions(2))
	tp.Flow("index").From(in).To(sink, topology.BatchSize(100)).DeadLetter(tp.Topic(topic+".dlq", topology.ValueCodec("bytes")))
	return tp
}

// startPipeline runs tp on brokers until the test ends; done reports a RunWith that ended early, so that
// the test's polls fail with its error instead of waiting out their deadlines.
func startPipeline(t *testing.T, tp *topology.Topology, brokers []string) (done <-chan error, stop func()) {
	t.Helper()
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- tp.RunWith(ctx, cfg) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}
	t.Cleanup(stop)
	return errc, stop
}

// poll calls cond until it is true, failing the test after a minute (saying what) or when the pipeline
// ended early.
func poll(t *testing.T, done <-chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("the pipeline ended before %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not after a minute: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Records without keys, indexed with Kafka Connect's key.ignore ids: each record is its own document,
// named by its place in Kafka, and a second pipeline reading the same topic from its start (a replay)
// overwrites them rather than adding any.
func TestOffsetIDKeepsEveryRecordAndReplayOverwrites(t *testing.T) {
	const n = 500
	brokers := testkit.Brokers(t, 1)
	srv := startServer(t)
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	testkit.CreateTopic(t, brokers, "clicks", 2)
	msgs := make([]testkit.Message, n)
	for i := range msgs {
		msgs[i] = testkit.Message{Partition: int32(i % 2), Value: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	testkit.Produce(t, brokers, "clicks", msgs...)

	for _, run := range []string{"first", "replay"} {
		done, stop := startPipeline(t, idPipeline(t, "ids-"+run, "clicks", srv.URL(), elasticsearch.OffsetID), brokers)
		group := "ids-" + run + ".index"
		poll(t, done, "the "+run+" run committed every record", func() bool {
			return testkit.CommittedOffset(t, brokers, group, "clicks", 0) == n/2 &&
				testkit.CommittedOffset(t, brokers, group, "clicks", 1) == n/2
		})
		stop()
		if got := countDocs(t, client, "events"); got != n {
			t.Fatalf("after the %s run the index holds %d documents, want %d", run, got, n)
		}
	}
	for i := range n {
		id := fmt.Sprintf("clicks+%d+%d", i%2, i/2)
		doc, ok := getDoc(client, "events", id)
		if !ok || doc["n"] != float64(i) {
			t.Fatalf("document %s = %v, want n=%d", id, doc, i)
		}
	}
}

// deadLetters waits until topic holds n records and returns them.
func deadLetters(t *testing.T, done <-chan error, brokers []string, topic string, n int) []testkit.Message {
	t.Helper()
	var msgs []testkit.Message
	poll(t, done, fmt.Sprintf("%s holds %d records", topic, n), func() bool {
		hwm := testkit.HighWaterMarks(t, brokers, topic)
		total := int64(0)
		for _, o := range hwm {
			total += o
		}
		if total < int64(n) {
			return false
		}
		msgs = testkit.ReadTopic(t, brokers, topic)
		return true
	})
	return msgs
}

// With the default ID, a record without a key goes to the dead-letter topic with a reason that names it
// and the choices; the keyed records beside it are indexed.
func TestRecordWithoutKeyNamesTheIDChoices(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	srv := startServer(t)
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	testkit.CreateTopic(t, brokers, "orders", 2)
	testkit.Produce(t, brokers, "orders",
		testkit.Message{Partition: 0, Key: []byte("o-1"), Value: []byte(`{"id":1}`)},
		testkit.Message{Partition: 0, Value: []byte(`{"id":2}`)},
		testkit.Message{Partition: 0, Key: []byte("o-3"), Value: []byte(`{"id":3}`)})
	done, _ := startPipeline(t, idPipeline(t, "nokey", "orders", srv.URL(), ""), brokers)

	dl := deadLetters(t, done, brokers, "orders.dlq", 1)[0]
	reason, _ := dl.Header(topology.HeaderErrorReason)
	want := `record at orders/0/1 has no key: set the sink's ID to "{topic}+{partition}+{offset}" or "{field:...}"`
	if string(dl.Value) != `{"id":2}` || !strings.Contains(reason, want) {
		t.Fatalf("dead letter %s with reason %q; want the record {\"id\":2} and a reason saying %q", dl.Value, reason, want)
	}
	poll(t, done, "2 documents indexed", func() bool { return countDocs(t, client, "events") == 2 })
}

// {field:PATH} takes the id from the value, nested by dots; a record without the field is set aside naming
// the field and the record.
func TestFieldIDFromNestedValue(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	srv := startServer(t)
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	testkit.CreateTopic(t, brokers, "users", 2)
	testkit.Produce(t, brokers, "users",
		testkit.Message{Partition: 0, Key: []byte("same"), Value: []byte(`{"user":{"id":"u-1"},"v":1}`)},
		testkit.Message{Partition: 0, Key: []byte("same"), Value: []byte(`{"user":{"name":"x"},"v":2}`)},
		testkit.Message{Partition: 0, Key: []byte("same"), Value: []byte(`{"user":{"id":"u-3"},"v":3}`)})
	done, _ := startPipeline(t, idPipeline(t, "byfield", "users", srv.URL(), "user-{field:user.id}"), brokers)

	dl := deadLetters(t, done, brokers, "users.dlq", 1)[0]
	reason, _ := dl.Header(topology.HeaderErrorReason)
	if want := `record at users/0/1 has no field "user.id" for its document id (ID "user-{field:user.id}")`; !strings.Contains(reason, want) {
		t.Fatalf("dead-letter reason %q does not say %q", reason, want)
	}
	poll(t, done, "2 documents indexed", func() bool { return countDocs(t, client, "events") == 2 })
	for id, v := range map[string]float64{"user-u-1": 1, "user-u-3": 3} {
		if doc, ok := getDoc(client, "events", id); !ok || doc["v"] != v {
			t.Errorf("document %s = %v, want v=%v", id, doc, v)
		}
	}
}

// Validate refuses, before anything starts, a flow from the file source into the sink with the default
// ID (every line of a file has its path as key), naming the flow, the sink, the source and the choices; a
// chosen ID passes.
func TestValidateRefusesDefaultIDAfterFileSource(t *testing.T) {
	build := func(id string) error {
		src, err := filesource.New(filesource.Config{Paths: []string{"/var/log/app.jsonl"}, Format: filesource.JSONLines})
		if err != nil {
			t.Fatal(err)
		}
		sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{"http://127.0.0.1:9200"}, Index: "logs", ID: id})
		if err != nil {
			t.Fatal(err)
		}
		tp := topology.New("logs")
		lines := tp.Topic("lines", topology.ValueCodec("json"))
		tp.Source("files", src).To(lines)
		tp.Flow("index").From(lines).To(sink)
		return tp.Validate()
	}
	err := build("")
	if err == nil {
		t.Fatal("Validate accepted the default ID after the file source")
	}
	for _, want := range []string{`flow "index"`, "elasticsearch index logs", `source "files"`,
		`the keys of its records do not identify documents`, `set the sink's ID to "{topic}+{partition}+{offset}"`, `"{field:PATH}"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\ndoes not say %q", err, want)
		}
	}
	t.Logf("Validate says: %v", err)
	for _, id := range []string{elasticsearch.OffsetID, "{field:id}", "{key}"} {
		if err := build(id); err != nil {
			t.Errorf("ID %q: Validate: %v", id, err)
		}
	}
}

// With Connect's offset ids every record is its own document: a tombstone or delete event has no document
// to delete, so Write acknowledges it without sending anything, and the documents stay.
func TestOffsetIDSkipsDeletes(t *testing.T) {
	srv := startServer(t)
	sink := newSink(t, elasticsearch.Config{URLs: []string{srv.URL()}, Index: "lines", ID: elasticsearch.OffsetID})
	err := sink.Write(context.Background(), []stream.Record{
		{Topic: "lines", Offset: 0, Key: "/var/log/a.log", Value: `{"msg":"one"}`},
		{Topic: "lines", Offset: 1, Key: "/var/log/a.log"},
		{Topic: "lines", Offset: 2, Key: "/var/log/a.log", Value: `{"msg":"two"}`, Operation: stream.OpDelete},
		{Topic: "lines", Offset: 3, Key: "/var/log/a.log", Value: `{"msg":"three"}`},
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	if got := countDocs(t, client, "lines"); got != 2 {
		t.Fatalf("%d documents, want 2 (offsets 0 and 3)", got)
	}
	for id, msg := range map[string]string{"lines+0+0": "one", "lines+0+3": "three"} {
		if doc, ok := getDoc(client, "lines", id); !ok || doc["msg"] != msg {
			t.Errorf("document %s = %v, want msg %q", id, doc, msg)
		}
	}
	if st := sink.Stats(); st.Indexed != 2 || st.Deleted != 0 || st.Rejected != 0 {
		t.Errorf("stats %+v: want 2 indexed, nothing deleted or rejected", st)
	}
}
