package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
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

// versionedSink keeps, per key, the document with the highest stream.VersionHeader and refuses a write
// whose version is not above it, as Elasticsearch does with version_type=external.
type versionedSink struct {
	mu       sync.Mutex
	docs     map[string]string
	versions map[string]int64
	history  map[string][]versionedDoc // the documents written, in order
	refused  int
	missing  int // records without the header
}

type versionedDoc struct {
	version int64
	doc     string
}

func (s *versionedSink) Open(context.Context) error { return nil }
func (s *versionedSink) Close() error               { return nil }
func (s *versionedSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		key, _ := stream.KeyString(r.Key)
		h, ok := r.Header(stream.VersionHeader)
		if !ok {
			s.missing++
			continue
		}
		v, err := strconv.ParseInt(string(h), 10, 64)
		if err != nil {
			return err
		}
		if v <= s.versions[key] {
			s.refused++
			continue
		}
		s.versions[key] = v
		doc := ""
		if r.Value != nil {
			b, _ := json.Marshal(r.Value)
			doc = string(b)
		}
		s.docs[key] = doc
		s.history[key] = append(s.history[key], versionedDoc{v, doc})
	}
	return nil
}

func (s *versionedSink) get(key string) (string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[key], s.versions[key]
}

// sendVersioned writes a change with a sluice.version header (0: none).
func (f *joinFixture) sendVersioned(topic string, id int, value string, version int64) {
	f.t.Helper()
	m := testkit.Message{Partition: -1, Key: []byte(fmt.Sprintf(`{"id":%d}`, id))}
	if value != "" {
		m.Value = []byte(value)
	}
	if version > 0 {
		m.Headers = []stream.Header{{Key: stream.VersionHeader, Value: []byte(strconv.FormatInt(version, 10))}}
	}
	testkit.Produce(f.t, f.brokers, topic, m)
}

// runTo starts a replica of the join fixture's pipeline (a foreign-key join) writing into sink.
func (f *joinFixture) runTo(sink sinks.Sink) (stop func()) {
	f.t.Helper()
	tp := topology.New("shop")
	customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(3))
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(3))
	table := tp.Table("customers", customers)
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		f.t.Fatal(err)
	}
	tp.Flow("index").From(orders).Join(table, join).To(sink, topology.BatchSize(10), topology.Linger(5*time.Millisecond))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = f.brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return startRun(f.t, tp, cfg)
}

