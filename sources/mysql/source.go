package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Source captures MySQL/MariaDB tables. Create it with New. Its methods are safe for concurrent use; its
// single task's Reader is used by one goroutine at a time.
type Source struct {
	cfg Config
	// pipelineLogger: Config.Logger was not set, so each task logs with the logger of the pipeline that
	// opens it (metrics.From), go-mysql's binlog syncer included.
	pipelineLogger bool

	mu sync.Mutex
	db *sql.DB
}

var _ sources.Source = (*Source)(nil)

// New validates cfg (see Config.Validate) and returns the source. It does not connect: the start-up checks
// run in Tasks, so that the pipeline fails before anything is read.
func New(cfg Config) (*Source, error) {
	pipelineLogger := cfg.Logger == nil
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Tables = append([]string(nil), cfg.Tables...)
	cfg.Exclude = append([]string(nil), cfg.Exclude...)
	return &Source{cfg: cfg, pipelineLogger: pipelineLogger}, nil
}

// Topic returns the topic the records of table ("db.table") go to: "<TopicPrefix>.<db>.<table>", with
// characters Kafka does not allow replaced by '_'. Declare one topic per captured table in the topology.
func (s *Source) Topic(table string) string {
	db, name, _ := strings.Cut(table, ".")
	return schemaPrefix(s.cfg.TopicPrefix, tableName{DB: db, Table: name})
}

// SchemaChangeTopic returns the topic of the schema-change records (one per DDL statement on a captured
// database): TopicPrefix, as Debezium names it. Declare it in the topology unless Config.SchemaChanges is
// false: a DDL statement's record for an undeclared topic fails the task.
func (s *Source) SchemaChangeTopic() string { return s.cfg.TopicPrefix }

// TaskKey returns the key of the source's only task: "mysql:<TopicPrefix>". One task reads a server: one
// consistent snapshot of every captured table, then one binlog stream.
func (s *Source) TaskKey() string { return "mysql:" + s.cfg.TopicPrefix }

// Tasks runs the start-up checks (see Check) and returns the source's single task, keyed TaskKey().
func (s *Source) Tasks(ctx context.Context) ([]sources.Task, error) {
	if _, err := s.Check(ctx); err != nil {
		return nil, err
	}
	return []sources.Task{{Key: s.TaskKey()}}, nil
}

// Open starts the task at pos (see Position). With no position, initial and initial_only take a consistent
// snapshot of every captured table and never starts streaming at the server's current binlog position. A
// snapshot position continues after its last_pk with a new snapshot; a stream position (or the snapshot's
// last one, with initial) streams from there; initial_only ends at once (sources.ErrEndOfInput) once its
// snapshot is done. A connection that breaks or cannot be made (the server restarts) fails Open and Read
// with an error marked sources.Transient, so that the engine reopens the task at its saved position.
func (s *Source) Open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	r, err := s.open(ctx, task, pos)
	return r, transientIfConnection(err)
}

func (s *Source) open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	if task.Key != s.TaskKey() {
		return nil, fmt.Errorf("mysql source: task key %q is not this source's %q", task.Key, s.TaskKey())
	}
	cfg := s.cfg
	if s.pipelineLogger {
		cfg.Logger = metrics.From(ctx).Logger // the pipeline's handler, for the source's and go-mysql's logs
	}
	start, err := parsePosition(pos)
	if err != nil {
		return nil, fmt.Errorf("mysql source: position %s: %w", pos, err)
	}
	pool, err := s.pool()
	if err != nil {
		return nil, err
	}
	names, err := s.resolveTables(ctx, pool)
	if err != nil {
		return nil, err
	}
	r := &taskReader{cfg: cfg, pool: pool, tables: names}
	snapshotDone := start != nil && (start.Phase == PhaseStream || start.Done)
	switch {
	case cfg.SnapshotMode == SnapshotInitialOnly && snapshotDone:
		return doneReader{}, nil
	case cfg.SnapshotMode == SnapshotNever && start == nil:
		now, err := currentBinlogPosition(ctx, pool)
		if err != nil {
			return nil, err
		}
		cfg.Logger.Info("mysql source: snapshot mode never: streaming from the current binlog position",
			"gtid", now.GTID, "binlog_file", now.File, "binlog_pos", now.Pos)
		r.stream, err = openBinlog(ctx, cfg, pool, names, streamStart(now))
		if err != nil {
			return nil, err
		}
	case start != nil && start.Phase == PhaseStream:
		if err := r.openStream(ctx, *start); err != nil {
			return nil, err
		}
	case start != nil && (start.Done || cfg.SnapshotMode == SnapshotNever):
		// The snapshot finished (or never is set while a snapshot was under way): stream from its start.
		if err := r.openStream(ctx, streamStart(*start.Start)); err != nil {
			return nil, err
		}
	default:
		if r.snap, err = openSnapshot(ctx, cfg, pool, names, start); err != nil {
			return nil, err
		}
	}
	if cfg.SnapshotMode != SnapshotInitialOnly {
		r.startRetentionGuard(ctx) // retention.go
	}
	return r, nil
}

// openStream opens the binlog at start; when_needed takes a new snapshot instead if start was purged.
func (r *taskReader) openStream(ctx context.Context, start Position) error {
	var err error
	r.stream, err = openBinlog(ctx, r.cfg, r.pool, r.tables, start)
	if errors.Is(err, ErrPositionPurged) && r.cfg.SnapshotMode == SnapshotWhenNeeded {
		if handled, herr := r.resnapshotAffected(ctx, start, err); handled || herr != nil {
			return herr // retention_resnapshot.go
		}
		r.logResnapshot(start, err)
		r.snap, err = openSnapshot(ctx, r.cfg, r.pool, r.tables, nil)
	}
	return err
}

