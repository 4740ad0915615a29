package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pglogrepl"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Source captures PostgreSQL tables through a logical replication slot. Create it with New. It holds no
// connection between calls: each Reader opens its own, and Tasks opens one for its checks.
type Source struct {
	cfg            Config
	pipelineLogger bool // Config.Logger was not set: each task logs with the pipeline's logger
}

var _ sources.Source = (*Source)(nil)

// New validates cfg (see Config.Validate) and returns the source. It does not connect: the start-up
// checks run in Tasks, so that the pipeline fails before anything is read.
func New(cfg Config) (*Source, error) {
	pipelineLogger := cfg.Logger == nil
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Tables = append([]string(nil), cfg.Tables...)
	return &Source{cfg: cfg, pipelineLogger: pipelineLogger}, nil
}

// Topic returns the topic the records of table ("schema.table") go to: "<TopicPrefix>.<schema>.<table>",
// with characters Kafka does not allow replaced by '_'. Declare one topic per captured table.
func (s *Source) Topic(table string) string {
	return topicName(s.cfg.TopicPrefix, parseTableName(table))
}

// TaskKey returns the key of the source's only task: "postgres:<Slot>". One task reads one slot.
func (s *Source) TaskKey() string { return "postgres:" + s.cfg.Slot }

// Tasks runs the start-up checks (wal_level is logical; every table exists and has a primary key; the
// publication exists with every table, created or extended when needed) and returns the single task.
func (s *Source) Tasks(ctx context.Context) ([]sources.Task, error) {
	if err := s.cfg.check(ctx); err != nil {
		return nil, transientIfConnection(err)
	}
	return []sources.Task{{Key: s.TaskKey()}}, nil
}

// Open starts the task at pos (see Position). Without a position it creates the slot when it is missing
// and, with SnapshotInitial, copies the tables in the snapshot the slot exported, then streams from the
// slot's consistent point; when the slot already exists (a previous run saved no position) the snapshot is
// a new one and streaming starts at the slot's confirmed_flush_lsn (rows changed in between may arrive
// twice, none is lost). A snapshot position resumes the copy after its last key, then streams from the
// first snapshot's point; a stream position resumes exactly after its record. A connection that breaks or
// cannot be made fails Open and Read with an error marked sources.Transient.
func (s *Source) Open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	r, err := s.open(ctx, task, pos)
	return r, transientIfConnection(err)
}

func (s *Source) open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	if task.Key != s.TaskKey() {
		return nil, fmt.Errorf("postgres source: task key %q is not this source's %q", task.Key, s.TaskKey())
	}
	cfg := s.cfg
	if s.pipelineLogger {
		cfg.Logger = metrics.From(ctx).Logger
	}
	start, err := parsePosition(pos)
	if err != nil {
		return nil, fmt.Errorf("postgres source: slot %s: position %s: %w", cfg.Slot, pos, err)
	}
	r := &taskReader{cfg: cfg}
	switch {
	case start == nil:
		if err := r.openFresh(ctx); err != nil {
			return nil, err
		}
	case start.Phase == PhaseSnapshot:
		r.streamFrom = start.start
		if cfg.SnapshotMode == SnapshotNever {
			return r, r.openStream(ctx, &position{lsn: start.start})
		}
		if r.snap, err = openSnapshot(ctx, cfg, "", start.start, start); err != nil {
			return nil, err
		}
	default:
		if err := r.openStream(ctx, start); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// openFresh starts a task that has no position: creates the slot (exporting its snapshot) or reuses it.
func (r *taskReader) openFresh(ctx context.Context) (err error) {
	cfg := r.cfg
	conn, err := cfg.connect(ctx, false)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	slot, err := cfg.slot(ctx, conn)
	if err != nil {
		return err
	}
	rows, err := cfg.query(ctx, conn, "SELECT current_database()")
	if err != nil {
		return fmt.Errorf("postgres source: %w", err)
	}
	db := string(rows[0][0])
	if slot.exists {
		if slot.plugin != "pgoutput" || slot.db != db {
			return fmt.Errorf("postgres source: replication slot %s exists with plugin %s on database %s; this source needs plugin pgoutput on database %s: choose another Slot or drop it",
				cfg.Slot, slot.plugin, slot.db, db)
		}
		if err := cfg.fenceSlot(ctx, conn); err != nil {
			return err
		}
		r.streamFrom = slot.confirmedFlush
		cfg.Logger.Info("postgres source: the replication slot exists but the task has no saved position: starting from the slot's confirmed_flush_lsn",
			"slot", cfg.Slot, "confirmed_flush_lsn", slot.confirmedFlush.String(), "snapshot_mode", string(cfg.SnapshotMode))
		if cfg.SnapshotMode == SnapshotNever {
			return r.openStream(ctx, &position{lsn: r.streamFrom})
		}
		r.snap, err = openSnapshot(ctx, cfg, "", r.streamFrom, nil)
		return err
	}
	repl, err := cfg.connect(ctx, true)
	if err != nil {
		return err
	}
	// The exported snapshot lives while repl stays idle: imported by the snapshot transaction, it is held
	// by that transaction, and repl can go.
	defer closeConn(repl)
	action := "EXPORT_SNAPSHOT"
	if cfg.SnapshotMode == SnapshotNever {
		action = "NOEXPORT_SNAPSHOT"
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.QueryTimeout)
	defer cancel()
	created, err := pglogrepl.CreateReplicationSlot(cctx, repl, cfg.Slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action})
	if err != nil {
		return fmt.Errorf("postgres source: create replication slot %s (the user needs the REPLICATION attribute; max_replication_slots may be reached): %w", cfg.Slot, err)
	}
	if r.streamFrom, err = pglogrepl.ParseLSN(created.ConsistentPoint); err != nil {
		return fmt.Errorf("postgres source: slot %s: consistent point %q: %w", cfg.Slot, created.ConsistentPoint, err)
	}
	cfg.Logger.Info("postgres source: replication slot created", "slot", cfg.Slot, "consistent_point", created.ConsistentPoint,
		"snapshot", created.SnapshotName)
	if cfg.SnapshotMode == SnapshotNever {
		return r.openStream(ctx, &position{lsn: r.streamFrom})
	}
	r.snap, err = openSnapshot(ctx, cfg, created.SnapshotName, r.streamFrom, nil)
	return err
}

