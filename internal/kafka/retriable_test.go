package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRetriable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{sarama.ErrNotLeaderForPartition, true},
		{fmt.Errorf("topic x partition 0: %w", sarama.ErrLeaderNotAvailable), true},
		{sarama.ErrUnknownTopicOrPartition, true},
		{sarama.ErrOutOfBrokers, true},
		{sarama.ErrTopicAuthorizationFailed, false},
		{sarama.ErrInvalidPartitions, false},
		{context.DeadlineExceeded, false},
		{errors.New("topic \"x\" exists with 2 partitions"), false},
	} {
		if got := Retriable(c.err); got != c.want {
			t.Errorf("Retriable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	// goka flattens sarama's errors with %v.
	flat := fmt.Errorf("Error recovering partitions for view t: Error getting oldest offset for topic/partition t/0: %v", sarama.ErrNotLeaderForPartition)
	if Retriable(flat) || !RetriableText(flat) {
		t.Errorf("Retriable/RetriableText(%q) = %v/%v, want false/true", flat, Retriable(flat), RetriableText(flat))
	}
	if RetriableText(errors.New("requested topic was not found")) {
		t.Error("RetriableText takes goka's topic-not-found for a retriable error")
	}
}

// fakeCluster is a kfake cluster: these tests inject the answers a settling real cluster gives.
func fakeCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// A broker that does not know a topic yet (real Kafka right after CreateTopics) answers describe-configs
// with UNKNOWN_TOPIC_OR_PARTITION: the read is retried until it knows it.
func TestDescribeMaxMessageBytesRetriesUnknownTopic(t *testing.T) {
	c := fakeCluster(t)
	brokers := c.ListenAddrs()
	if err := EnsureTopics(brokers, SaramaConfig(Settings{}), 1, []TopicSpec{{Name: "orders.dlq", Partitions: 1, MaxMessageBytes: 5000}}); err != nil {
		t.Fatal(err)
	}
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.DescribeConfigs}, Resource: "orders.dlq", Err: kerr.UnknownTopicOrPartition, Count: 3})
	began := time.Now()
	limits, err := DescribeMaxMessageBytes(context.Background(), 10*time.Second, brokers, SaramaConfig(Settings{}), []string{"orders.dlq"})
	if err != nil {
		t.Fatal(err)
	}
	if limits["orders.dlq"] != 5000 || h.Hits() != 3 {
		t.Errorf("limits %v after %d refusals, want orders.dlq 5000 after 3", limits, h.Hits())
	}
	t.Logf("3 UNKNOWN_TOPIC_OR_PARTITION answers ridden out in %v", time.Since(began).Round(time.Millisecond))

	// An answer that stays wrong fails when the time is up, naming the topic.
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.DescribeConfigs}, Resource: "orders.dlq", Err: kerr.UnknownTopicOrPartition, Count: -1})
	began = time.Now()
	_, err = DescribeMaxMessageBytes(context.Background(), 2*time.Second, brokers, SaramaConfig(Settings{}), []string{"orders.dlq"})
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), `topic "orders.dlq"`) || !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("err = %v, want UNKNOWN_TOPIC_OR_PARTITION naming topic orders.dlq", err)
	}
	if took < 2*time.Second || took > 4*time.Second {
		t.Errorf("gave up after %v, want about the 2s timeout", took)
	}
	// A refusal that is not retriable returns at once.
	c2 := fakeCluster(t)
	if err := EnsureTopics(c2.ListenAddrs(), SaramaConfig(Settings{}), 1, []TopicSpec{{Name: "t", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	c2.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.DescribeConfigs}, Resource: "t", Err: kerr.TopicAuthorizationFailed, Count: -1})
	began = time.Now()
	if _, err := DescribeMaxMessageBytes(context.Background(), 10*time.Second, c2.ListenAddrs(), SaramaConfig(Settings{}), []string{"t"}); err == nil || time.Since(began) > time.Second {
		t.Errorf("err = %v after %v, want an authorization error at once", err, time.Since(began))
	}
}

// namesTopic matches metadata requests that ask for topic by name (not the all-topics requests sarama's
// own client and admin send).
func namesTopic(topic string) func(kmsg.Request) bool {
	return func(req kmsg.Request) bool {
		for _, t := range req.(*kmsg.MetadataRequest).Topics {
			if t.Topic != nil && *t.Topic == topic {
				return true
			}
		}
		return false
	}
}

// EnsureTopicsWithin returns only when every broker shows a leader for every partition of the topics: here
// one broker of three has not learnt the new topic's leaders yet for its first four answers.
func TestEnsureTopicsWaitsForLeaders(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Metadata}, Nodes: []int32{2}, Topic: "orders", Err: kerr.LeaderNotAvailable,
		Count: 4, When: namesTopic("orders")})
	began := time.Now()
	if err := EnsureTopicsWithin(context.Background(), 10*time.Second, brokers, SaramaConfig(Settings{}), 1,
		[]TopicSpec{{Name: "orders", Partitions: 3}}); err != nil {
		t.Fatal(err)
	}
	if h.Hits() != 4 {
		t.Errorf("EnsureTopicsWithin returned after %d metadata answers without a leader, want after all 4", h.Hits())
	}
	t.Logf("4 LEADER_NOT_AVAILABLE metadata answers of one broker ridden out in %v", time.Since(began).Round(time.Millisecond))

	// Leaders that never come: the error names the topic, the broker and the wait; a cancelled ctx returns
	// at once.
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Metadata}, Nodes: []int32{1}, Topic: "orders", Err: kerr.LeaderNotAvailable,
		Count: -1, When: namesTopic("orders")})
	began = time.Now()
	err = EnsureTopicsWithin(context.Background(), 2*time.Second, brokers, SaramaConfig(Settings{}), 1, []TopicSpec{{Name: "orders", Partitions: 3}})
	took := time.Since(began)
	for _, want := range []string{`topic "orders" on broker 1 at`, "within 2s", "leader"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want one containing %q", err, want)
		}
	}
	if took < 2*time.Second || took > 4*time.Second {
		t.Errorf("gave up after %v, want about the 2s timeout", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	began = time.Now()
	if err := EnsureTopicsWithin(ctx, 30*time.Second, brokers, SaramaConfig(Settings{}), 1, []TopicSpec{{Name: "orders", Partitions: 3}}); !errors.Is(err, context.Canceled) || time.Since(began) > 2*time.Second {
		t.Errorf("err = %v after %v, want context.Canceled soon after the cancel", err, time.Since(began))
	}
}
