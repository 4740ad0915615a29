package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/stream"
)

// batchWait is how long Read keeps collecting changes for its batch once it has a record.
const batchWait = 5 * time.Millisecond

// streamReader streams the changes of the captured tables from the slot with pgoutput (protocol 1).
type streamReader struct {
	cfg     Config
	log     *slog.Logger
	repl    *pgconn.PgConn // replication=database, in copy-both mode
	catalog *pgconn.PgConn // normal connection: primary keys of relations, heartbeat query
	db      string
	include map[tableName]bool

	relations map[uint32]*table // by relation id; nil entry: a relation that is not captured
	latest    map[tableName]*table

	// lastEnd is the end LSN of the last transaction completed (the open position's LSN at first): the LSN
	// of the positions of the next transaction's records.
	lastEnd pglogrepl.LSN
	// confirmed is what standby status updates report: once a record was returned, never beyond the
	// open position's LSN or the LSN of a position the engine saved (committed; see the package doc,
	// "Positions and slot progress").
	confirmed pglogrepl.LSN
	committed *atomic.Pointer[position] // the taskReader's: the latest saved position (sources.Committer)
	// lastTx and lastSkip are the "tx" and "skip" of the last record read (returned, when Read holds no
	// record): when the saved position is that record's and its transaction completed, nothing returned is
	// unacknowledged (settled).
	lastTx   pglogrepl.LSN
	lastSkip int
	emitted  bool

	inTx                bool
	txCommit            pglogrepl.LSN
	txXid               uint32
	txTime              time.Time
	txIndex             int
	skipTx              pglogrepl.LSN // resume: transactions committing before it are skipped...
	skipN               int           // ...and the first skipN records of the one committing at it
	nextStatus          time.Time
	nextHeartbeat       time.Time
	lastHeard           time.Time
	walStart, walLatest pglogrepl.LSN
}

// openStream connects to the slot and starts streaming at from (a stream position).
func openStream(ctx context.Context, cfg Config, from *position, committed *atomic.Pointer[position]) (_ *streamReader, err error) {
	r := &streamReader{cfg: cfg, log: cfg.Logger.With("connector", "postgresql", "slot", cfg.Slot),
		include: map[tableName]bool{}, relations: map[uint32]*table{}, latest: map[tableName]*table{},
		lastEnd: from.lsn, confirmed: from.lsn, committed: committed, skipTx: from.tx, skipN: from.Skip}
	for _, n := range cfg.Tables {
		r.include[parseTableName(n)] = true
	}
	if r.catalog, err = cfg.connect(ctx, false); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	rows, err := cfg.query(ctx, r.catalog, "SELECT current_database()")
	if err != nil {
		return nil, fmt.Errorf("postgres source: %w", err)
	}
	r.db = string(rows[0][0])
	if err := cfg.fenceSlot(ctx, r.catalog); err != nil {
		return nil, err
	}
	if r.repl, err = cfg.connect(ctx, true); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.QueryTimeout)
	defer cancel()
	pub := strings.ReplaceAll(quoteIdent(cfg.Publication), "'", "''")
	err = pglogrepl.StartReplication(sctx, r.repl, cfg.Slot, from.lsn, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication, PluginArgs: []string{"proto_version '1'", "publication_names '" + pub + "'"}})
	if err != nil {
		return nil, fmt.Errorf("postgres source: start replication of slot %s at %s: %w", cfg.Slot, from.lsn, err)
	}
	now := time.Now()
	r.nextStatus, r.nextHeartbeat, r.lastHeard = now, now.Add(cfg.HeartbeatInterval), now
	r.log.Info("postgres source: streaming started", "lsn", from.lsn.String(), "tx", from.Tx, "skip", from.Skip)
	return r, nil
}

// silentLimit is how long the server may send nothing (not even the keepalive each status update asks
// for) before the connection counts as lost.
func (r *streamReader) silentLimit() time.Duration {
	return max(6*r.cfg.StatusInterval, 30*time.Second)
}

