package testkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/stream"
)

// Kafka helpers for tests: produce records, read a topic to its end, read headers, without each test
// talking to sarama. Every call has a deadline (kafkaTimeout) and fails the test naming the topic.

// kafkaTimeout bounds each helper call.
const kafkaTimeout = 30 * time.Second

// Message is a Kafka record as tests write and read it.
type Message struct {
	Topic     string
	Partition int32 // on Produce: the partition to write to, or -1 for the key's partition (murmur2, as the engine)
	Offset    int64 // set by ReadTopic
	Key       []byte
	Value     []byte
	Headers   []stream.Header
	Timestamp time.Time
}

// Header returns the value of the message's first header named key, and whether there is one.
func (m Message) Header(key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// CreateTopic creates topic with partitions partitions (replication 1) unless it exists.
func CreateTopic(t testing.TB, brokers []string, topic string, partitions int) {
	t.Helper()
	if err := kafka.EnsureTopics(brokers, saramaConfig(brokers), 1,
		[]kafka.TopicSpec{{Name: topic, Partitions: int32(partitions)}}); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// Produce writes msgs (to their Topic, or to topic when it is empty) and returns once Kafka acknowledged
// every one, in order.
func Produce(t testing.TB, brokers []string, topic string, msgs ...Message) {
	t.Helper()
	if err := TryProduce(brokers, topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

// TryProduce is Produce for a goroutine other than the test's (which must not call t.Fatal): it returns
// the failure, naming the topic, instead of failing the test.
func TryProduce(brokers []string, topic string, msgs ...Message) error {
	if topic == "" && len(msgs) > 0 {
		topic = msgs[0].Topic // for the failure's text
	}
	cfg := saramaConfig(brokers)
	cfg.Producer.Return.Successes = true
	hash := cfg.Producer.Partitioner // the engine's: murmur2, as Kafka's own clients
	cfg.Producer.Partitioner = func(topic string) sarama.Partitioner { return manualOrHash{hash: hash(topic)} }
	cfg.Producer.Timeout = kafkaTimeout
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	defer p.Close()
	batch := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm := &sarama.ProducerMessage{Topic: m.Topic, Partition: m.Partition, Timestamp: m.Timestamp}
		for _, h := range m.Headers {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if pm.Topic == "" {
			pm.Topic = topic
		}
		if m.Key != nil {
			pm.Key = sarama.ByteEncoder(m.Key)
		}
		if m.Value != nil {
			pm.Value = sarama.ByteEncoder(m.Value)
		}
		batch[i] = pm
	}
	if err := p.SendMessages(batch); err != nil {
		return fmt.Errorf("produce %d records to %s: %w", len(msgs), topic, err)
	}
	return nil
}

// ProduceN writes n records to topic, the i-th with the key and value that record returns (a nil key:
// none; the key's partition), and returns once Kafka acknowledged them.
func ProduceN(t testing.TB, brokers []string, topic string, n int, record func(i int) (key, value string)) {
	t.Helper()
	msgs := make([]Message, n)
	for i := range msgs {
		k, v := record(i)
		msgs[i] = Message{Partition: -1, Value: []byte(v)}
		if k != "" {
			msgs[i].Key = []byte(k)
		}
	}
	Produce(t, brokers, topic, msgs...)
}

// manualOrHash sends a message to its Partition when it is set (>= 0), else by its key's murmur2 hash.
type manualOrHash struct{ hash sarama.Partitioner }

func (p manualOrHash) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if m.Partition >= 0 {
		return m.Partition, nil
	}
	return p.hash.Partition(m, n)
}

func (p manualOrHash) RequiresConsistency() bool { return true }

// HighWaterMarks returns the next offset of each partition of topic; none for a topic that does not
// exist.
func HighWaterMarks(t testing.TB, brokers []string, topic string) map[int32]int64 {
	t.Helper()
	return offsetsAt(t, brokers, topic, sarama.OffsetNewest)
}

// LowWaterMarks returns the oldest offset each partition of topic still holds; none for a topic that does
// not exist. With HighWaterMarks it says how many records a topic holds.
func LowWaterMarks(t testing.TB, brokers []string, topic string) map[int32]int64 {
	t.Helper()
	return offsetsAt(t, brokers, topic, sarama.OffsetOldest)
}

// offsetsAt lists the offset at (sarama.OffsetNewest or OffsetOldest) of each partition of topic.
func offsetsAt(t testing.TB, brokers []string, topic string, at int64) map[int32]int64 {
	t.Helper()
	client, err := sarama.NewClient(brokers, saramaConfig(brokers))
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: partitions: %v", topic, err)
	}
	out := map[int32]int64{}
	for _, p := range parts {
		if out[p], err = client.GetOffset(topic, p, at); err != nil {
			t.Fatalf("read %s/%d: offset: %v", topic, p, err)
		}
	}
	return out
}

// ReadTopic returns every record of topic, from the oldest to the high-water mark each partition had when
// it was called, ordered by partition then offset. A topic that does not exist reads as empty.
func ReadTopic(t testing.TB, brokers []string, topic string) []Message {
	t.Helper()
	hwm := HighWaterMarks(t, brokers, topic)
	cfg := saramaConfig(brokers)
	cfg.Consumer.Fetch.Max = 64 << 20 // records as large as the engine's dead-letter topics take
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	parts := make([]int32, 0, len(hwm))
	for p := range hwm {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var out []Message
	for _, p := range parts {
		if hwm[p] == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				hs := make([]stream.Header, len(m.Headers))
				for i, h := range m.Headers {
					hs[i] = stream.Header{Key: string(h.Key), Value: h.Value}
				}
				out = append(out, Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key,
					Value: m.Value, Headers: hs, Timestamp: m.Timestamp})
				done = m.Offset+1 >= hwm[p]
			case err := <-pc.Errors():
				pc.Close()
				t.Fatalf("read %s/%d: %v", topic, p, err)
			case <-ctx.Done():
				pc.Close()
				t.Fatalf("read %s/%d: offset %d not reached within %v", topic, p, hwm[p]-1, kafkaTimeout)
			}
		}
		pc.Close()
	}
	return out
}

