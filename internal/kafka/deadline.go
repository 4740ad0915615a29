package kafka

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// DefaultRetryTimeout is how long a running pipeline retries Kafka when Settings.RetryTimeout is zero.
const DefaultRetryTimeout = 5 * time.Minute

// Backoff of retries: the first waits MinRetryBackoff, each next one twice as long, up to MaxRetryBackoff.
const (
	MinRetryBackoff = 100 * time.Millisecond
	MaxRetryBackoff = 2 * time.Second
)

// RetryBackoff returns the wait before retry number n (0 for the first retry).
func RetryBackoff(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	if n >= 5 { // 100ms << 5 is already past the cap
		return MaxRetryBackoff
	}
	return min(MinRetryBackoff<<n, MaxRetryBackoff)
}

// retriesSpanning returns how many retries with RetryBackoff take at least d in backoff alone.
func retriesSpanning(d time.Duration) int {
	n := 0
	for total := time.Duration(0); total < d; n++ {
		total += RetryBackoff(n)
	}
	return max(n, 1)
}

// setRetries sizes producer and metadata retries so that they span d. sarama's partition producer keeps
// one small retry slot per allowed retry level, so a few hundred levels cost little; the idempotent
// producer keeps its sequence numbers across retries, so a retried batch is still neither duplicated nor
// reordered. Metadata refreshes also stop at d (Metadata.Timeout), whichever comes first.
func setRetries(c *sarama.Config, d time.Duration) {
	n := retriesSpanning(d)
	backoff := func(retries, _ int) time.Duration { return RetryBackoff(retries) }
	c.Net.DialTimeout = 5 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Producer.Retry.Max = n
	c.Producer.Retry.Backoff = MinRetryBackoff
	c.Producer.Retry.BackoffFunc = backoff
	c.Metadata.Retry.Max = n
	c.Metadata.Retry.Backoff = MinRetryBackoff
	c.Metadata.Retry.BackoffFunc = backoff
	c.Metadata.Timeout = d
	c.Consumer.Retry.BackoffFunc = func(retries int) time.Duration { return RetryBackoff(retries) }
	c.Consumer.Group.Rebalance.Retry.Max = n
	c.Consumer.Group.Rebalance.Retry.Backoff = MaxRetryBackoff
}

// StartupConfig returns c changed for start-up calls: metadata retries and reads end within timeout, so a
// broker that accepts connections and never answers fails the start instead of hanging it.
func StartupConfig(c *sarama.Config, timeout time.Duration) *sarama.Config {
	n := retriesSpanning(timeout)
	c.Metadata.Retry.Max = n
	c.Metadata.Timeout = timeout
	c.Net.ReadTimeout = min(c.Net.ReadTimeout, timeout)
	c.Net.DialTimeout = min(c.Net.DialTimeout, timeout)
	return c
}

// NoAnswerError means Kafka did not answer a start-up request in time.
type NoAnswerError struct {
	Brokers []string
	What    string // the request, e.g. "a metadata request"
	After   time.Duration
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("Kafka at %s did not answer %s within %v", strings.Join(e.Brokers, ","), e.What, e.After)
}

// Within runs call, which takes no context, so that the caller returns promptly: with call's result; with
// ctx.Err() when ctx ends first; or with a *NoAnswerError naming the brokers and what was asked (e.g. "a
// metadata request") when timeout passes first. An abandoned call keeps running in its goroutine, and
// discard receives its result if it succeeds later (to close a client it built).
func Within[T any](ctx context.Context, timeout time.Duration, brokers []string, what string, call func() (T, error), discard func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = &NoAnswerError{Brokers: brokers, What: what, After: timeout}
	}
	go func() {
		if r := <-done; r.err == nil && discard != nil {
			discard(r.v)
		}
	}()
	var zero T
	return zero, err
}
