package kafkatest_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// These tests always start real Kafka: they test the harness itself.

// producer returns a sarama producer with acks=all and a close function (also run when t ends).
func producer(t *testing.T, addrs []string) (sarama.SyncProducer, func()) {
	t.Helper()
	conf := sarama.NewConfig()
	conf.Version = sarama.V4_0_0_0
	conf.Producer.RequiredAcks = sarama.WaitForAll
	conf.Producer.Return.Successes = true
	conf.Producer.Partitioner = sarama.NewHashPartitioner
	conf.Producer.Retry.Max = 30
	conf.Producer.Retry.Backoff = 500 * time.Millisecond // rides out a leader election (~broker.session.timeout.ms)
	conf.Producer.Timeout = 10 * time.Second
	conf.Net.DialTimeout = 2 * time.Second
	conf.Net.ReadTimeout = 15 * time.Second
	conf.Metadata.Retry.Max = 30
	conf.Metadata.Retry.Backoff = 500 * time.Millisecond
	p, err := sarama.NewSyncProducer(addrs, conf)
	if err != nil {
		t.Fatalf("connect a producer to %v: %v", addrs, err)
	}
	closeOnce := sync.OnceFunc(func() { p.Close() })
	t.Cleanup(closeOnce)
	return p, closeOnce
}

func produce(t *testing.T, p sarama.SyncProducer, topic string, from, to int) []string {
	t.Helper()
	var lines []string
	for i := from; i < to; i++ {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%03d", i)
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("produce record %d to %q: %v", i, topic, err)
		}
		lines = append(lines, k+"\t"+v)
	}
	return lines
}

// sameRecords compares as sets: records of several partitions interleave in any order.
func sameRecords(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: read %d records, want %d\ngot  %q\nwant %q", what, len(got), len(want), got, want)
	}
}

func TestOneNode(t *testing.T) {
	began := time.Now()
	c := kafkatest.Start(t, kafkatest.Options{Nodes: 1, ExtraConfig: map[string]string{"message.max.bytes": "2000000"}})
	t.Logf("start-up of 1 node (format + JVM + serving): %s", time.Since(began).Round(time.Millisecond))
	if got := len(c.Addrs()); got != 1 {
		t.Fatalf("Addrs: %d addresses, want 1", got)
	}
	entries, err := c.Admin(t).DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "0", ConfigNames: []string{"message.max.bytes"}})
	if err != nil || len(entries) != 1 || entries[0].Value != "2000000" {
		t.Fatalf("broker 0's message.max.bytes (set by ExtraConfig): %+v, %v; want 2000000", entries, err)
	}
	c.CreateTopic(t, "orders", 3, 1, nil)
	p, _ := producer(t, c.Addrs())
	want := produce(t, p, "orders", 0, 20)

	began = time.Now()
	got := c.ConsoleConsume(t, "orders", len(want), 20*time.Second)
	t.Logf("console consumer read %d records in %s", len(got), time.Since(began).Round(time.Millisecond))
	sameRecords(t, "Java console consumer after a sarama producer", got, want)

	// The other way round: Java's producer, read back by the Java consumer (keys survive the round trip).
	c.CreateTopic(t, "java", 1, 1, nil)
	lines := []string{"a\t1", "b\t2", "a\t3"}
	c.ConsoleProduce(t, "java", lines)
	if got := c.ConsoleConsume(t, "java", 3, 20*time.Second); !slices.Equal(got, lines) {
		t.Fatalf("console producer then consumer: got %q, want %q", got, lines)
	}
	// Fewer records than asked for: the consumer gives up after the timeout and returns what it read.
	if got := c.ConsoleConsume(t, "java", 10, 3*time.Second); !slices.Equal(got, lines) {
		t.Fatalf("console consumer asked for 10 of 3 records: got %q, want %q", got, lines)
	}
}

func TestThreeNodes(t *testing.T) {
	began := time.Now()
	c := kafkatest.Start(t, kafkatest.Options{Nodes: 3})
	t.Logf("start-up of 3 nodes (format + JVMs + serving): %s", time.Since(began).Round(time.Millisecond))
	if got := len(c.Addrs()); got != 3 {
		t.Fatalf("Addrs: %d addresses, want 3", got)
	}
	const topic = "payments"
	c.CreateTopic(t, topic, 1, 3, nil)
	p, closeProducer := producer(t, c.Addrs())
	want := produce(t, p, topic, 0, 10)

	leader, isr := c.PartitionState(t, topic, 0)
	if !slices.Equal(isr, []int{0, 1, 2}) {
		t.Fatalf("in-sync replicas of %s/0: %v, want all three nodes", topic, isr)
	}
	began = time.Now()
	c.Kill(leader)
	// acks=all with min.insync.replicas=2: the two survivors still accept writes once a new leader is elected.
	want = append(want, produce(t, p, topic, 10, 20)...)
	t.Logf("node %d (leader of %s/0) killed: 10 records produced with acks=all %s later", leader, topic, time.Since(began).Round(time.Millisecond))
	if l, isr := c.PartitionState(t, topic, 0); l == leader || slices.Contains(isr, leader) {
		t.Fatalf("after killing node %d: leader %d, in-sync replicas %v", leader, l, isr)
	}

	began = time.Now()
	c.Restart(leader)
	t.Logf("node %d restarted and serving after %s", leader, time.Since(began).Round(time.Millisecond))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, isr := c.PartitionState(t, topic, 0); slices.Contains(isr, leader) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d did not rejoin the in-sync replicas of %s/0 within 60s", leader, topic)
		}
		time.Sleep(200 * time.Millisecond) // polling the metadata
	}
	t.Logf("node %d back in the in-sync replicas %s after its restart", leader, time.Since(began).Round(time.Millisecond))

	// A clean stop (SIGTERM, controlled shutdown) of one node: the other two still take acks=all writes.
	follower := (leader + 1) % 3
	began = time.Now()
	c.Stop(follower)
	t.Logf("node %d stopped cleanly in %s", follower, time.Since(began).Round(time.Millisecond))
	want = append(want, produce(t, p, topic, 20, 30)...)
	c.Restart(follower)
	closeProducer()

	began = time.Now()
	c.StopAll()
	t.Logf("StopAll (SIGTERM to 3 nodes): %s", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	c.StartAll()
	t.Logf("StartAll (3 nodes, existing data): %s", time.Since(began).Round(time.Millisecond))
	got := c.ConsoleConsume(t, topic, len(want), 30*time.Second)
	sameRecords(t, "records after a kill, a restart and a full cluster restart", got, want)
}

func TestBrokersFollowsTheEnvironment(t *testing.T) {
	t.Setenv(kafkatest.EnvVar, "")
	if kafkatest.Real() {
		t.Fatal("Real() with SLUICE_TEST_KAFKA unset")
	}
	if b := kafkatest.Brokers(t, 1); b != nil {
		t.Fatalf("Brokers without SLUICE_TEST_KAFKA=real: %v, want nil (the embedded broker)", b)
	}
	t.Setenv(kafkatest.EnvVar, "real")
	if !kafkatest.Real() {
		t.Fatal("Real() false with SLUICE_TEST_KAFKA=real")
	}
}
