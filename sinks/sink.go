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
type Sink interface {
	// Open connects or opens the destination. An error stops the pipeline at start-up.
	Open(ctx context.Context) error
	// Write makes every record of batch durable, or returns an error. An error stops the pipeline; the
	// records of the failed batch are delivered again after a restart.
	Write(ctx context.Context, batch []stream.Record) error
	// Close flushes and releases the destination.
	Close() error
}
