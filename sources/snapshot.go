package sources

import (
	"context"
	"errors"
)

// Snapshotter is implemented by a source that can copy tables again on demand while it keeps streaming
// changes (an incremental snapshot, Debezium's execute-snapshot signal). The operator API's
// POST /pipelines/{pipeline}/sources/{source}/snapshots and `sluice snapshot` call it.
//
// Snapshot only requests the snapshot: it returns once the request is durably recorded (for a database
// source, as a row in its signal table, so that the request is ordered with the change log and reaches
// whichever replica runs the task, even one started later), not when the copy is done. The rows copied
// are emitted as read events ("r") among the streamed changes, never overwriting a newer change of the
// same key.
type Snapshotter interface {
	Snapshot(ctx context.Context, req SnapshotRequest) error
}

// SnapshotRequest names what to copy again.
type SnapshotRequest struct {
	// Tables are the tables to copy, in the source's own naming ("db.table" for MySQL); at least one.
	Tables []string `json:"tables"`
	// Conditions are optional filters by table (an SQL boolean expression, e.g. "id > 100"): only the rows
	// matching it are copied (Debezium's additional-conditions).
	Conditions map[string]string `json:"conditions,omitempty"`
}

// ErrSnapshotRequest is returned (wrapped, saying what is wrong) for a request the source refuses as it
// is: a table it does not capture, a condition for a table the request does not name.
var ErrSnapshotRequest = errors.New("bad snapshot request")

// ErrSnapshotUnsupported is returned (wrapped, naming the source) when a snapshot is requested from a
// source that does not implement Snapshotter, or cannot take one in its configuration.
var ErrSnapshotUnsupported = errors.New("the source cannot take snapshots on demand")
