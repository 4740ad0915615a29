package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/stream"
)

// The chunks of an incremental snapshot: watermarks, the keyset queries, the rows buffered between the
// watermarks, and their records at the close (see "Incremental snapshots" in the package doc).

// watermark inserts a watermark row into the signal table (autocommit: one binlog transaction).
func (inc *incremental) watermark(ctx context.Context, id, typ string) error {
	data := fmt.Sprintf(`{"openWindowTimestamp":%q}`, time.Now().UTC().Format(time.RFC3339Nano))
	if typ == "snapshot-window-close" {
		data = fmt.Sprintf(`{"closeWindowTimestamp":%q}`, time.Now().UTC().Format(time.RFC3339Nano))
	}
	if _, err := inc.pool.ExecContext(ctx, "INSERT INTO "+inc.signal.quoted()+" (id, type, data) VALUES (?, ?, ?)", id, typ, data); err != nil {
		return fmt.Errorf("mysql source: incremental snapshot: write the %s watermark into signal table %s (the source's user needs INSERT on it): %w", typ, inc.signal, err)
	}
	return nil
}

// keyGreater returns the condition "key > (placeholders)" of t's primary key (keysetAfter, in parentheses)
// and its arguments for key.
func keyGreater(t *table, key map[string]json.RawMessage) (string, []any, error) {
	args, err := keysetArgs(t, key)
	if err != nil {
		return "", nil, fmt.Errorf("key %w", err)
	}
	return "(" + keysetAfter(t) + ")", args, nil
}

// maxKey reads the table's largest primary key (among the rows matching condition); nil: no rows.
func (inc *incremental) maxKey(ctx context.Context, condition string) (map[string]json.RawMessage, error) {
	t := inc.tbl
	order := quotedKeyColumns(t)
	desc := make([]string, len(order))
	for i := range order {
		desc[i] = order[i] + " DESC"
	}
	q := "SELECT " + strings.Join(order, ", ") + " FROM " + t.name.quoted()
	if condition != "" {
		q += " WHERE (" + condition + ")"
	}
	q += " ORDER BY " + strings.Join(desc, ", ") + " LIMIT 1"
	vals := make([]any, len(t.pk))
	ptrs := make([]any, len(t.pk))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := inc.pool.QueryRowContext(ctx, q).Scan(ptrs...); errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	key := make(map[string]json.RawMessage, len(t.pk))
	for i, c := range t.pk {
		j, err := pkJSON(&t.columns[c], vals[i])
		if err != nil {
			return nil, err
		}
		key[t.columns[c].Name] = j
	}
	return key, nil
}

// fetch selects the next chunk: keys after LastKey, up to MaxKey, matching condition, in key order.
func (inc *incremental) fetch(ctx context.Context, condition string) ([][]any, error) {
	t, st := inc.tbl, inc.state
	upTo, args, err := keyGreater(t, st.MaxKey)
	if err != nil {
		return nil, err
	}
	where := []string{"NOT " + upTo}
	if st.LastKey != nil {
		after, afterArgs, err := keyGreater(t, st.LastKey)
		if err != nil {
			return nil, err
		}
		where = append(where, after)
		args = append(args, afterArgs...)
	}
	if condition != "" {
		where = append(where, "("+condition+")")
	}
	q := selectColumns(t) + " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + strings.Join(quotedKeyColumns(t), ", ") + " LIMIT ?"
	args = append(args, inc.chunk)
	rows, err := inc.pool.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanRows(rows, len(t.columns))
}

// chunkRow converts a selected row as the initial snapshot does.
func (inc *incremental) chunkRow(row []any) (chunkRow, error) {
	t := inc.tbl
	after := mustStruct(t.valueSchema)
	for i := range t.columns {
		v, err := t.columns[i].convert(row[i])
		if err == nil {
			err = after.Put(t.columns[i].Name, v)
		}
		if err != nil {
			return chunkRow{}, fmt.Errorf("mysql source: incremental snapshot %s: %w", t.name, err)
		}
	}
	key, err := t.key(after)
	if err != nil {
		return chunkRow{}, err
	}
	lastKey := make(map[string]json.RawMessage, len(t.pk))
	for _, c := range t.pk {
		j, err := pkJSON(&t.columns[c], row[c])
		if err != nil {
			return chunkRow{}, fmt.Errorf("mysql source: incremental snapshot %s: key column %s: %w", t.name, t.columns[c].Name, err)
		}
		lastKey[t.columns[c].Name] = j
	}
	return chunkRow{key: key, after: after, lastKey: lastKey}, nil
}

