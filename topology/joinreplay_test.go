package topology_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
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
	cfg := kafka.SaramaConfig(kafka.Settings{})
	if err := kafka.EnsureTopics(brokers, cfg, 1, []kafka.TopicSpec{{Name: "customers", Partitions: 1}, {Name: "orders", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	send := func(topic string, id int, value string) {
		t.Helper()
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf(`{"id":%d}`, id)),
			Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &docSink{docs: map[string]string{}}
	run := func(ctx context.Context) error {
		tp := topology.New("replay")
		customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(1))
		orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(1))
		join, err := stages.JoinForeignKey("with-customer", tp.Table("customers", customers), "customer_id", "customer")
		if err != nil {
			t.Fatal(err)
		}
		tp.Flow("index").From(orders).Via(join).To(sink, topology.LingerMillis(5))
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
