// Package sources defines what a source connector is, in the manner of Kafka Connect's SourceConnector and
// SourceTask: a connector splits its work into tasks with stable keys, and each task reads records from a
// position the engine saved for it.
//
// One connector per sub-package (sources/file, ...). The engine owns goroutines, producing to Kafka, acks
// and positions; connectors only read.
package sources

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/stream"
)

// ErrEndOfInput is returned by Reader.Read when a task has nothing more to read and never will (a bounded
// source). The engine saves the task's final position and does not reopen it.
var ErrEndOfInput = errors.New("end of input")

// Task is one independent unit of a connector's work (a file, a table, a binlog server).
type Task struct {
	// Key identifies the task across restarts and replicas, e.g. "file:/var/log/app.log". The engine stores
	// the task's position under this key, so it must not change while the task's work stays the same.
	Key string
}

// Source is a connector.
//
// Lifecycle: the engine calls Tasks once at start-up on every replica; every replica must get the same task
// keys for the same configuration. Each replica then calls Open for the tasks it owns, Read on each Reader
// until it stops owning the task or the pipeline stops, and Close exactly once on every opened Reader.
type Source interface {
	// Tasks splits the connector's work. An error here stops the pipeline before anything is read.
	Tasks(ctx context.Context) ([]Task, error)
	// Open starts reading task at pos, the Position of the last record of this task that Kafka acknowledged
	// (nil: from the beginning).
	Open(ctx context.Context, task Task, pos stream.Position) (Reader, error)
}

// Reader reads one task's records.
type Reader interface {
	// Read blocks until at least one record is available, ctx is done, or the input ended, and returns the
	// records in order, each with its Position set. Positions must be such that reopening at a record's
	// Position continues with the record after it. Read returns ErrEndOfInput, possibly wrapped, once the
	// input is exhausted, and ctx.Err() when ctx is done.
	Read(ctx context.Context) ([]stream.Record, error)
	// Close releases the reader's resources. It is called once, after the last Read returned.
	Close() error
}

// RecordSizeLimiter is implemented by a source whose records have a known largest size. The engine compares
// it at start-up with what the source's topic accepts and warns when the source may read records that Kafka
// would refuse: such a record goes to the source's dead-letter topic, or stops the task without one.
type RecordSizeLimiter interface {
	// MaxRecordBytes is the largest record value, in bytes, the source reads.
	MaxRecordBytes() int
}
