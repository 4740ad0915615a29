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

// snapshotReader copies one table in primary-key chunks inside one consistent-snapshot transaction.
type snapshotReader struct {
	cfg  Config
	log  *slog.Logger
	tbl  *table
	conn *sql.Conn

	first, next *sql.Stmt // chunk queries: from the start, and after a primary key
	lastPK      map[string]json.RawMessage
	done        bool

	// Where the rows come from (this snapshot) and where the task's position says streaming must start
	// (its first snapshot).
	serverID                int64
	snapFile, snapGTID      string
	snapPos                 uint64
	startFile, startGTID    string
	startPos                uint64
	snapshotMillis          int64
	copied, estimated, base int64
}

// openSnapshot starts a consistent snapshot of name on a connection of its own and prepares the chunk
// queries. start.Snapshot.LastPK, when set, makes it continue after that key.
func openSnapshot(ctx context.Context, cfg Config, pool *sql.DB, name tableName, start Position) (_ *snapshotReader, err error) {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql source: %s: connect: %w", name, err)
	}
	r := &snapshotReader{cfg: cfg, log: cfg.Logger.With("source", "mysql", "table", name.String()), conn: conn}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	// Read the table's metadata outside the snapshot transaction: information_schema is not versioned.
	if r.tbl, err = loadTable(ctx, conn, name, cfg.TopicPrefix); err != nil {
		return nil, err
	}
	if err := conn.QueryRowContext(ctx, "SELECT @@server_id").Scan(&r.serverID); err != nil {
		return nil, fmt.Errorf("mysql source: %s: read server_id: %w", name, err)
	}
	var estimate sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		name.DB, name.Table).Scan(&estimate); err != nil {
		return nil, fmt.Errorf("mysql source: %s: estimate rows: %w", name, err)
	}
	r.estimated = estimate.Int64

	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("mysql source: %s: %s: %w", name, q, err)
		}
	}
	r.snapshotMillis = time.Now().UnixMilli()
	if err := r.readSnapshotPosition(ctx); err != nil {
		return nil, fmt.Errorf("mysql source: %s: %w", name, err)
	}
	r.startFile, r.startPos, r.startGTID = r.snapFile, r.snapPos, r.snapGTID
	if start.File != "" {
		r.startFile, r.startPos, r.startGTID = start.File, start.Pos, start.GTID
	}
	if start.Snapshot != nil && len(start.Snapshot.LastPK) > 0 {
		r.lastPK = start.Snapshot.LastPK
		for _, i := range r.tbl.pk {
			if _, ok := r.lastPK[r.tbl.columns[i].Name]; !ok {
				return nil, fmt.Errorf("mysql source: %s: stored last_pk %v lacks primary-key column %s (did the primary key change? reset the task's position)",
					name, start.Snapshot.LastPK, r.tbl.columns[i].Name)
			}
		}
	}
	first, next := chunkQueries(r.tbl)
	if r.first, err = conn.PrepareContext(ctx, first); err != nil {
		return nil, fmt.Errorf("mysql source: %s: prepare %s: %w", name, first, err)
	}
	if r.next, err = conn.PrepareContext(ctx, next); err != nil {
		return nil, fmt.Errorf("mysql source: %s: prepare %s: %w", name, next, err)
	}
	resumed := ""
	if r.lastPK != nil {
		resumed = string(mustJSON(r.lastPK))
	}
	r.log.Info("snapshot started", "binlog_file", r.snapFile, "binlog_pos", r.snapPos, "gtid", r.snapGTID,
		"estimated_rows", r.estimated, "after_pk", resumed)
	return r, nil
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
			r.snapFile = value
		case "binlog_snapshot_position":
			fmt.Sscan(value, &r.snapPos)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read snapshot binlog position: %w", err)
	}
	if r.snapFile == "" {
		return fmt.Errorf("%w: the server reports no binlog_snapshot_file (is log_bin on?)", ErrBinlogConfig)
	}
	var gtid sql.NullString
	if err := r.conn.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", r.snapFile, r.snapPos).Scan(&gtid); err != nil {
		return fmt.Errorf("BINLOG_GTID_POS(%s, %d): %w", r.snapFile, r.snapPos, err)
	}
	r.snapGTID = gtid.String
	return nil
}

