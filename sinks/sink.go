// Package sinks defines what a sink connector is: something that makes batches of records durable in an
// external system. One connector per sub-package (sinks/file, ...).
//
// The engine consumes a Kafka topic, hands the sink batches in offset order, and commits a partition's
// offset only after the sink acknowledged every record up to it.
package sinks

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/stream"
)

// Sink writes batches.
//
// Lifecycle: Open once before the first Write; Write is never called concurrently and receives records in
// Kafka offset order per partition; Close once after the last Write returned. A record counts as delivered
// only when the Write that carried it returned nil, so a sink must not return nil before its writes are
// durable (flushed and fsynced, acknowledged by the remote system).
//
// Cancellation: the ctx of Write is cancelled when the pipeline stops or the flow's partitions are revoked
// (a rebalance), after a bounded drain. A sink must honour it (give every external call a deadline and
// stop retrying when ctx ends) and return an error: nothing of a cancelled batch is committed, so its
// records are delivered again, to this replica or to the one that takes the partitions over. A sink may
// therefore retry transient failures for a long time: stopping never waits for it beyond the drain.
//
// A sink that implements fmt.Stringer is named by it in logs and in /readyz (for example
// "elasticsearch index orders at 127.0.0.1:9200").
type Sink interface {
	// Open connects or opens the destination. An error stops the pipeline at start-up.
	Open(ctx context.Context) error
	// Write makes every record of batch durable, or returns an error. Errors fall in three classes:
	//   - a RejectedError (possibly wrapped): some records are bad data; the rest of the batch is durable;
	//   - an error marked Retryable: the destination failed in a way that may pass (unavailable, throttled);
	//     the engine writes the same batch again with backoff, for at most the pipeline's RetryTimeout;
	//   - any other error is permanent: it stops the pipeline.
	// Either way the records of a failed batch are delivered again (rewritten by the retry, or after a
	// restart, or after the rebalance that cancelled the write), so a sink must accept a batch written twice
	// (at-least-once; a sink keyed by a document id is idempotent). While it retries by itself, a sink
	// should call ReportRetry so that a stalled flow says what it waits for.
	Write(ctx context.Context, batch []stream.Record) error
	// Close flushes and releases the destination.
	Close() error
}

type retryReporterKey struct{}

// WithRetryReporter returns a ctx for Write whose ReportRetry calls go to report. The engine sets it.
func WithRetryReporter(ctx context.Context, report func(attempt int, err error)) context.Context {
	return context.WithValue(ctx, retryReporterKey{}, report)
}

// ReportRetry tells the engine, through the ctx it passed to Write, that the write is about to make
// attempt number attempt (2 for the first retry) after err. The engine shows it where it reports a stalled
// flow (/readyz and the stall log line). Without a reporter in ctx it does nothing; it is safe for
// concurrent use when the reporter is (the engine's is).
func ReportRetry(ctx context.Context, attempt int, err error) {
	if report, ok := ctx.Value(retryReporterKey{}).(func(int, error)); ok {
		report(attempt, err)
	}
}

// Retryable marks err as a failure of the destination that may pass by itself (a connection refused or
// lost, a timeout, a 429 or 503 answer), as opposed to a permanent one that would fail again the same way
// (bad credentials, a missing index that the sink may not create, a full disk it cannot free). Sinks
// return it from Write; a nil err stays nil.
//
// When a Write fails with a retryable error (and its ctx was not cancelled), the engine does not stop the
// pipeline: it logs a warning (on the first failure, then every 10 s), counts the retry in
// sluice_sink_retries_total, shows it in the flow's stall tracking (/readyz) as a ReportRetry would, waits an
// exponential backoff with jitter (github.com/cenkalti/backoff) and writes the same batch again. It retries
// for at most the pipeline's RetryTimeout of consecutive failures; once that has passed, the last error
// stops the pipeline as a permanent one would. A write that succeeds starts the clock again. The batch may
// therefore reach the destination twice (at-least-once), never zero times. A RejectedError is never
// retried, even when marked.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryableError{err: err}
}

// IsRetryable reports whether err, or an error it wraps, was marked by Retryable.
func IsRetryable(err error) bool {
	var r *retryableError
	return errors.As(err, &r)
}

// retryableError is an error marked by Retryable. It reads as the error it wraps.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// ShapeChecker is implemented by a sink that cannot take records of every shape (a search index needs
// structured values, and keys that identify documents unless told how to make ids). The topology calls
// CheckShape before anything runs with the shape of the records the flow hands the sink.
type ShapeChecker interface {
	// CheckShape returns nil if the sink can write records of shape in, or an error saying, in user words,
	// what the sink needs and which of its options would make it work ("choose an id rule: ...").
	CheckShape(in stream.Shape) error
}
