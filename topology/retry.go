package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
)

// retryingGroup rides a consumer group out through a broker restart, a leader change or a moved
// coordinator. goka ends its processor, and with it the pipeline, when Consume returns an error (a metadata
// refresh or a join that failed because no broker answered); retryingGroup instead retries Consume with
// backoff until the failures have lasted retryTimeout, logging at most every retryLogEvery what it waits
// for, and then returns an error naming the brokers. A failure of the processing itself (processingFailure:
// a sink that failed for good, say) is returned at once, and so is a failure that would happen again
// (permanent): a write of the processor (a table update, an emit) that the producer or Kafka refused for
// what it is (too large), or a callback that panicked (a Keyed stage's Apply, say). A
// Consume that returns nil (a rebalance) resets the clock. Offsets are untouched: a new session resumes at
// the committed offsets, so nothing is skipped.
type retryingGroup struct {
	sarama.ConsumerGroup
	brokers      []string
	group        string
	retryTimeout time.Duration
	log          *slog.Logger
	failed       func() error // the pipeline's processing failure, nil while there is none
	// refused records a record refused for what it is (kafka.IsRecordRefusal) as a processing failure of
	// the group and returns it.
	refused func(group string, err error) error
}

// retryLogEvery rate-limits the "still waiting for Kafka" lines.
const retryLogEvery = 10 * time.Second

func (g retryingGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	var failingSince, lastLog time.Time
	for attempt := 0; ; attempt++ {
		err := g.ConsumerGroup.Consume(ctx, topics, h)
		if err == nil || ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return err
		}
		if failed := g.failed(); failed != nil { // the processing failed, not Kafka: retrying would replay it
			return failed
		}
		if permanent(err) {
			return g.refused(g.group, err)
		}
		now := time.Now()
		if failingSince.IsZero() {
			failingSince = now
		}
		if now.Sub(failingSince) >= g.retryTimeout {
			return fmt.Errorf("consumer group %q: Kafka at %s unavailable for %v (RetryTimeout): %w",
				g.group, strings.Join(g.brokers, ","), g.retryTimeout, err)
		}
		if now.Sub(lastLog) >= retryLogEvery {
			g.log.Warn("waiting for Kafka: consumer group cannot join, retrying", "group", g.group,
				"brokers", strings.Join(g.brokers, ","), "failing_for", now.Sub(failingSince).Round(time.Second),
				"gives_up_after", g.retryTimeout, "err", err)
			lastLog = now
		}
		if !kafka.RetryWait(ctx, attempt, time.Time{}) {
			return nil
		}
	}
}

// permanent reports whether a consumer group's error is a failure of the processing that a retry would
// repeat on the same record: a write refused for what it is (kafka.IsRecordRefusal), or a callback that
// panicked or a message goka could not decode, which goka keeps only as text.
func permanent(err error) bool {
	if kafka.IsRecordRefusal(err) {
		return true
	}
	text := err.Error()
	return strings.Contains(text, "panic in callback: ") || strings.Contains(text, "error decoding message for key ")
}
