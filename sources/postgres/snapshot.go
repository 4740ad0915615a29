package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// snapshotReader copies the captured tables in one REPEATABLE READ transaction, in table-name order, each
// in primary-key order, ChunkSize rows per query and per Read (keyset pagination).
type snapshotReader struct {
	cfg   Config
	conn  *pgconn.PgConn
	db    string
	start pglogrepl.LSN // the slot point streaming continues from
	began time.Time

	tables []tableName
	next   int      // index into tables of the table being copied
	cur    *table   // its definition
	lastPK []string // text of the last copied row's key (nil: from the first row)
}

// openSnapshot starts the snapshot transaction: with exported, the snapshot that CREATE_REPLICATION_SLOT
// exported (consistent with the slot's start), else a new one taken now. from, if not nil, resumes a
// snapshot position.
func openSnapshot(ctx context.Context, cfg Config, exported string, start pglogrepl.LSN, from *position) (_ *snapshotReader, err error) {
	conn, err := cfg.connect(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			closeConn(conn)
		}
	}()
	stmt := "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	if exported != "" {
		stmt += "; SET TRANSACTION SNAPSHOT '" + strings.ReplaceAll(exported, "'", "''") + "'"
	}
	if err := cfg.exec(ctx, conn, stmt); err != nil {
		return nil, fmt.Errorf("postgres source: start the snapshot transaction: %w", err)
	}
	rows, err := cfg.query(ctx, conn, "SELECT current_database()")
	if err != nil {
		return nil, fmt.Errorf("postgres source: snapshot: %w", err)
	}
	r := &snapshotReader{cfg: cfg, conn: conn, db: string(rows[0][0]), start: start, began: time.Now()}
	for _, n := range cfg.Tables {
		r.tables = append(r.tables, parseTableName(n))
	}
	slices.SortFunc(r.tables, func(a, b tableName) int { return strings.Compare(a.String(), b.String()) })
	if from != nil {
		r.next = slices.IndexFunc(r.tables, func(t tableName) bool { return t.String() >= from.Table })
		if r.next < 0 {
			r.next = len(r.tables)
		}
		if r.next < len(r.tables) && r.tables[r.next].String() == from.Table {
			r.lastPK = from.LastPK
		}
	}
	cfg.Logger.Info("postgres source: snapshot started", "slot", cfg.Slot, "exported_snapshot", exported, "stream_from", start.String(),
		"resumed_at", r.resumedAt())
	return r, nil
}

func (r *snapshotReader) resumedAt() string {
	if r.next < len(r.tables) && r.lastPK != nil {
		return r.tables[r.next].String() + " after " + strings.Join(r.lastPK, ",")
	}
	return ""
}

// Read returns the next chunk of rows; sources.ErrEndOfInput once every table was copied.
func (r *snapshotReader) Read(ctx context.Context) ([]stream.Record, error) {
	for r.next < len(r.tables) {
		name := r.tables[r.next]
		if r.cur == nil {
			t, _, err := r.cfg.loadTable(ctx, r.conn, name)
			if err != nil {
				return nil, err
			}
			r.cur = t
		}
		recs, last, err := r.chunk(ctx)
		if err != nil {
			return nil, err
		}
		if last {
			r.cfg.Logger.Info("postgres source: table copied", "table", name.String())
			r.next++
			r.cur, r.lastPK = nil, nil
		}
		if len(recs) > 0 {
			return recs, nil
		}
	}
	return nil, sources.ErrEndOfInput
}

// chunk reads up to ChunkSize rows of the current table after lastPK; last reports that the table has no
// more rows.
func (r *snapshotReader) chunk(ctx context.Context) ([]stream.Record, bool, error) {
	t := r.cur
	var cols, keys, params []string
	for _, c := range t.columns {
		cols = append(cols, quoteIdent(c.Name))
	}
	for i, k := range t.pk {
		keys = append(keys, quoteIdent(t.columns[k].Name))
		params = append(params, fmt.Sprintf("$%d", i+1))
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + t.name.quoted()
	var args []any
	if r.lastPK != nil {
		q += " WHERE (" + strings.Join(keys, ", ") + ") > (" + strings.Join(params, ", ") + ")"
		for _, v := range r.lastPK {
			args = append(args, v)
		}
	}
	q += " ORDER BY " + strings.Join(keys, ", ") + fmt.Sprintf(" LIMIT %d", r.cfg.ChunkSize+1)
	rows, err := r.cfg.query(ctx, r.conn, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("postgres source: snapshot of %s: %w", t.name, err)
	}
	last := len(rows) <= r.cfg.ChunkSize
	if !last {
		rows = rows[:r.cfg.ChunkSize]
	}
	now := time.Now()
	recs := make([]stream.Record, 0, len(rows))
	for i, row := range rows {
		cells := make([]cell, len(row))
		for j, v := range row {
			cells[j] = cell{text: string(v), null: v == nil, present: true}
		}
		after, err := t.image(cells)
		if err != nil {
			return nil, false, err
		}
		si := sourceInfo{prefix: r.cfg.TopicPrefix, db: r.db, ts: r.began, snapshot: "true", lsn: int64(r.start)}
		if last && i == len(rows)-1 {
			si.snapshot = "last"
		}
		out, err := t.changeRecords(stream.OpRead, nil, after, si, now, false)
		if err != nil {
			return nil, false, err
		}
		pk := make([]string, len(t.pk))
		for j, k := range t.pk {
			pk[j] = string(row[k])
		}
		r.lastPK = pk
		pos, err := Position{Phase: PhaseSnapshot, Table: t.name.String(), LastPK: pk, Start: r.start.String()}.marshal()
		if err != nil {
			return nil, false, err
		}
		out[0].Position = pos
		recs = append(recs, out[0])
	}
	return recs, last, nil
}

// Close ends the snapshot transaction and its connection.
func (r *snapshotReader) Close() error {
	return closeConn(r.conn)
}
