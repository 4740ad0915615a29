package kafka

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// TopicSpec is a topic the engine needs.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Compact makes the topic a compacted one (cleanup.policy=compact), for control topics and tables.
	Compact bool
}

// EnsureTopics creates every missing topic of specs explicitly (the engine never relies on auto-creation)
// and checks that existing ones have the expected partition count, because positions and keys are
// assigned to partitions by hashing over that count.
func EnsureTopics(brokers []string, cfg *sarama.Config, replication int16, specs []TopicSpec) error {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer admin.Close()
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
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
		err := admin.CreateTopic(s.Name, detail, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			var te *sarama.TopicError
			if !(errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists) {
				return fmt.Errorf("create topic %q: %w", s.Name, err)
			}
		}
	}
	return nil
}
