package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// snapshotReader copies the captured tables, one after the other in name order, in primary-key chunks
// inside one consistent-snapshot transaction.
type snapshotReader struct {
	cfg  Config
	log  *slog.Logger
	conn *sql.Conn

	tables []*table // in name order; those before cur are done
	cur    int
	tbl    *table // tables[cur]

	first, next *sql.Stmt // chunk queries of tbl: from the start, and after a primary key
	lastPK      map[string]json.RawMessage
	keyless     *keylessCursor // the cursor of tbl when it has no key (keyless.go); nil until its first chunk

	// Where the rows come from (this snapshot) and where streaming must start (the task's first snapshot).
	serverID          int64
	snap, start       BinlogPosition
	snapshotMillis    int64
	copied, estimated int64
	// version is the rows' sluice.version header (version.go); -1: none.
	version int64
}

// openSnapshot loads the tables' metadata, then starts a consistent snapshot on a connection of its own.
// resume, a snapshot position, makes it skip the tables sorted before resume.Table and continue that one
// after resume.LastPK.
func openSnapshot(ctx context.Context, cfg Config, pool *sql.DB, names []tableName, resume *Position) (_ *snapshotReader, err error) {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql source: snapshot: connect: %w", err)
	}
	r := &snapshotReader{cfg: cfg, log: cfg.Logger.With("connector", "mysql", "name", cfg.TopicPrefix), conn: conn}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	for _, name := range names {
		if resume != nil && (name.String() < resume.Table || name.String() == resume.Table && resume.TableDone) {
			continue // copied before the restart
		}
		// Read the tables' metadata outside the snapshot transaction: information_schema is not versioned.
		t, err := loadTable(ctx, conn, name, cfg.TopicPrefix)
		if err != nil {
			return nil, err
		}
		var estimate sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			name.DB, name.Table).Scan(&estimate); err != nil {
			return nil, fmt.Errorf("mysql source: %s: estimate rows: %w", name, err)
		}
		r.estimated += estimate.Int64
		r.tables = append(r.tables, t)
	}
	if err := conn.QueryRowContext(ctx, "SELECT @@server_id").Scan(&r.serverID); err != nil {
		return nil, fmt.Errorf("mysql source: read server_id: %w", err)
	}
	fl, before, err := positionBeforeSnapshot(ctx, conn) // flavor.go: MySQL has no binlog_snapshot_file
	if err != nil {
		return nil, fmt.Errorf("mysql source: snapshot: %w", err)
	}
	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		fl.startSnapshot()} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("mysql source: snapshot: %s: %w", q, err)
		}
	}
	r.snapshotMillis = time.Now().UnixMilli()
	if err := r.readFlavorSnapshotPosition(ctx, fl, before); err != nil {
		return nil, fmt.Errorf("mysql source: snapshot: %w", err)
	}
	r.start = r.snap
	r.version = snapshotVersion(ctx, r.log, conn, r.snap) // version.go: the rows' sluice.version
	resumed := ""
	if resume != nil {
		r.start = *resume.Start
		if len(r.tables) > 0 && r.tables[0].name.String() == resume.Table && len(resume.LastPK) > 0 {
			t := r.tables[0]
			for _, i := range t.pk {
				if _, ok := resume.LastPK[t.columns[i].Name]; !ok {
					return nil, fmt.Errorf("mysql source: %s: stored last_pk %s lacks primary-key column %s (did the primary key change? reset the task's position)",
						t.name, mustJSON(resume.LastPK), t.columns[i].Name)
				}
			}
			r.lastPK = resume.LastPK
		}
		resumed = resume.Table + " after " + string(mustJSON(resume.LastPK))
		if len(r.tables) > 0 && r.tables[0].name.String() == resume.Table && r.tables[0].keyless() {
			resumed = resume.Table + " from its first row (no key to continue after)"
			r.log.Warn("snapshot of a table without key restarts from its first row: its rows copied before the restart are sent again",
				"table", resume.Table, "rows_sent_again", resume.Rows)
		}
	}
	r.cur = -1
	if err := r.nextTable(ctx); err != nil {
		return nil, err
	}
	r.log.Info("snapshot started", "binlog_file", r.snap.File, "binlog_pos", r.snap.Pos, "gtid", r.snap.GTID,
		"tables", len(r.tables), "estimated_rows", r.estimated, "resumed_at", resumed, "stream_from", r.start)
	return r, nil
}

