package topology_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A crash can leave a join's home state written while its request to the row state is lost: the state
// write was acknowledged, the "index" loopback was not, so the record's offset was not committed. The
// record is then processed again and finds its foreign key already stored. The home used to take that as
// "the row state knows me" and emitted the order with customer null, for good (on real Kafka after SIGKILLs:
// orders whose customer existed long before were indexed with customer null). Here the broker refuses the
// index loopback once, after the state write; the join's group consumes again from the committed offset (as
// a restarted pipeline would) and must join the order with its customer. Embedded on purpose: the refusal is
// injected with kfake's fault control.
func TestJoinAsksAgainAfterLostRequest(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	const loop = "replay.index.with-customer-loop"
	refused, refuse := context.WithCancel(context.Background())
	cluster.Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Topic: loop, Err: kerr.InvalidRecord,
		When: func(req kmsg.Request) bool {
			for _, rt := range req.(*kmsg.ProduceRequest).Topics {
				for _, rp := range rt.Partitions {
					if rt.Topic == loop && bytes.Contains(rp.Records, []byte(`"kind":"index"`)) {
						refuse()
						return true
					}
				}
			}
			return false
		},
	})
	testkit.CreateTopic(t, brokers, "customers", 1)
	testkit.CreateTopic(t, brokers, "orders", 1)
	send := func(topic string, id int, value string) {
		t.Helper()
		testkit.Produce(t, brokers, topic, testkit.Message{Partition: 0, Key: []byte(fmt.Sprintf(`{"id":%d}`, id)), Value: []byte(value)})
	}
	sink := &docSink{docs: map[string]string{}}
	run := func(ctx context.Context) error {
		tp := topology.New("replay")
		customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(1))
		orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(1))
		customerRows := tp.Table("customers", customers)
		join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
		if err != nil {
			t.Fatal(err)
		}
		tp.Flow("index").From(orders).Join(customerRows, join).To(sink, topology.Linger(5*time.Millisecond))
		rcfg := quietConfig(brokers)
		rcfg.SessionTimeout = 7 * time.Second
		return tp.RunWith(ctx, rcfg)
	}

	send("customers", 7, `{"id":7,"name":"Ann"}`)
	send("orders", 1, `{"id":1,"customer_id":7}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith = %v", err)
		}
	}()
	select {
	case <-refused.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("the index request of order 1 was never sent")
	}
	send("orders", 2, `{"id":2,"customer_id":7}`)
	// Order 2 comes after order 1 on the only partition of every topic: once it is indexed, so is whatever
	// order 1's processing emitted.
	waitDoc(t, sink, "2", `{"customer":{"id":7,"name":"Ann"},"customer_id":7,"id":2}`)
	if got, want := sink.get("1"), `{"customer":{"id":7,"name":"Ann"},"customer_id":7,"id":1}`; got != want {
		t.Fatalf("order 1 = %s, want %s", got, want)
	}
}

// A crash can leave a home's move to another foreign key stored while its unindex to the old row state is
// lost: the replayed record then finds its new foreign key already stored and sends no unindex, and the old
// row state keeps a stale referrer. Here the broker refuses the unindex once, after the state write; the
// join's group consumes again from the committed offset. The stale referrer must change no output, and the
// row's next change must clean it up (the home answers the refresh it no longer wants with an unindex).
func TestJoinStaleReferrerIsCleanedUp(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	const loop, table = "stale.index.with-customer-loop", "stale.index.with-customer-table"
	refused, refuse := context.WithCancel(context.Background())
	cluster.Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Topic: loop, Err: kerr.InvalidRecord,
		When: func(req kmsg.Request) bool {
			for _, rt := range req.(*kmsg.ProduceRequest).Topics {
				for _, rp := range rt.Partitions {
					if rt.Topic == loop && bytes.Contains(rp.Records, []byte(`"kind":"unindex"`)) {
						refuse()
						return true
					}
				}
			}
			return false
		},
	})
	testkit.CreateTopic(t, brokers, "customers", 1)
	testkit.CreateTopic(t, brokers, "orders", 1)
	send := func(topic string, id int, value string) {
		t.Helper()
		testkit.Produce(t, brokers, topic, testkit.Message{Partition: 0, Key: []byte(fmt.Sprintf(`{"id":%d}`, id)), Value: []byte(value)})
	}
	// referrers returns the referrers that the row state of customer id holds in the join's table.
	referrers := func(id string) string {
		t.Helper()
		var last []byte
		for _, m := range testkit.ReadTopic(t, brokers, table) {
			if string(m.Key) == "r\x00"+id {
				last = m.Value
			}
		}
		var st struct {
			Refs map[string]bool `json:"refs"`
		}
		if err := json.Unmarshal(last, &st); err != nil {
			t.Fatalf("row state of customer %s: %v", id, err)
		}
		var refs []string
		for k := range st.Refs {
			refs = append(refs, k)
		}
		sort.Strings(refs)
		return strings.Join(refs, ",")
	}

	sink := &docSink{docs: map[string]string{}}
	tp := topology.New("stale")
	customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(1))
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(1))
	customerRows := tp.Table("customers", customers)
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("index").From(orders).Join(customerRows, join).To(sink, topology.Linger(5*time.Millisecond))
	rcfg := quietConfig(brokers)
	rcfg.SessionTimeout = 7 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, rcfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith = %v", err)
		}
	}()

	send("customers", 7, `{"id":7,"name":"Ann"}`)
	send("customers", 8, `{"id":8,"name":"Bob"}`)
	send("orders", 1, `{"id":1,"customer_id":7}`)
	waitDoc(t, sink, "1", `{"customer":{"id":7,"name":"Ann"},"customer_id":7,"id":1}`)
	send("orders", 1, `{"id":1,"customer_id":8}`)
	select {
	case <-refused.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("order 1 never unindexed itself from customer 7")
	}
	send("orders", 2, `{"id":2,"customer_id":8}`) // after order 1's move on every partition: once it is out, so is the move
	waitDoc(t, sink, "2", `{"customer":{"id":8,"name":"Bob"},"customer_id":8,"id":2}`)
	waitDoc(t, sink, "1", `{"customer":{"id":8,"name":"Bob"},"customer_id":8,"id":1}`)
	if got := referrers("7"); got != "1" {
		t.Fatalf("customer 7's referrers after the lost unindex = %q, want the stale referrer 1", got)
	}

	send("customers", 7, `{"id":7,"name":"Ann B."}`)
	send("customers", 8, `{"id":8,"name":"Bob B."}`) // after customer 7's refresh on every partition
	waitDoc(t, sink, "2", `{"customer":{"id":8,"name":"Bob B."},"customer_id":8,"id":2}`)
	waitDoc(t, sink, "1", `{"customer":{"id":8,"name":"Bob B."},"customer_id":8,"id":1}`)
	deadline := time.Now().Add(30 * time.Second)
	for referrers("7") != "" {
		if time.Now().After(deadline) {
			t.Fatalf("customer 7 still has referrers %q after its change, want none", referrers("7"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := referrers("8"); got != "1,2" {
		t.Errorf("customer 8's referrers = %q, want 1,2", got)
	}
}