// Read blocks until at least one change of a captured table arrived, then returns the changes that are
// ready (about ChunkSize records at most, waiting at most batchWait for more). While it waits it sends
// standby status updates every StatusInterval and runs the heartbeat query every HeartbeatInterval.
func (r *streamReader) Read(ctx context.Context) ([]stream.Record, error) {
	var recs []stream.Record
	var batchEnd time.Time
	for len(recs) < r.cfg.ChunkSize {
		now := time.Now()
		if len(recs) > 0 && !now.Before(batchEnd) {
			break
		}
		if !now.Before(r.nextStatus) {
			if err := r.sendStatus(false); err != nil {
				return nil, err
			}
		}
		if r.cfg.HeartbeatQuery != "" && !now.Before(r.nextHeartbeat) {
			if err := r.cfg.exec(ctx, r.catalog, r.cfg.HeartbeatQuery); err != nil {
				return nil, fmt.Errorf("postgres source: heartbeat query: %w", err)
			}
			r.nextHeartbeat = now.Add(r.cfg.HeartbeatInterval)
		}
		if now.Sub(r.lastHeard) > r.silentLimit() {
			return nil, fmt.Errorf("postgres source: slot %s: the server sent nothing for %s (not even keepalives): connection lost", r.cfg.Slot, now.Sub(r.lastHeard).Round(time.Second))
		}
		wake := r.nextStatus
		if r.cfg.HeartbeatQuery != "" && r.nextHeartbeat.Before(wake) {
			wake = r.nextHeartbeat
		}
		if len(recs) > 0 && batchEnd.Before(wake) {
			wake = batchEnd
		}
		rctx, cancel := context.WithDeadline(ctx, wake)
		msg, err := r.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				if len(recs) > 0 {
					break
				}
				return nil, ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return nil, fmt.Errorf("postgres source: slot %s: receive: %w", r.cfg.Slot, err)
		}
		r.lastHeard = time.Now()
		had := len(recs)
		if recs, err = r.handle(ctx, msg, recs); err != nil {
			return nil, err
		}
		if had == 0 && len(recs) > 0 {
			batchEnd = time.Now().Add(batchWait)
		}
	}
	r.emitted = r.emitted || len(recs) > 0
	return recs, nil
}

// settled reports whether every record this reader returned is saved and the transaction of the last one
// completed: then the end of a later transaction without captured changes, or the server's sent point
// outside a transaction, has nothing unacknowledged before it. True before the first record.
func (r *streamReader) settled() bool {
	if !r.emitted {
		return true
	}
	c := r.committed.Load()
	return c != nil && c.tx == r.lastTx && c.Skip == r.lastSkip && r.lastEnd > r.lastTx
}

// handle processes one message of the replication stream and appends the records it yields.
func (r *streamReader) handle(ctx context.Context, msg pgproto3.BackendMessage, recs []stream.Record) ([]stream.Record, error) {
	switch m := msg.(type) {
	case *pgproto3.ErrorResponse:
		return nil, fmt.Errorf("postgres source: slot %s: %w", r.cfg.Slot, pgconn.ErrorResponseToPgError(m))
	case *pgproto3.CopyDone:
		return nil, fmt.Errorf("postgres source: slot %s: the server ended the replication stream", r.cfg.Slot)
	case *pgproto3.CopyData:
		if len(m.Data) == 0 {
			return recs, nil
		}
		switch m.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
			if err != nil {
				return nil, fmt.Errorf("postgres source: slot %s: keepalive: %w", r.cfg.Slot, err)
			}
			r.walLatest = ka.ServerWALEnd
			// Everything before the server's sent point was sent; if everything returned is saved (or nothing
			// was) and no transaction is under way, nothing unacknowledged lies before it.
			if len(recs) == 0 && !r.inTx && ka.ServerWALEnd > r.confirmed && r.settled() {
				r.confirmed = ka.ServerWALEnd
			}
			if ka.ReplyRequested {
				return recs, r.sendStatus(false)
			}
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(m.Data[1:])
			if err != nil {
				return nil, fmt.Errorf("postgres source: slot %s: XLogData: %w", r.cfg.Slot, err)
			}
			r.walStart = xld.WALStart
			lm, err := pglogrepl.Parse(xld.WALData)
			if err != nil {
				return nil, fmt.Errorf("postgres source: slot %s: pgoutput message at %s: %w", r.cfg.Slot, xld.WALStart, err)
			}
			return r.logical(ctx, lm, recs)
		}
	}
	return recs, nil
}

// logical processes one pgoutput message.
func (r *streamReader) logical(ctx context.Context, lm pglogrepl.Message, recs []stream.Record) ([]stream.Record, error) {
	switch m := lm.(type) {
	case *pglogrepl.BeginMessage:
		r.inTx, r.txCommit, r.txXid, r.txTime, r.txIndex = true, m.FinalLSN, m.Xid, m.CommitTime, 0
	case *pglogrepl.CommitMessage:
		r.inTx = false
		r.lastEnd = m.TransactionEndLSN
		if len(recs) == 0 && m.TransactionEndLSN > r.confirmed && r.settled() {
			r.confirmed = m.TransactionEndLSN // a transaction without captured changes, nothing unsaved before it
		}
	case *pglogrepl.RelationMessage:
		return recs, r.relation(ctx, m)
	case *pglogrepl.InsertMessage:
		return r.change(stream.OpCreate, m.RelationID, nil, 0, m.Tuple, recs)
	case *pglogrepl.UpdateMessage:
		return r.change(stream.OpUpdate, m.RelationID, m.OldTuple, m.OldTupleType, m.NewTuple, recs)
	case *pglogrepl.DeleteMessage:
		return r.change(stream.OpDelete, m.RelationID, m.OldTuple, m.OldTupleType, nil, recs)
	case *pglogrepl.TruncateMessage:
		r.log.Warn("postgres source: TRUNCATE of captured tables is not published as records (rows removed by it get no delete event)",
			"relations", m.RelationIDs, "lsn", r.walStart.String())
	}
	return recs, nil
}

