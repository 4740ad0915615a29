package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// retriableKErrors are the Kafka error codes that go away by themselves once the cluster settles (Kafka's
// own RetriableException family): partitions without a leader yet, or led by another broker than the
// client's metadata says (after topic creation, a restart or a leader election); a topic that the
// answering broker has not learnt of yet (topics are created asynchronously: each broker applies the
// controller's metadata log on its own); requests that timed out; in-sync replicas still catching up;
// coordinators still loading.
var retriableKErrors = []sarama.KError{
	sarama.ErrUnknownTopicOrPartition,
	sarama.ErrLeaderNotAvailable,
	sarama.ErrNotLeaderForPartition,
	sarama.ErrRequestTimedOut,
	sarama.ErrBrokerNotAvailable,
	sarama.ErrReplicaNotAvailable,
	sarama.ErrNetworkException,
	sarama.ErrOffsetsLoadInProgress,
	sarama.ErrConsumerCoordinatorNotAvailable,
	sarama.ErrNotCoordinatorForConsumer,
	sarama.ErrNotEnoughReplicas,
	sarama.ErrNotEnoughReplicasAfterAppend,
	sarama.ErrNotController,
	sarama.ErrKafkaStorageError,
	sarama.ErrFencedLeaderEpoch,
	sarama.ErrUnknownLeaderEpoch,
	sarama.ErrOffsetNotAvailable,
	sarama.ErrPreferredLeaderNotAvailable,
	sarama.ErrEligibleLeadersNotAvailable,
	sarama.ErrThrottlingQuotaExceeded,
}

// Retriable reports whether err is a Kafka condition worth retrying for a while: one of the retriable
// Kafka error codes above, a client that reached no broker (sarama's ErrOutOfBrokers, ErrNotConnected), or
// a broker connection that was refused, reset or closed (a broker restarting). Context errors,
// refused credentials and failed TLS handshakes (NotTransient), and everything else (authorization,
// invalid configuration, a partition count that does not match) are not.
func Retriable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || NotTransient(err) {
		return false
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		for _, k := range retriableKErrors {
			if kerr == k {
				return true
			}
		}
		return false
	}
	if errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrNotConnected) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr)
}

// RetriableText reports whether the text of err names a retriable Kafka condition (see Retriable). It is
// for errors of libraries that flatten the Kafka error into their message (goka formats with %v), where
// errors.As cannot find it; it matches sarama's own wording of each error.
func RetriableText(err error) bool {
	if err == nil {
		return false
	}
	if Retriable(err) {
		return true
	}
	if NotTransient(err) {
		return false
	}
	msg := err.Error()
	for _, k := range retriableKErrors {
		if strings.Contains(msg, k.Error()) {
			return true
		}
	}
	return strings.Contains(msg, sarama.ErrOutOfBrokers.Error()) || strings.Contains(msg, sarama.ErrNotConnected.Error())
}

// RetryWait waits RetryBackoff(attempt), but no longer than until deadline (the zero time means none).
// It returns true when another attempt is due, and false when ctx ended or the deadline has passed (before
// or during the wait): then the caller's last error is the one to report, not that of an attempt that had
// no time left.
func RetryWait(ctx context.Context, attempt int, deadline time.Time) bool {
	wait := RetryBackoff(attempt)
	if !deadline.IsZero() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		wait = min(wait, left)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return deadline.IsZero() || time.Until(deadline) > 0
	}
}
