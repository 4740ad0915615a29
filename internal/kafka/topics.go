package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// TopicSpec is a topic the engine needs.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Compact makes the topic a compacted one (cleanup.policy=compact), for control topics and tables.
	Compact bool
	// MaxMessageBytes, when set, is the topic's max.message.bytes at creation (see TopicMaxMessageBytes).
	MaxMessageBytes int
}

// EnsureTopics is EnsureTopicsWithin with no cancellation and a 30s deadline per request.
func EnsureTopics(brokers []string, cfg *sarama.Config, replication int16, specs []TopicSpec) error {
	return EnsureTopicsWithin(context.Background(), 30*time.Second, brokers, cfg, replication, specs)
}

// EnsureTopicsWithin creates every missing topic of specs explicitly (the engine never relies on
// auto-creation) and checks that existing ones have the expected partition count, because positions and
// keys are assigned to partitions by hashing over that count.
//
// Kafka creates topics asynchronously: CreateTopics returns once the controller has recorded them, and
// each broker learns of them, and of their leaders, a moment later. So EnsureTopicsWithin returns only when
// every broker in the cluster's metadata shows every topic of specs (created or existing) with a leader
// for each partition, and the requests that follow (describe configs, list offsets, produce) find them
// wherever they land. Retriable answers (see Retriable: no leader yet, unknown topic, a broker restarting)
// are asked again with RetryBackoff until timeout has passed since that wait began.
//
// Each request to Kafka (connect and metadata, list, create) must be answered within timeout, else the
// error is a *NoAnswerError naming the brokers and the request; when ctx ends first it returns ctx.Err()
// at once.
func EnsureTopicsWithin(ctx context.Context, timeout time.Duration, brokers []string, cfg *sarama.Config, replication int16, specs []TopicSpec) error {
	cfg = StartupConfig(cfg, timeout)
	client, err := Within(ctx, timeout, brokers, "a metadata request",
		func() (sarama.Client, error) { return sarama.NewClient(brokers, cfg) },
		func(c sarama.Client) { _ = c.Close() })
	if err == nil {
		// Closing the client also ends a request abandoned by Within.
		defer client.Close()
	}
	var admin sarama.ClusterAdmin
	if err == nil {
		admin, err = Within(ctx, timeout, brokers, "a metadata request",
			func() (sarama.ClusterAdmin, error) { return sarama.NewClusterAdminFromClient(client) }, nil)
	}
	if err != nil {
		if ctx.Err() != nil || errors.As(err, new(*NoAnswerError)) {
			return err
		}
		return fmt.Errorf("connect to Kafka at %s: %w", strings.Join(brokers, ","), err)
	}
	existing, err := Within(ctx, timeout, brokers, "a list-topics request", admin.ListTopics, nil)
	if err != nil {
		if ctx.Err() != nil || errors.As(err, new(*NoAnswerError)) {
			return err
		}
		return fmt.Errorf("list topics at %s: %w", strings.Join(brokers, ","), err)
	}
	for _, s := range specs {
		if d, ok := existing[s.Name]; ok {
			if d.NumPartitions != s.Partitions {
				return fmt.Errorf("topic %q exists with %d partitions, the pipeline needs %d: keys would land on other partitions",
					s.Name, d.NumPartitions, s.Partitions)
			}
			continue
		}
		detail := &sarama.TopicDetail{NumPartitions: s.Partitions, ReplicationFactor: replication, ConfigEntries: map[string]*string{}}
		if s.Compact {
			policy := "compact"
			detail.ConfigEntries["cleanup.policy"] = &policy
		}
		if s.MaxMessageBytes > 0 {
			limit := strconv.Itoa(s.MaxMessageBytes)
			detail.ConfigEntries["max.message.bytes"] = &limit
		}
		_, err := Within(ctx, timeout, brokers, fmt.Sprintf("a request to create topic %q", s.Name),
			func() (struct{}, error) { return struct{}{}, admin.CreateTopic(s.Name, detail, false) }, nil)
		if ctx.Err() != nil || errors.As(err, new(*NoAnswerError)) {
			return err
		}
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			var te *sarama.TopicError
			if !(errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists) {
				return fmt.Errorf("create topic %q: %w", s.Name, err)
			}
		}
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return waitTopicsLed(ctx, timeout, brokers, client, names)
}

