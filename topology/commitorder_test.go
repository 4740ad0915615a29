package topology_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A join's group commits an input offset only once that message's loopback and every earlier message's are
// acknowledged. Two orders in one input partition are re-keyed to homes on loop partitions led by different
// brokers; the broker of the first order's home holds the produce request. The second order is joined and
// indexed meanwhile, but its input offset must not be committed: goka marked each message as its own writes
// were acknowledged and sarama keeps the highest mark, so the commit passed the first order, and a crash
// lost its loopback for good (on real Kafka: deleted orders stayed indexed, orders were indexed with
// customer null). Embedded on purpose: the held produce request is injected with kfake's control.
func TestJoinCommitsInputInOrder(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.Ports(0, 0), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	const group = "hold.index.with-customer" // pipeline.flow.stage
	loop, table, out := group+"-loop", group+"-table", group+".out"
	cfg := kafka.SaramaConfig(kafka.Settings{})
	if err := kafka.EnsureTopics(brokers, cfg, 1, []kafka.TopicSpec{{Name: "customers", Partitions: 2}, {Name: "orders", Partitions: 2},
		{Name: loop, Partitions: 2}, {Name: table, Partitions: 2, Compact: true}, {Name: out, Partitions: 2}}); err != nil {
		t.Fatal(err)
	}
	// Loop partition 0 alone on node 0; everything else on node 1.
	for _, topic := range []string{"customers", "orders", loop, table, out} {
		for p := int32(0); p < 2; p++ {
			node := int32(1)
			if topic == loop && p == 0 {
				node = 0
			}
			if err := cluster.MoveTopicPartition(topic, p, node); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Order first's home is on loop partition 0 (held), order second's on loop partition 1; both orders are
	// in input partition 0, first at offset 0.
	first, second := -1, -1
	for id := 1; first < 0 || second < 0; id++ {
		switch kafka.PartitionFor(fmt.Sprintf("s\x00%d", id), 2) {
		case 0:
			if first < 0 {
				first = id
			}
		case 1:
			if second < 0 {
				second = id
			}
		}
	}
	for _, id := range []int{first, second} {
		testkit.Produce(t, brokers, "orders", testkit.Message{Partition: 0,
			Key: []byte(fmt.Sprintf(`{"id":%d}`, id)), Value: []byte(fmt.Sprintf(`{"id":%d,"amount":%d}`, id, id))})
	}

	// The first produce request for loop partition 0 is held until release is closed.
	release, held := make(chan struct{}), make(chan struct{})
	var holdOnce sync.Once
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		for _, rt := range req.(*kmsg.ProduceRequest).Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == loop && rp.Partition == 0 {
					holdOnce.Do(func() {
						close(held)
						cluster.SleepControl(func() { <-release })
					})
				}
			}
		}
		return nil, nil, false
	})
	var releaseOnce sync.Once
	releaseHold := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseHold()
	// Every offset the join's group commits.
	var mu sync.Mutex
	committed := map[string]int64{} // "topic/partition" -> highest committed offset
	commits := make(chan struct{}, 1)
	cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.OffsetCommitRequest)
		if r.Group != group {
			return nil, nil, false
		}
		mu.Lock()
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				tp := fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)
				if o, ok := committed[tp]; !ok || rp.Offset > o {
					committed[tp] = rp.Offset
				}
			}
		}
		mu.Unlock()
		select {
		case commits <- struct{}{}:
		default:
		}
		return nil, nil, false
	})
	committedOffset := func(tp string) (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		o, ok := committed[tp]
		return o, ok
	}
	waitCommitted := func(tp string, atLeast int64) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			if o, ok := committedOffset(tp); ok && o >= atLeast {
				return
			}
			select {
			case <-commits:
			case <-deadline:
				o, _ := committedOffset(tp)
				t.Fatalf("the join's group did not commit %s >= %d (committed: %d)", tp, atLeast, o)
			}
		}
	}

	tp := topology.New("hold")
	customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(2))
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(2))
	customerRows := tp.Table("customers", customers)
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	sink := &docSink{docs: map[string]string{}}
	tp.Flow("index").From(orders).Join(customerRows, join).To(sink, topology.Linger(5*time.Millisecond))
	rcfg := quietConfig(brokers)
	rcfg.SessionTimeout = 7 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, rcfg) }()
	defer func() {
		releaseHold()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()

	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the loopback of the first order was never produced")
	}
	want := func(id int) string { return fmt.Sprintf(`{"amount":%d,"customer":null,"id":%d}`, id, id) }
	waitDoc(t, sink, fmt.Sprint(second), want(second))
	// The second order's home (loop partition 1, offset 0) is processed and committed: every commit the
	// input's marks could have reached has been sent.
	waitCommitted(loop+"/1", 1)
	if o, ok := committedOffset("orders/0"); ok && o > 0 {
		t.Fatalf("the join's group committed orders/0 at %d while the loopback of the order at offset 0 was not acknowledged", o)
	}
	if got := sink.get(fmt.Sprint(first)); got != "" {
		t.Fatalf("order %d indexed while its loopback is held: %s", first, got)
	}

	releaseHold()
	waitDoc(t, sink, fmt.Sprint(first), want(first))
	waitCommitted("orders/0", 2)
}

// waitDoc waits until the sink holds want for key.
func waitDoc(t *testing.T, sink *docSink, key, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for sink.get(key) != want {
		if time.Now().After(deadline) {
			t.Fatalf("document %s = %q, want %q", key, sink.get(key), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
