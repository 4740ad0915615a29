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

// Message size limits, end to end.
//
// Three numbers decide whether Kafka takes a record: the producer's Producer.MaxMessageBytes (sarama refuses
// a bigger message before sending it, and closes a batch before it grows past it), the topic's
// max.message.bytes (the broker refuses a bigger record batch, measured after compression) and, for sources,
// the connector's own largest record. The engine makes the first two agree for every topic it creates:
// max.message.bytes = MaxMessageBytes + RecordBatchOverhead, so that any batch the producer builds is one the
// broker takes. For topics that already exist it reads max.message.bytes (TopicMaxMessageBytes) and takes the
// smaller of the two (RecordLimit).
const (
	// DataMaxMessageBytes is the producer's MaxMessageBytes for data topics (Kafka's producer default is
	// 1 MiB; brokers default to 1 MiB + 12 bytes).
	DataMaxMessageBytes = 1_000_000
	// DeadLetterMaxMessageBytes is the producer's MaxMessageBytes for dead-letter topics, which must hold a
	// record its data topic refused as too large, with the reason in headers.
	DeadLetterMaxMessageBytes = 16 << 20
	// RecordBatchOverhead is the room a topic's max.message.bytes leaves above the producer's limit: the
	// v2 record batch header (61 bytes) and compression framing of an incompressible batch.
	RecordBatchOverhead = 1024
)

// TopicMaxMessageBytes is the max.message.bytes the engine sets on a topic it creates, whose producer
// refuses messages over producerMax.
func TopicMaxMessageBytes(producerMax int) int { return producerMax + RecordBatchOverhead }

// RecordLimit is the largest MessageBytes the engine sends to a topic: within the producer's limit, and
// small enough that a batch of one such message fits the topic's max.message.bytes.
func RecordLimit(producerMax, topicMax int) int {
	return min(producerMax, topicMax-RecordBatchOverhead)
}

// DescribeMaxMessageBytes returns each topic's max.message.bytes as the brokers apply it (the topic's own
// setting, else the broker's default). Each request must be answered within timeout (see Within). The
// request goes to any broker, which may not know a topic created a moment ago yet (Kafka creates topics
// asynchronously): retriable answers (see Retriable, e.g. UNKNOWN_TOPIC_OR_PARTITION) are asked again with
// RetryBackoff for up to timeout in all, and returned, naming the topic, when that has passed.
func DescribeMaxMessageBytes(ctx context.Context, timeout time.Duration, brokers []string, cfg *sarama.Config, topics []string) (map[string]int, error) {
	cfg = StartupConfig(cfg, timeout)
	deadline := time.Now().Add(timeout)
	admin, err := Within(ctx, timeout, brokers, "a metadata request",
		func() (sarama.ClusterAdmin, error) { return sarama.NewClusterAdmin(brokers, cfg) },
		func(a sarama.ClusterAdmin) { _ = a.Close() })
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	resources := make([]*sarama.ConfigResource, len(topics))
	for i, t := range topics {
		resources[i] = &sarama.ConfigResource{Type: sarama.TopicResource, Name: t, ConfigNames: []string{"max.message.bytes"}}
	}
	var results []*sarama.ConfigResourceResult
	for attempt := 0; ; attempt++ {
		results, err = Within(ctx, max(time.Until(deadline), time.Millisecond), brokers, "a describe-configs request",
			func() ([]*sarama.ConfigResourceResult, error) {
				return admin.DescribeConfigs(resources, sarama.DescribeConfigsOptions{})
			}, nil)
		if err == nil {
			err = describeError(results)
		}
		if err == nil || ctx.Err() != nil || !Retriable(err) || !RetryWait(ctx, attempt, deadline) {
			break
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		var te *topicConfigError
		if errors.As(err, &te) {
			return nil, err
		}
		return nil, fmt.Errorf("read max.message.bytes of topics %s: %w", strings.Join(topics, ", "), err)
	}
	limits := map[string]int{}
	for _, r := range results {
		for _, c := range r.Configs {
			if c.Name != "max.message.bytes" {
				continue
			}
			n, err := strconv.Atoi(c.Value)
			if err != nil {
				return nil, fmt.Errorf("topic %q: max.message.bytes %q is not a number", r.Name, c.Value)
			}
			limits[r.Name] = n
		}
	}
	for _, t := range topics {
		if _, ok := limits[t]; !ok {
			return nil, fmt.Errorf("Kafka did not say topic %q's max.message.bytes", t)
		}
	}
	return limits, nil
}

// topicConfigError is a topic's own error in a describe-configs answer.
type topicConfigError struct {
	topic string
	err   sarama.KError
	msg   string
}

func (e *topicConfigError) Error() string {
	if e.msg != "" && e.msg != e.err.Error() {
		return fmt.Sprintf("read max.message.bytes of topic %q: %v (%s)", e.topic, e.err, e.msg)
	}
	return fmt.Sprintf("read max.message.bytes of topic %q: %v", e.topic, e.err)
}

func (e *topicConfigError) Unwrap() error { return e.err }

// describeError returns the first topic's error of a describe-configs answer, or nil.
func describeError(results []*sarama.ConfigResourceResult) error {
	for _, r := range results {
		if r.ErrorCode != 0 {
			return &topicConfigError{topic: r.Name, err: sarama.KError(r.ErrorCode), msg: r.ErrorMsg}
		}
	}
	return nil
}