// nextTable moves to the next table (keeping lastPK for the first one of a resumed snapshot) and prepares
// its chunk queries.
func (r *snapshotReader) nextTable(ctx context.Context) error {
	for _, st := range []*sql.Stmt{r.first, r.next} {
		if st != nil {
			st.Close()
		}
	}
	r.first, r.next = nil, nil
	r.keyless.close()
	r.keyless = nil
	if r.cur >= 0 {
		r.lastPK = nil
	}
	r.cur++
	if r.cur >= len(r.tables) {
		r.tbl = nil
		return nil
	}
	r.tbl = r.tables[r.cur]
	if r.tbl.keyless() {
		return nil // one cursor, opened by the first fetch (keyless.go)
	}
	first, next := chunkQueries(r.tbl)
	var err error
	if r.first, err = r.conn.PrepareContext(ctx, first); err != nil {
		return fmt.Errorf("mysql source: %s: prepare %s: %w", r.tbl.name, first, err)
	}
	if r.next, err = r.conn.PrepareContext(ctx, next); err != nil {
		return fmt.Errorf("mysql source: %s: prepare %s: %w", r.tbl.name, next, err)
	}
	return nil
}

// readSnapshotPosition reads the binlog position of the snapshot: binlog_snapshot_file/position are
// consistent with START TRANSACTION WITH CONSISTENT SNAPSHOT on MariaDB; BINLOG_GTID_POS turns them into
// the GTID position.
func (r *snapshotReader) readSnapshotPosition(ctx context.Context) error {
	rows, err := r.conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return fmt.Errorf("read snapshot binlog position: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return fmt.Errorf("read snapshot binlog position: %w", err)
		}
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			r.snap.File = value
		case "binlog_snapshot_position":
			fmt.Sscan(value, &r.snap.Pos)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read snapshot binlog position: %w", err)
	}
	if r.snap.File == "" {
		return fmt.Errorf("%w: the server reports no binlog_snapshot_file (is log_bin on?)", ErrBinlogConfig)
	}
	var gtid sql.NullString
	if err := r.conn.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", r.snap.File, r.snap.Pos).Scan(&gtid); err != nil {
		return fmt.Errorf("BINLOG_GTID_POS(%s, %d): %w", r.snap.File, r.snap.Pos, err)
	}
	r.snap.GTID = gtid.String
	return nil
}

// chunkQueries returns the query of the first chunk and of the chunks after a primary key (keyset
// pagination, keyset.go: the next chunk's arguments are keysetArgs). Both take LIMIT ? as last argument.
func chunkQueries(t *table) (first, next string) {
	base := selectColumns(t)
	tail := " ORDER BY " + strings.Join(quotedKeyColumns(t), ", ") + " LIMIT ?"
	return base + tail, base + " WHERE " + keysetAfter(t) + tail
}

// Read returns the next chunk of rows, at most ChunkSize, and sources.ErrEndOfInput after the last row of
// the last table.
func (r *snapshotReader) Read(ctx context.Context) ([]stream.Record, error) {
	for {
		if r.tbl == nil {
			return nil, sources.ErrEndOfInput
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		raw, err := r.fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("mysql source: %s: snapshot chunk after %s: %w", r.tbl.name, mustJSON(r.lastPK), err)
		}
		// One row more than a chunk is fetched to know whether this chunk is the table's last one.
		last := len(raw) <= r.cfg.ChunkSize
		if !last {
			raw = raw[:r.cfg.ChunkSize]
		}
		if len(raw) == 0 {
			r.log.Info("snapshot of table done", "table", r.tbl.name.String())
			if err := r.nextTable(ctx); err != nil {
				return nil, err
			}
			continue
		}
		recs := make([]stream.Record, len(raw))
		now := time.Now()
		lastTable := r.cur == len(r.tables)-1
		for i, row := range raw {
			final := last && i == len(raw)-1
			if err := r.record(&recs[i], row, final, final && lastTable, now); err != nil {
				return nil, err
			}
		}
		r.copied += int64(len(raw))
		r.log.Info("snapshot progress", "table", r.tbl.name.String(), "rows_copied", r.copied, "estimated_rows", r.estimated)
		if last {
			r.log.Info("snapshot of table done", "table", r.tbl.name.String())
			if err := r.nextTable(ctx); err != nil {
				return nil, err
			}
			if r.tbl == nil {
				r.log.Info("snapshot done", "rows", r.copied, "estimated_rows", r.estimated)
			}
		}
		return recs, nil
	}
}