// taskReader is the task's Reader: the snapshot's chunks, then (unless initial_only) the binlog stream from
// the snapshot's start.
type taskReader struct {
	cfg    Config
	pool   *sql.DB
	tables []tableName

	snap   *snapshotReader
	stream *binlogReader
	end    *binlogEnd      // a batch run's end (bounded.go); nil: none
	lag    binlogLag       // the stream's, kept across streams opened by this reader
	guard  *retentionGuard // the binlog-retention guard (retention.go)
}

// Lag is how many seconds the task's binlog stream is behind the server (sources.Lagger, see binlogLag):
// not known during a snapshot or before the stream read its first transaction.
func (r *taskReader) Lag() (value float64, unit string, ok bool) { return r.lag.Lag() }

// Read returns the snapshot's next chunk or the binlog's next changes; a connection failure is marked
// sources.Transient.
func (r *taskReader) Read(ctx context.Context) ([]stream.Record, error) {
	recs, err := r.read(ctx)
	r.trackRetention() // retention.go
	return recs, transientIfConnection(err)
}

func (r *taskReader) read(ctx context.Context) ([]stream.Record, error) {
	if r.snap != nil {
		recs, err := r.snap.Read(ctx)
		if !errors.Is(err, sources.ErrEndOfInput) {
			return recs, err
		}
		start := r.snap.start
		cerr := r.snap.Close()
		r.snap = nil
		if cerr != nil {
			return nil, cerr
		}
		if r.cfg.SnapshotMode == SnapshotInitialOnly {
			return nil, sources.ErrEndOfInput
		}
		if r.stream, err = openBinlog(ctx, r.cfg, r.pool, r.tables, streamStart(start)); err != nil {
			return nil, err
		}
	}
	if r.stream == nil {
		return nil, sources.ErrEndOfInput
	}
	r.stream.lag = &r.lag
	r.stream.end = r.end // a batch run's end (bounded.go)
	recs, err := r.stream.Read(ctx)
	if errors.Is(err, ErrPositionPurged) && r.cfg.SnapshotMode == SnapshotWhenNeeded && !r.stream.delivered {
		return r.resnapshot(ctx, err)
	}
	return recs, err
}

// resnapshot replaces a stream whose start position was purged (purged, the error saying so) with a new
// snapshot of every captured table, then the binlog from that snapshot's position: SnapshotWhenNeeded.
func (r *taskReader) resnapshot(ctx context.Context, purged error) ([]stream.Record, error) {
	from := r.stream.from
	cerr := r.stream.Close()
	r.stream = nil
	if cerr != nil {
		return nil, cerr
	}
	// Only the tables that changed, incrementally, when Config.SignalTable allows (retention_resnapshot.go).
	if handled, err := r.resnapshotAffected(ctx, from, purged); handled || err != nil {
		if err != nil {
			return nil, err
		}
		return r.read(ctx)
	}
	r.logResnapshot(from, purged)
	r.lag.streaming.Store(false) // a snapshot again: the binlog lag is not known until it streams
	var err error
	if r.snap, err = openSnapshot(ctx, r.cfg, r.pool, r.tables, nil); err != nil {
		return nil, err
	}
	return r.read(ctx)
}

func (r *taskReader) Close() error {
	r.stopRetentionGuard() // retention.go
	var errs []error
	if r.snap != nil {
		errs = append(errs, r.snap.Close())
	}
	if r.stream != nil {
		errs = append(errs, r.stream.Close())
	}
	return errors.Join(errs...)
}

func (r *taskReader) logResnapshot(from Position, purged error) {
	r.cfg.Logger.Warn("mysql source: snapshot mode when_needed: the saved binlog position is no longer on the server; taking a new snapshot of every captured table, then streaming from its position (rows deleted meanwhile get no delete event)",
		"name", r.cfg.TopicPrefix, "gtid", from.GTID, "binlog_file", from.File, "binlog_pos", from.Pos, "error", purged)
}

// streamStart is the stream position at the start of the first transaction after b.
func streamStart(b BinlogPosition) Position {
	return Position{Phase: PhaseStream, GTID: b.GTID, File: b.File, Pos: b.Pos}
}

// Close closes the source's connection pool. The engine calls it once at the end of each run of a topology
// (see sources.Source), after every Reader it opened was closed; programs that use a Source outside a
// topology call it themselves, after closing their readers. Close is idempotent, and the source stays
// usable: a later Tasks or Open opens a new pool.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// pool returns the source's connection pool, opening it on first use.
func (s *Source) pool() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	connector, err := driver.NewConnector(s.cfg.driverConfig())
	if err != nil {
		return nil, fmt.Errorf("mysql source: DSN: %w", err)
	}
	s.db = sql.OpenDB(connector)
	s.db.SetConnMaxIdleTime(time.Minute)
	return s.db, nil
}

// doneReader is an initial_only task whose snapshot finished and that has nothing more to read.
type doneReader struct{}

func (doneReader) Read(context.Context) ([]stream.Record, error) { return nil, sources.ErrEndOfInput }
func (doneReader) Close() error                                  { return nil }