// Values returns the values of msgs as strings.
func Values(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// String describes a message in one line for failure messages: topic/partition@offset key=value.
func (m Message) String() string {
	return fmt.Sprintf("%s/%d@%d %s=%s", m.Topic, m.Partition, m.Offset, m.Key, m.Value)
}

// WaitRecords reads topic until it holds at least n records and returns them (see ReadTopic), or fails
// the test after timeout naming how many it saw. The topic may not exist yet when it is called.
func WaitRecords(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := ReadTopic(t, brokers, topic)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s holds %d records after %v, want %d", topic, len(msgs), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CommittedOffset returns the offset consumer group committed for topic's partition (-1: none, or no such
// group yet).
func CommittedOffset(t testing.TB, brokers []string, group, topic string, partition int32) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, saramaConfig(brokers))
	if err != nil {
		t.Fatalf("committed offset of group %s: %v", group, err)
	}
	defer admin.Close()
	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {partition}})
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return -1
	}
	if err != nil {
		t.Fatalf("committed offset of group %s on %s/%d: %v", group, topic, partition, err)
	}
	b := offsets.GetBlock(topic, partition)
	if b == nil {
		return -1
	}
	return b.Offset
}

// CommittedOffsets returns the offset consumer group committed for each partition of topic that it
// committed one for; none while the group or its commits do not exist yet.
func CommittedOffsets(t testing.TB, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, saramaConfig(brokers))
	if err != nil {
		t.Fatalf("committed offsets of group %s: %v", group, err)
	}
	defer admin.Close()
	offsets, err := admin.ListConsumerGroupOffsets(group, nil) // every partition it committed
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("committed offsets of group %s on %s: %v", group, topic, err)
	}
	out := map[int32]int64{}
	for p, b := range offsets.Blocks[topic] {
		if b != nil && b.Offset >= 0 {
			out[p] = b.Offset
		}
	}
	return out
}

// Topics lists the topics of the cluster, without Kafka's internal ones (named "__...": real Kafka lists
// __consumer_offsets once a group joined; the embedded broker does not).
func Topics(t testing.TB, brokers []string) []string {
	t.Helper()
	client, err := sarama.NewClient(brokers, saramaConfig(brokers))
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	defer client.Close()
	all, err := client.Topics()
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	var out []string
	for _, topic := range all {
		if len(topic) < 2 || topic[:2] != "__" {
			out = append(out, topic)
		}
	}
	slices.Sort(out)
	return out
}

// GroupCoordinator returns the node ID of the broker that coordinates consumer group group (the one a
// test kills to move the group's coordination).
func GroupCoordinator(t testing.TB, brokers []string, group string) int32 {
	t.Helper()
	client, err := sarama.NewClient(brokers, saramaConfig(brokers))
	if err != nil {
		t.Fatalf("coordinator of group %s: %v", group, err)
	}
	defer client.Close()
	b, err := client.Coordinator(group)
	if err != nil {
		t.Fatalf("coordinator of group %s: %v", group, err)
	}
	return b.ID()
}

// PartitionLeaders returns the node ID of the broker that leads each partition of topic.
func PartitionLeaders(t testing.TB, brokers []string, topic string) map[int32]int32 {
	t.Helper()
	client, err := sarama.NewClient(brokers, saramaConfig(brokers))
	if err != nil {
		t.Fatalf("leaders of %s: %v", topic, err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("leaders of %s: partitions: %v", topic, err)
	}
	out := map[int32]int32{}
	for _, p := range parts {
		leader, err := client.Leader(topic, p)
		if err != nil {
			t.Fatalf("leader of %s/%d: %v", topic, p, err)
		}
		out[p] = leader.ID()
	}
	return out
}
