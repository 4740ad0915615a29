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
//
// A Source that holds resources of its own, beyond its readers' (a connection pool, a client), implements
// io.Closer (Close() error): the engine calls Close once per run of the pipeline, after every Reader it
// opened returned from Close, also when the run failed or stopped during start-up (the engine detects it by
// a type assertion). A source value that is run again (a second Run of the same topology) must open its
// resources again as needed; Close should therefore be idempotent and leave the source usable. The
// conformance suite sources/sourcetest checks this contract.
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

// Committer is implemented by a Reader that tells its upstream system how far the pipeline got, so that the
// system can release what it keeps for a restart: a PostgreSQL replication slot's WAL, a queue's
// unacknowledged messages, a binlog position reported to an operator. It is Kafka Connect's
// SourceTask.commit (called once the framework flushed the task's offsets) and Debezium's commitOffset
// (which confirms a PostgreSQL slot's LSN), with the saved position passed to it: Connect's commit takes
// no argument, so each task has to track which offsets were flushed, and Connect's commitRecord comes too
// early for this (Kafka acknowledged the record, but its offset may not be stored yet). Conduit's
// Source.Ack(ctx, position) is the same call in a pipeline whose positions live elsewhere.
//
// The engine calls Commit after a position of this reader is durably saved: Kafka acknowledged the record
// at that position and every record of the task read before it, and then acknowledged the write of that
// position to the source's group table, so that a restart opens the task at pos or later (unless another
// replica took the task over before that write: it then reads again from an earlier position, and the
// records up to pos are in Kafka all the same). Guarantees:
//   - pos is the Position of a record this reader returned from Read (never the position Open received,
//     nor one of another reader of the same task, e.g. before a reopen after a transient failure);
//   - calls come in the order of the positions saved, one at a time, and never after Close was called;
//     not every saved position is passed on (a later one may stand for several);
//   - Commit may run while Read runs, on another goroutine, so it must be safe for that; it should return
//     quickly (record the position and report it upstream from Read, or with its own deadline).
//
// The final position a task saves when it stops is saved after its reader was closed: the next Open
// receives it. ctx ends when the engine is about to close the reader (the task stops, or reopens after a
// transient failure); Close is called once Commit returned.
//
// A position passed to Commit is safe to report as done upstream; one not yet passed may still be read
// again after a failure. An error from Commit is logged as a warning and counted
// (sluice_source_commit_errors_total); it stops nothing: the position stays saved, and a later Commit or
// the next Open reports it again.
type Committer interface {
	// Commit says that pos, the Position of a record this reader returned, is durably saved.
	Commit(ctx context.Context, pos stream.Position) error
}

// Lagger is implemented by a Reader that can tell how far it is behind its input: bytes of a file not yet
// read, seconds behind a database's change log. The engine exports it as the gauge
// sluice_source_lag{pipeline,source,task,unit} (refreshed every second) and shows it in the task's status.
//
// The engine calls Lag from another goroutine than Read, possibly while Read runs, so it must be safe for
// that; it must return at once (memory only, or a stat: no network call). It is never called after Close
// was called.
type Lagger interface {
	// Lag returns how far the reader is behind its input, in unit (a plural noun, e.g. "bytes" or
	// "seconds", the same on every call), and ok false when it cannot tell now (e.g. during a snapshot).
	// A reader that has read everything there is reports 0.
	Lag() (value float64, unit string, ok bool)
}

// RecordSizeLimiter is implemented by a source whose records have a known largest size. The engine compares
// it at start-up with what the source's topic accepts and warns when the source may read records that Kafka
// would refuse: such a record goes to the source's dead-letter topic, or stops the task without one.
type RecordSizeLimiter interface {
	// MaxRecordBytes is the largest record value, in bytes, the source reads.
	MaxRecordBytes() int
}

// Transient marks err as a failure that may pass by itself (a connection lost, a server restarting), as
// opposed to one that will fail again the same way (a bad configuration, a purged position, missing
// grants). Connectors return it from Open or Reader.Read; a nil err stays nil.
//
// When a task's Open or Read fails with a transient error, the engine does not stop the pipeline: it lets
// Kafka acknowledge what the task already sent (so the task's saved position is its HighestContiguousAck),
// closes the reader, logs a warning (on the first failure, then every 10 s), waits with a growing backoff
// and opens the task again at its saved position, without giving up the task's ownership. It retries for
// at most the pipeline's RetryTimeout of consecutive failures; a successful Read starts the clock again.
// Once RetryTimeout has passed, or for any error not marked transient, the task fails as it would without
// the mark. Records read again after a reopen may reach Kafka twice (at-least-once), never zero times.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err: err}
}

// IsTransient reports whether err, or an error it wraps, was marked by Transient.
func IsTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// transientError is an error marked by Transient. It reads as the error it wraps.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// Shaper is implemented by a source that knows the shape of the records it emits (text lines, structured
// rows, whether keys identify them). The topology checks, before anything runs, that every stage and sink
// downstream can take that shape; a source without Shape emits stream.Shape{} (anything, refused by
// nothing).
type Shaper interface {
	// Shape describes the records every task of the source emits, before any ETL stage.
	Shape() stream.Shape
}

// TopicShaper is implemented by a source whose records name their own topics (declared with the
// topology's ToRecordTopics) to say which topics those are and what each holds, when its topics differ
// (a CDC source's table topics hold change events, its schema-change topic DDL records). Without it the
// topology takes such a source to write, with its Shape, every declared topic that nothing else writes.
type TopicShaper interface {
	// TopicShape returns the shape of the records the source writes to topic, and false if it writes
	// none there.
	TopicShape(topic string) (stream.Shape, bool)
}

// TopicRequirer is implemented by a source whose configuration makes it write topics that the topology
// must declare whatever the data (the MySQL source's heartbeat topic, with heartbeats on). The topology's
// Validate fails before anything runs, naming each such topic that it does not declare and why the source
// needs it.
type TopicRequirer interface {
	// RequiredTopics maps each topic the source will write to what needs it, e.g.
	// "HeartbeatTopic: Config.HeartbeatInterval is set".
	RequiredTopics() map[string]string
}

// Bounded is implemented by a source that can read a bounded part of its input, for a batch run of the
// pipeline (topology's ModeBatch): each task reads from its saved position up to the end of its input as
// the task finds it (a file's end, a table's last row), and then Read returns ErrEndOfInput, instead of
// waiting for more. A source that cannot bound itself (a change log that has no end) does not implement
// it, and a batch run of a pipeline with such a source fails at start-up naming the source.
type Bounded interface {
	Source
	// Bounded returns the source as it reads in a batch run: the same tasks (the same keys, so the same
	// saved positions) and the same resources as the receiver (the engine closes the receiver, not the
	// returned source), each task ending with ErrEndOfInput at the end of its input.
	Bounded() Source
}