// sawRows drops from the chunk between its watermarks every key that streamed records (recs, of table
// name) touch: the stream's change is newer than (or the same as) the chunk's copy of the row.
func (inc *incremental) sawRows(name tableName, recs []stream.Record) {
	if inc == nil || inc.win == nil || !inc.win.open || inc.tbl == nil || inc.tbl.name != name {
		return
	}
	for _, rec := range recs {
		ks, err := keyID(rec.Key)
		if err != nil {
			continue
		}
		if i, ok := inc.win.byKey[ks]; ok {
			inc.win.rows[i].dropped = true
		}
	}
}

// emitChunk appends the rows of the chunk whose window just closed that no streamed change touched, as
// op "r" records with source.snapshot "incremental", and moves on.
func (r *binlogReader) emitChunk(ev *replication.BinlogEvent, idx int, recs []stream.Record) ([]stream.Record, error) {
	inc := r.incr
	w, st := inc.win, inc.state
	inc.win = nil
	ch := change{
		t: inc.tbl, serverID: int64(ev.Header.ServerID), ts: time.Unix(int64(ev.Header.Timestamp), 0), now: time.Now(),
		gtid: r.trxGTID, file: r.trxFile, pos: int64(ev.Header.LogPos) - int64(ev.Header.EventSize),
	}
	base := Position{Phase: PhaseStream, GTID: r.gtid.String(), File: r.trxFile, Pos: r.trxPos, EventsSkip: idx + 1}
	var kept []int
	for i := range w.rows {
		if !w.rows[i].dropped {
			kept = append(kept, i)
		}
	}
	for n, i := range kept {
		cr := w.rows[i]
		rec, err := ch.record(stream.OpRead, cr.key, nil, cr.after)
		if err != nil {
			return nil, err
		}
		if src, ok := rec.Value.(*stream.Struct).Get("source").(*stream.Struct); ok {
			if err := src.Put("snapshot", "incremental"); err != nil {
				return nil, fmt.Errorf("mysql source: %s: source block: %w", inc.tbl.name, err)
			}
		}
		if !r.cfg.NoVersionHeader {
			// The close watermark's version: newer than every change before it, older than every one after.
			if v, err := recordVersion(r.trxGTID, 0, r.file, uint64(ch.pos)); err == nil {
				setVersionHeader(&rec, v)
			}
		}
		st.LastKey = cr.lastKey
		if n == len(kept)-1 {
			st.LastKey = w.lastKey
		}
		p := base
		p.Incremental = inc.position()
		if n == len(kept)-1 && w.last {
			// The table's last row: the position says the table is done.
			next := *st
			next.Tables, next.LastKey, next.MaxKey = st.Tables[1:], nil, nil
			p.Incremental = &next
			if len(next.Tables) == 0 {
				p.Incremental = nil
			}
		}
		if rec.Position, err = json.Marshal(p); err != nil {
			return nil, fmt.Errorf("mysql source: position: %w", err)
		}
		recs = append(recs, rec)
	}
	st.LastKey = w.lastKey
	inc.emitted += int64(len(kept))
	if inc.rowsMetric != nil {
		inc.rowsMetric.WithLabelValues(st.Tables[0]).Add(float64(len(kept)))
	}
	if time.Since(inc.lastProgress) >= incrementalProgressEvery {
		inc.lastProgress = time.Now()
		inc.log.Info("incremental snapshot progress", "snapshot_id", st.ID, "table", st.Tables[0], "rows_emitted", inc.emitted,
			"estimated_rows", inc.estimated, "dropped_in_chunk", len(w.rows)-len(kept))
	}
	if w.last {
		inc.finishTable()
	}
	return recs, nil
}

// keyID identifies a row's key: stream.KeyString of each part, length-prefixed (KeyString joins a
// composite key's parts with "+", which a string part may contain).
func keyID(key any) (string, error) {
	s, ok := key.(*stream.Struct)
	if !ok {
		return stream.KeyString(key)
	}
	var b strings.Builder
	for _, f := range s.Schema().Fields {
		p, err := stream.KeyString(s.Get(f.Name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d:%s", len(p), p)
	}
	return b.String(), nil
}

// newUUID returns a random (version 4) UUID in its text form, 36 characters: a watermark id plus "-close"
// fits Debezium's VARCHAR(42) id column.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
