// Package sinks defines what a sink connector is: something that makes batches of records durable in an
// external system. One connector per sub-package (sinks/file, ...).
//
// The engine consumes a Kafka topic, hands the sink batches in offset order, and commits a partition's
// offset only after the sink acknowledged every record up to it.
package sinks

import (
	"context"

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
	// Write makes every record of batch durable, or returns an error. An error of a Write whose ctx was
	// not cancelled stops the pipeline; either way the records of the failed batch are delivered again
	// (after a restart, or after the rebalance that cancelled it). While it retries, a sink should call
	// ReportRetry so that a stalled flow says what it waits for.
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