// A foreign-key join's outputs carry the greater version of their two sides, a key's outputs have strictly
// increasing versions even when the sides' versions arrive out of order, and stale copies of old changes
// are dropped, so a sink that keeps the highest version per document (as Elasticsearch does) ends with the
// newest joined document:
//   - a customer change (version 500) joined before an older order change (400) reaches the join: the order
//     change is still written (501, above the previous output's 500);
//   - the order moves to a customer whose last change (200) is older than the previous output: still
//     written (502);
//   - stale copies of an old order change and of an old customer row, produced after everything: the join
//     drops them, and no document ever shows them again;
//   - a customer change newer than everything: every referring order follows with its version.
func TestJoinVersions(t *testing.T) {
	f := newJoinFixture(t)
	vsink := &versionedSink{docs: map[string]string{}, versions: map[string]int64{}, history: map[string][]versionedDoc{}}
	ann, anna, bob, bobby := `{"id":1,"name":"Ann"}`, `{"id":1,"name":"Anna"}`, `{"id":2,"name":"Bob"}`, `{"id":2,"name":"Bobby"}`
	f.sendVersioned("customers", 1, ann, 100)
	f.sendVersioned("customers", 2, bob, 200)
	f.sendVersioned("orders", 10, order(10, 1, 5), 300)
	f.sendVersioned("orders", 20, order(20, 2, 1), 0) // an order without a version: takes its customer's
	f.sendVersioned("orders", 30, order(30, 1, 2), 310)

	stop := f.runTo(vsink)
	defer stop()
	expect := func(key, want string, version int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			got, v := vsink.get(key)
			if got == want && v == version {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("document %s = %s (version %d)\nwant %s (version %d)", key, got, v, want, version)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	expect("10", joined(10, 1, 5, ann), 300)
	expect("20", joined(20, 2, 1, bob), 200)
	expect("30", joined(30, 1, 2, ann), 310)

	f.sendVersioned("customers", 1, anna, 500)
	expect("10", joined(10, 1, 5, anna), 500)
	expect("30", joined(30, 1, 2, anna), 500)
	f.sendVersioned("orders", 10, order(10, 1, 6), 400) // older than the customer change already joined
	expect("10", joined(10, 1, 6, anna), 501)
	f.sendVersioned("orders", 10, order(10, 2, 6), 450) // moves to Bob, whose last change (200) is older still
	expect("10", joined(10, 2, 6, bob), 502)

	// A stale producer repeats old changes; the next real change of each key, behind it in its partition,
	// shows that the join has read it.
	f.sendVersioned("orders", 10, order(10, 1, 5), 300)
	f.sendVersioned("customers", 1, ann, 100)
	f.sendVersioned("orders", 10, order(10, 2, 7), 960)
	f.sendVersioned("customers", 1, `{"id":1,"name":"Annie"}`, 950)
	expect("10", joined(10, 2, 7, bob), 960)
	expect("30", joined(30, 1, 2, `{"id":1,"name":"Annie"}`), 950)
	f.sendVersioned("customers", 2, bobby, 970)
	expect("10", joined(10, 2, 7, bobby), 970)
	expect("20", joined(20, 2, 1, bobby), 970)

	vsink.mu.Lock()
	defer vsink.mu.Unlock()
	// After the stale copies were produced (documents 10 above version 502, 30 above 500), no write shows them.
	for _, c := range []struct {
		key   string
		after int64
		stale string
	}{{"10", 502, `"amount":5`}, {"30", 500, `"name":"Ann"}`}} {
		for _, d := range vsink.history[c.key] {
			if d.version > c.after && strings.Contains(d.doc, c.stale) {
				t.Errorf("document %s went back to a stale state at version %d: %s; its history: %v", c.key, d.version, d.doc, vsink.history[c.key])
			}
		}
	}
	if vsink.missing > 0 {
		t.Errorf("%d join outputs without a version header", vsink.missing)
	}
}

// A keyed step's outputs get versions that only grow per key, whatever order its inputs' versions come in
// (an aggregate's inputs come from many source keys and partitions): a count fed versions 500, 400 and
// none emits 500, 501 and 502, so a sink that keeps the highest version per document ends with the last
// count. A key whose inputs never had a version gets outputs without one.
func TestKeyedVersions(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "events", 1)
	f := &joinFixture{t: t, brokers: brokers}
	f.sendVersioned("events", 1, `{"v":1}`, 500)
	f.sendVersioned("events", 1, `{"v":2}`, 400)
	f.sendVersioned("events", 1, `{"v":3}`, 0)
	f.sendVersioned("events", 2, `{"v":1}`, 0)

	vsink := &versionedSink{docs: map[string]string{}, versions: map[string]int64{}, history: map[string][]versionedDoc{}}
	tp := topology.New("kv")
	events := tp.Topic("events", topology.KeyCodec("json"), topology.Partitions(1))
	count, err := stages.Count("count")
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("counts").From(events).Keyed(count).To(vsink, topology.Linger(5*time.Millisecond))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	defer startRun(t, tp, cfg)()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, v := vsink.get("1")
		vsink.mu.Lock()
		missing := vsink.missing
		vsink.mu.Unlock()
		if got == `{"count":3,"key":{"id":1}}` && v == 502 && missing == 1 {
			break
		}
		if time.Now().After(deadline) {
			vsink.mu.Lock()
			defer vsink.mu.Unlock()
			t.Fatalf("key 1: %s at version %d (history %v), %d outputs without a version (want 1: key 2's)", got, v, vsink.history["1"], missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
