package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// docSink keeps the latest value per key, as an index would: a tombstone removes the key.
type docSink struct {
	mu   sync.Mutex
	docs map[string]string
}

func (s *docSink) Open(context.Context) error { return nil }
func (s *docSink) Close() error               { return nil }
func (s *docSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		key, _ := stream.KeyString(r.Key)
		if r.Value == nil {
			delete(s.docs, key)
			continue
		}
		b, _ := json.Marshal(r.Value)
		s.docs[key] = string(b)
	}
	return nil
}

func (s *docSink) get(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[key]
}

type joinFixture struct {
	t       *testing.T
	brokers []string
	sink    *docSink
}

func newJoinFixture(t *testing.T) *joinFixture {
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "customers", 3)
	testkit.CreateTopic(t, brokers, "orders", 3)
	return &joinFixture{t: t, brokers: brokers, sink: &docSink{docs: map[string]string{}}}
}

// send writes a change keyed like Debezium's keys ({"id":N}); an empty value is a tombstone.
func (f *joinFixture) send(topic string, id int, value string) {
	f.t.Helper()
	m := testkit.Message{Partition: -1, Key: []byte(fmt.Sprintf(`{"id":%d}`, id))} // the key's partition
	if value != "" {
		m.Value = []byte(value)
	}
	testkit.Produce(f.t, f.brokers, topic, m)
}

// run starts a replica of the pipeline; stop stops it cleanly.
func (f *joinFixture) run(foreignKey bool) (stop func()) {
	f.t.Helper()
	tp := topology.New("shop")
	customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(3))
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(3))
	table := tp.Table("customers", customers)
	join, err := stages.LookupJoin("with-customer", "customer_id", "customer")
	if foreignKey {
		join, err = stages.JoinForeignKey("with-customer", "customer_id", "customer")
	}
	if err != nil {
		f.t.Fatal(err)
	}
	tp.Flow("index").From(orders).Join(table, join).To(f.sink, topology.BatchSize(10), topology.Linger(5*time.Millisecond))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = f.brokers, "off"
	cfg.SessionTimeout = 7 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return startRun(f.t, tp, cfg)
}

// startRun runs tp with cfg until stop is called; stop cancels the run, waits for RunWith to return and
// fails t with its error.
func startRun(t testing.TB, tp *topology.Topology, cfg topology.Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}
}

// expect waits until document key is want ("" = absent).
func (f *joinFixture) expect(key, want string) {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := f.sink.get(key)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("document %s = %s\nwant %s", key, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func order(id, customer int, amount int) string {
	return fmt.Sprintf(`{"amount":%d,"customer_id":%d,"id":%d}`, amount, customer, id)
}

func joined(id, customer, amount int, customerJSON string) string {
	return fmt.Sprintf(`{"amount":%d,"customer":%s,"customer_id":%d,"id":%d}`, amount, customerJSON, customer, id)
}

// A foreign-key join keeps denormalised documents right under updates to both sides, a change of foreign
// key, deletes, a restart (state recovered from Kafka) and two replicas.
func TestForeignKeyJoin(t *testing.T) {
	f := newJoinFixture(t)
	ann, anna, bob, bobby := `{"id":1,"name":"Ann"}`, `{"id":1,"name":"Anna"}`, `{"id":2,"name":"Bob"}`, `{"id":2,"name":"Bobby"}`
	f.send("customers", 1, ann)
	f.send("customers", 2, bob)
	f.send("orders", 10, order(10, 1, 5))
	f.send("orders", 11, order(11, 2, 7))
	f.send("orders", 12, order(12, 1, 9))
	f.send("orders", 13, order(13, 3, 1)) // customer 3 does not exist yet

	stop := f.run(true)
	f.expect("10", joined(10, 1, 5, ann))
	f.expect("11", joined(11, 2, 7, bob))
	f.expect("12", joined(12, 1, 9, ann))
	f.expect("13", joined(13, 3, 1, "null"))

	f.send("customers", 1, anna) // the referenced row changes: both of Ann's orders follow
	f.expect("10", joined(10, 1, 5, anna))
	f.expect("12", joined(12, 1, 9, anna))
	f.send("orders", 12, order(12, 2, 9)) // order 12 moves to Bob
	f.expect("12", joined(12, 2, 9, bob))
	f.send("customers", 3, `{"id":3,"name":"Cy"}`) // the missing customer appears
	f.expect("13", joined(13, 3, 1, `{"id":3,"name":"Cy"}`))
	f.send("orders", 11, "") // a tombstone deletes order 11
	f.expect("11", "")
	stop()

	// Restarted: the index of who refers to whom comes back from Kafka.
	stop = f.run(true)
	f.send("customers", 1, `{"id":1,"name":"Annie"}`)
	f.expect("10", joined(10, 1, 5, `{"id":1,"name":"Annie"}`))
	f.send("customers", 2, bobby)
	f.expect("12", joined(12, 2, 9, bobby)) // moved before the restart, still follows Bob
	if got := f.sink.get("11"); got != "" {
		t.Fatalf("deleted order 11 came back: %s", got)
	}

	// A second replica joins; the partitions and their state are shared, and updates stay right.
	stop2 := f.run(true)
	time.Sleep(8 * time.Second) // the group rebalances (goka waits 5s before rejoining)
	f.send("customers", 1, anna)
	f.send("customers", 2, bob)
	f.send("orders", 14, order(14, 2, 3))
	f.expect("10", joined(10, 1, 5, anna))
	f.expect("12", joined(12, 2, 9, bob))
	f.expect("14", joined(14, 2, 3, bob))
	f.expect("10", joined(10, 1, 5, anna))
	stop2()
	stop()
}

// A lookup join uses the row as it is when the record arrives; later changes of the row do not resend.
func TestLookupJoin(t *testing.T) {
	f := newJoinFixture(t)
	f.send("customers", 1, `{"id":1,"name":"Ann"}`)
	stop := f.run(false)
	defer stop()
	f.send("orders", 10, order(10, 1, 5))
	f.expect("10", joined(10, 1, 5, `{"id":1,"name":"Ann"}`))
	f.send("customers", 1, `{"id":1,"name":"Anna"}`)
	f.send("orders", 11, order(11, 1, 6)) // arrives after the change: sees it
	f.expect("11", joined(11, 1, 6, `{"id":1,"name":"Anna"}`))
	if got := f.sink.get("10"); got != joined(10, 1, 5, `{"id":1,"name":"Ann"}`) {
		t.Fatalf("lookup join resent order 10 after the customer changed: %s", got)
	}
	// The next update of order 10 (same customer) is joined with the customer as it is now.
	f.send("orders", 10, order(10, 1, 8))
	f.expect("10", joined(10, 1, 8, `{"id":1,"name":"Anna"}`))
	// And after the customer is deleted, with no customer.
	f.send("customers", 1, "")
	f.send("orders", 10, order(10, 1, 9))
	f.expect("10", joined(10, 1, 9, "null"))
}