// relation records the definition of a relation that the changes after it use (pgoutput sends one before
// a relation's first change in a session and after each change of its definition: DDL).
func (r *streamReader) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	name := tableName{Schema: m.Namespace, Table: m.RelationName}
	if !r.include[name] {
		r.relations[m.RelationID] = nil
		return nil
	}
	cols := make([]column, len(m.Columns))
	for i, c := range m.Columns {
		cols[i] = column{Name: c.Name, TypeOID: c.DataType, TypMod: c.TypeModifier}
	}
	// The relation message flags the REPLICA IDENTITY columns (all of them with FULL); the key of the
	// records is the primary key, read from the catalog as it is now.
	pk, err := r.cfg.primaryKey(ctx, r.catalog, m.RelationID)
	if err != nil {
		return err
	}
	t, err := newTable(r.cfg.TopicPrefix, name, cols, pk)
	if err != nil {
		return err
	}
	if prev := r.latest[name]; prev != nil && !prev.sameShape(t) {
		r.log.Info("postgres source: the table's definition changed (DDL): records from here on use the new schema",
			"table", name.String(), "lsn", r.walStart.String())
	}
	r.relations[m.RelationID], r.latest[name] = t, t
	return nil
}

// change appends the records of one row change, skipping what a resumed position says was emitted.
func (r *streamReader) change(op stream.Operation, relid uint32, old *pglogrepl.TupleData, oldType uint8, new *pglogrepl.TupleData, recs []stream.Record) ([]stream.Record, error) {
	t, ok := r.relations[relid]
	if !ok {
		return nil, fmt.Errorf("postgres source: slot %s: a change of relation %d without its relation message", r.cfg.Slot, relid)
	}
	if t == nil {
		return recs, nil
	}
	oldCells := tupleCells(old)
	newCells := tupleCells(new)
	if newCells != nil && oldCells != nil && oldType == pglogrepl.UpdateMessageTupleTypeOld {
		// REPLICA IDENTITY FULL: an unchanged TOASTed value is in the old image.
		for i := range newCells {
			if newCells[i].toast && i < len(oldCells) && !oldCells[i].toast {
				newCells[i] = oldCells[i]
			}
		}
	}
	before, err := t.image(oldCells)
	if err != nil {
		return nil, err
	}
	after, err := t.image(newCells)
	if err != nil {
		return nil, err
	}
	si := sourceInfo{prefix: r.cfg.TopicPrefix, db: r.db, ts: r.txTime, snapshot: "false", txID: int64(r.txXid),
		lsn: int64(r.walStart), lastCommit: int64(r.lastEnd)}
	out, err := t.changeRecords(op, before, after, si, time.Now(), r.cfg.tombstones())
	if err != nil {
		return nil, fmt.Errorf("%w (transaction %d, lsn %s)", err, r.txXid, r.walStart)
	}
	for _, rec := range out {
		r.txIndex++
		if r.skipTx != 0 && (r.txCommit < r.skipTx || r.txCommit == r.skipTx && r.txIndex <= r.skipN) {
			continue // emitted before the task was reopened
		}
		if rec.Position, err = streamPosition(r.lastEnd, r.txCommit, r.txIndex).marshal(); err != nil {
			return nil, err
		}
		recs = append(recs, rec)
		r.lastTx, r.lastSkip = r.txCommit, r.txIndex
	}
	return recs, nil
}

// tupleCells converts a pgoutput tuple (nil: none).
func tupleCells(td *pglogrepl.TupleData) []cell {
	if td == nil {
		return nil
	}
	cells := make([]cell, len(td.Columns))
	for i, c := range td.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			cells[i] = cell{null: true, present: true}
		case pglogrepl.TupleDataTypeToast:
			cells[i] = cell{toast: true, present: true}
		default:
			cells[i] = cell{text: string(c.Data), present: true}
		}
	}
	return cells
}

// sendStatus reports confirmed (raised first to the LSN of the latest saved position) as written, flushed
// and applied, within QueryTimeout, and asks the server for a keepalive in reply (the liveness check of
// Read).
func (r *streamReader) sendStatus(final bool) error {
	if c := r.committed.Load(); c != nil && c.lsn > r.confirmed {
		r.confirmed = c.lsn
	}
	nc := r.repl.Conn()
	nc.SetWriteDeadline(time.Now().Add(r.cfg.QueryTimeout))
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), r.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: r.confirmed, WALFlushPosition: r.confirmed, WALApplyPosition: r.confirmed, ReplyRequested: !final})
	nc.SetWriteDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("postgres source: slot %s: standby status update: %w", r.cfg.Slot, err)
	}
	r.nextStatus = time.Now().Add(r.cfg.StatusInterval)
	return nil
}

// Close reports the confirmed position one last time (best effort) and closes the connections.
func (r *streamReader) Close() error {
	var errs []error
	if r.repl != nil {
		if !r.repl.IsClosed() {
			_ = r.sendStatus(true)
		}
		errs = append(errs, closeConn(r.repl))
	}
	errs = append(errs, closeConn(r.catalog))
	return errors.Join(errs...)
}