// taskReader is the task's Reader: the snapshot's chunks, then the slot's stream from streamFrom.
type taskReader struct {
	cfg        Config
	streamFrom pglogrepl.LSN
	snap       *snapshotReader
	stream     *streamReader
	// committed is the latest stream position the engine saved (Commit; nil: none yet), which the
	// stream's status updates confirm. Written by Commit, read by Read's goroutine.
	committed atomic.Pointer[position]
}

var _ sources.Committer = (*taskReader)(nil)

// Commit records a saved stream position, so that the next standby status update confirms its "lsn"
// (never its "tx": the record's transaction may have records not yet saved) and the slot advances while
// the task runs. Snapshot positions change nothing: streaming starts at the slot's consistent point,
// where the slot already is.
func (r *taskReader) Commit(_ context.Context, pos stream.Position) error {
	p, err := parsePosition(pos)
	if err != nil {
		return fmt.Errorf("postgres source: slot %s: saved position %s: %w", r.cfg.Slot, pos, err)
	}
	if p == nil || p.Phase != PhaseStream {
		return nil
	}
	if cur := r.committed.Load(); cur != nil && p.lsn < cur.lsn {
		return nil // cannot happen: the engine commits in order
	}
	r.committed.Store(p)
	return nil
}

func (r *taskReader) openStream(ctx context.Context, from *position) error {
	var err error
	r.stream, err = openStream(ctx, r.cfg, from, &r.committed)
	return err
}

// Read returns the snapshot's next chunk or the stream's next changes; a connection failure is marked
// sources.Transient.
func (r *taskReader) Read(ctx context.Context) ([]stream.Record, error) {
	recs, err := r.read(ctx)
	return recs, transientIfConnection(err)
}

func (r *taskReader) read(ctx context.Context) ([]stream.Record, error) {
	if r.snap != nil {
		recs, err := r.snap.Read(ctx)
		if !errors.Is(err, sources.ErrEndOfInput) {
			return recs, err
		}
		cerr := r.snap.Close()
		r.snap = nil
		if cerr != nil {
			return nil, cerr
		}
		if err := r.openStream(ctx, &position{lsn: r.streamFrom}); err != nil {
			return nil, err
		}
	}
	return r.stream.Read(ctx)
}

// Close closes the reader's connections.
func (r *taskReader) Close() error {
	var errs []error
	if r.snap != nil {
		errs = append(errs, r.snap.Close())
	}
	if r.stream != nil {
		errs = append(errs, r.stream.Close())
	}
	return errors.Join(errs...)
}