// fetch runs the chunk query and returns up to ChunkSize+1 rows as the driver returned them.
func (r *snapshotReader) fetch(ctx context.Context) ([][]any, error) {
	if r.tbl.keyless() {
		return r.fetchKeyless(ctx)
	}
	stmt, args := r.first, []any(nil)
	if r.lastPK != nil {
		var err error
		if args, err = keysetArgs(r.tbl, r.lastPK); err != nil {
			return nil, fmt.Errorf("last_pk %w", err)
		}
		stmt = r.next
	}
	args = append(args, r.cfg.ChunkSize+1)
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanRows(rows, len(r.tbl.columns))
}

// record fills rec with the change event of one row; lastOfTable marks the table's last row, done the
// snapshot's.
func (r *snapshotReader) record(rec *stream.Record, row []any, lastOfTable, done bool, now time.Time) error {
	t := r.tbl
	after := mustStruct(t.valueSchema)
	for i := range t.columns {
		v, err := t.columns[i].convert(row[i])
		if err == nil {
			err = after.Put(t.columns[i].Name, v)
		}
		if err != nil {
			return fmt.Errorf("mysql source: %s: %w", t.name, err)
		}
	}
	var key *stream.Struct
	if !t.keyless() {
		key = mustStruct(t.keySchema)
	}
	lastPK := make(map[string]json.RawMessage, len(t.pk))
	for _, c := range t.pk {
		ct := &t.columns[c]
		if err := key.Put(ct.Name, after.Get(ct.Name)); err != nil {
			return fmt.Errorf("mysql source: %s: key: %w", t.name, err)
		}
		j, err := pkJSON(ct, row[c])
		if err != nil {
			return fmt.Errorf("mysql source: %s: key column %s: %w", t.name, ct.Name, err)
		}
		lastPK[ct.Name] = j
	}
	r.lastPK = lastPK

	snapshot := "true"
	if lastOfTable {
		snapshot = "last"
	}
	src := mustStruct(sourceSchema)
	var gtid any
	if r.snap.GTID != "" {
		gtid = r.snap.GTID
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"version", Version}, {"connector", "mysql"}, {"name", r.cfg.TopicPrefix}, {"ts_ms", r.snapshotMillis},
		{"snapshot", snapshot}, {"db", t.name.DB}, {"table", t.name.Table}, {"server_id", r.serverID},
		{"gtid", gtid}, {"file", r.snap.File}, {"pos", int64(r.snap.Pos)}, {"row", int32(0)}} {
		if err := src.Put(f.name, f.v); err != nil {
			return fmt.Errorf("mysql source: %s: source block: %w", t.name, err)
		}
	}
	env := mustStruct(t.envelopeSchema)
	for _, f := range []struct {
		name string
		v    any
	}{{"after", after}, {"source", src}, {"op", stream.OpRead.String()}, {"ts_ms", now.UnixMilli()}} {
		if err := env.Put(f.name, f.v); err != nil {
			return fmt.Errorf("mysql source: %s: envelope: %w", t.name, err)
		}
	}
	start := r.start
	p := Position{Phase: PhaseSnapshot, Table: t.name.String(), LastPK: lastPK, Done: done, Start: &start}
	if t.keyless() { // no last_pk: how many rows were copied, and whether the table is done (keyless.go)
		r.keyless.copied++
		p.Rows, p.TableDone = r.keyless.copied, lastOfTable
	}
	pos, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("mysql source: %s: position: %w", t.name, err)
	}
	*rec = stream.Record{
		Topic:       schemaPrefix(r.cfg.TopicPrefix, t.name),
		KeySchema:   t.keySchema,
		Key:         recordKey(key),
		ValueSchema: t.envelopeSchema,
		Value:       env,
		Timestamp:   now,
		Operation:   stream.OpRead,
		Position:    pos,
	}
	r.setVersion(rec) // version.go: the sluice.version header
	return nil
}

// Close ends the snapshot transaction and returns the connection.
func (r *snapshotReader) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{r.first, r.next} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	interrupted := r.keyless.close() // cancels a keyless table's unfinished SELECT rather than reading the rest of it
	r.keyless = nil
	if r.conn != nil {
		// A cancelled query may have broken the connection; the rollback error is then irrelevant.
		_, _ = r.conn.ExecContext(context.Background(), "ROLLBACK")
		err := r.conn.Close()
		if interrupted && errors.Is(err, sql.ErrConnDone) {
			err = nil // the cancelled keyless SELECT closed the connection (keyless.go)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func mustStruct(s *stream.Schema) *stream.Struct {
	v, err := stream.NewStructValue(s)
	if err != nil {
		panic(err) // schemas are built by buildSchemas, always structs
	}
	return v
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