// waitTopicsLed returns once every broker of the cluster, asked directly, shows every partition of topics
// with a leader; retriable errors are asked again with RetryBackoff for up to timeout in all. The brokers
// asked are those of client's metadata at first, then those the last answer listed (a broker that left
// the cluster is no longer asked, one that joined is).
func waitTopicsLed(ctx context.Context, timeout time.Duration, brokers []string, client sarama.Client, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	cluster := map[int32]string{}
	for _, b := range client.Brokers() {
		cluster[b.ID()] = b.Addr()
	}
	conns := map[int32]*sarama.Broker{}
	defer func() {
		for _, b := range conns {
			_ = b.Close()
		}
	}()
	var last error
	for attempt := 0; ; attempt++ {
		last = topicsLedOnEveryBroker(ctx, time.Until(deadline), client.Config(), cluster, conns, topics)
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !Retriable(last) && !errors.As(last, new(*NoAnswerError)) {
			return last
		}
		if !RetryWait(ctx, attempt, deadline) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("Kafka at %s did not show a leader for every partition of topics %s on every broker within %v: %w",
				strings.Join(brokers, ","), strings.Join(topics, ", "), timeout, last)
		}
	}
}

// topicsLedOnEveryBroker asks each broker of cluster (id to address; replaced by the broker list of the
// last answer) for the metadata of topics, each request answered within timeout, over connections kept in
// conns (a failed one is closed and dropped). It returns nil when every answer has every topic with a
// leader for each partition, else the first problem, naming topic, partition and broker.
func topicsLedOnEveryBroker(ctx context.Context, timeout time.Duration, cfg *sarama.Config, cluster map[int32]string, conns map[int32]*sarama.Broker, topics []string) error {
	var listed []*sarama.Broker
	for _, id := range slices.Sorted(maps.Keys(cluster)) {
		addr := cluster[id]
		b := conns[id]
		if b == nil || b.Addr() != addr {
			if b != nil {
				_ = b.Close()
			}
			b = sarama.NewBroker(addr)
			if err := b.Open(cfg); err != nil {
				return fmt.Errorf("broker %d at %s: %w", id, addr, err)
			}
			conns[id] = b
		}
		resp, err := Within(ctx, timeout, []string{addr}, "a metadata request",
			func() (*sarama.MetadataResponse, error) {
				return b.GetMetadata(sarama.NewMetadataRequest(cfg.Version, topics))
			}, nil)
		if err != nil {
			_ = b.Close()
			delete(conns, id)
			if ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("broker %d at %s: %w", id, addr, err)
		}
		for _, name := range topics {
			if err := topicLed(resp, name); err != nil {
				return fmt.Errorf("topic %q on broker %d at %s: %w", name, id, addr, err)
			}
		}
		listed = resp.Brokers
	}
	if len(listed) > 0 {
		clear(cluster)
		for _, b := range listed {
			cluster[b.ID()] = b.Addr()
		}
	}
	return nil
}

// topicLed returns nil when resp has topic with a leader for each partition.
func topicLed(resp *sarama.MetadataResponse, topic string) error {
	i := slices.IndexFunc(resp.Topics, func(t *sarama.TopicMetadata) bool { return t.Name == topic })
	if i < 0 {
		return sarama.ErrUnknownTopicOrPartition
	}
	t := resp.Topics[i]
	if t.Err != sarama.ErrNoError {
		return t.Err
	}
	if len(t.Partitions) == 0 {
		return sarama.ErrLeaderNotAvailable
	}
	for _, p := range t.Partitions {
		// REPLICA_NOT_AVAILABLE only says that a follower is offline: the partition is led.
		if p.Err != sarama.ErrNoError && p.Err != sarama.ErrReplicaNotAvailable {
			return fmt.Errorf("partition %d: %w", p.ID, p.Err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("partition %d: %w", p.ID, sarama.ErrLeaderNotAvailable)
		}
	}
	return nil
}