// chunkQueries returns the query of the first chunk and of the chunks after a primary key (keyset
// pagination). A composite key (a, b) continues with a > ? OR (a = ? AND b > ?), which MariaDB turns into
// index ranges (it does not for the row comparison (a, b) > (?, ?)). Both take LIMIT ? as last argument.
func chunkQueries(t *table) (first, next string) {
	cols := make([]string, len(t.columns))
	for i := range t.columns {
		cols[i] = quoteIdent(t.columns[i].Name)
	}
	order := make([]string, len(t.pk))
	for i, c := range t.pk {
		order[i] = quoteIdent(t.columns[c].Name)
	}
	base := "SELECT " + strings.Join(cols, ", ") + " FROM " + t.name.quoted()
	tail := " ORDER BY " + strings.Join(order, ", ") + " LIMIT ?"
	var ors []string
	for i := range t.pk {
		var ands []string
		for j := 0; j <= i; j++ {
			op := " = "
			if j == i {
				op = " > "
			}
			ands = append(ands, order[j]+op+keysetPlaceholder(&t.columns[t.pk[j]]))
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return base + tail, base + " WHERE " + strings.Join(ors, " OR ") + tail
}

// keysetArgs are the arguments of the next-chunk query after r.lastPK.
func (r *snapshotReader) keysetArgs() ([]any, error) {
	vals := make([]any, len(r.tbl.pk))
	for i, c := range r.tbl.pk {
		ct := &r.tbl.columns[c]
		v, err := pkArg(ct, r.lastPK[ct.Name])
		if err != nil {
			return nil, fmt.Errorf("last_pk column %s: %w", ct.Name, err)
		}
		vals[i] = v
	}
	var args []any
	for i := range vals {
		args = append(args, vals[:i+1]...)
	}
	return args, nil
}

// Read returns the next chunk of rows, at most ChunkSize, and sources.ErrEndOfInput after the last one.
func (r *snapshotReader) Read(ctx context.Context) ([]stream.Record, error) {
	if r.done {
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
	// One row more than a chunk is fetched to know whether this chunk is the last one.
	last := len(raw) <= r.cfg.ChunkSize
	if !last {
		raw = raw[:r.cfg.ChunkSize]
	}
	if len(raw) == 0 {
		r.done = true
		r.log.Info("snapshot done", "rows", r.copied, "estimated_rows", r.estimated)
		return nil, sources.ErrEndOfInput
	}
	recs := make([]stream.Record, len(raw))
	now := time.Now()
	for i, row := range raw {
		final := last && i == len(raw)-1
		if err := r.record(&recs[i], row, final, now); err != nil {
			return nil, err
		}
	}
	r.copied += int64(len(raw))
	r.log.Info("snapshot progress", "rows_copied", r.copied, "estimated_rows", r.estimated)
	if last {
		r.done = true
		r.log.Info("snapshot done", "rows", r.copied, "estimated_rows", r.estimated)
	}
	return recs, nil
}

// fetch runs the chunk query and returns up to ChunkSize+1 rows as the driver returned them.
func (r *snapshotReader) fetch(ctx context.Context) ([][]any, error) {
	stmt, args := r.first, []any(nil)
	if r.lastPK != nil {
		var err error
		if args, err = r.keysetArgs(); err != nil {
			return nil, err
		}
		stmt = r.next
	}
	args = append(args, r.cfg.ChunkSize+1)
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	n := len(r.tbl.columns)
	var out [][]any
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// record fills rec with the change event of one row.
func (r *snapshotReader) record(rec *stream.Record, row []any, final bool, now time.Time) error {
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
	key := mustStruct(t.keySchema)
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
	if final {
		snapshot = "last"
	}
	src := mustStruct(sourceSchema)
	var gtid any
	if r.snapGTID != "" {
		gtid = r.snapGTID
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"version", Version}, {"connector", "mysql"}, {"name", r.cfg.TopicPrefix}, {"ts_ms", r.snapshotMillis},
		{"snapshot", snapshot}, {"db", t.name.DB}, {"table", t.name.Table}, {"server_id", r.serverID},
		{"gtid", gtid}, {"file", r.snapFile}, {"pos", int64(r.snapPos)}, {"row", int32(0)}} {
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
	pos, err := json.Marshal(Position{
		Snapshot: &SnapshotPosition{LastPK: lastPK, Done: final},
		GTID:     r.startGTID, File: r.startFile, Pos: r.startPos,
	})
	if err != nil {
		return fmt.Errorf("mysql source: %s: position: %w", t.name, err)
	}
	*rec = stream.Record{
		Topic:       schemaPrefix(r.cfg.TopicPrefix, t.name),
		KeySchema:   t.keySchema,
		Key:         key,
		ValueSchema: t.envelopeSchema,
		Value:       env,
		Timestamp:   now,
		Operation:   stream.OpRead,
		Position:    pos,
	}
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
	if r.conn != nil {
		// A cancelled query may have broken the connection; the rollback error is then irrelevant.
		_, _ = r.conn.ExecContext(context.Background(), "ROLLBACK")
		errs = append(errs, r.conn.Close())
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
