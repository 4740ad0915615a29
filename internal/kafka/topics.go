package kafka

import (
	"context"
	"errors"
	"fmt"
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
// Each request to Kafka (connect and metadata, list, create) must be answered within timeout, else the
// error is a *NoAnswerError naming the brokers and the request; when ctx ends first it returns ctx.Err()
// at once.
func EnsureTopicsWithin(ctx context.Context, timeout time.Duration, brokers []string, cfg *sarama.Config, replication int16, specs []TopicSpec) error {
	cfg = StartupConfig(cfg, timeout)
	admin, err := Within(ctx, timeout, brokers, "a metadata request",
		func() (sarama.ClusterAdmin, error) { return sarama.NewClusterAdmin(brokers, cfg) },
		func(a sarama.ClusterAdmin) { _ = a.Close() })
	if err != nil {
		if ctx.Err() != nil || errors.As(err, new(*NoAnswerError)) {
			return err
		}
		return fmt.Errorf("connect to Kafka at %s: %w", strings.Join(brokers, ","), err)
	}
	// Closing also ends a request abandoned by Within.
	defer admin.Close()
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
	return nil
}
