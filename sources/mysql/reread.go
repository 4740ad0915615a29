package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/stream"
)

// RowKey is a row's primary key as text, one value per key column in key order: "42", or "acme", "7" for
// a composite key. It is how the pipeline's default document id spells the key (stream.KeyString joins the
// values with "+"). Key columns of integer, DECIMAL and string types are supported.
type RowKey []string

// String is the key as the default document id spells it: the values joined by "+".
func (k RowKey) String() string { return strings.Join(k, "+") }

// RereadCursor is where Rereader.Chunk continues: after the last row of the previous chunk. Its zero value
// starts at the table's first row.
type RereadCursor struct {
	lastPK map[string]json.RawMessage
	// Done is set once a chunk was the table's last one.
	Done bool
}

// Rereader reads one table's current rows again, in primary-key chunks or by key, and builds from them the
// records the source emits for the table: the same key, schemas, topic and Debezium envelope as its
// snapshot rows, converted by the snapshot's type mapping. It is how a table is compared with what a
// pipeline made of it, and how chosen rows are sent through the pipeline again (Debezium's incremental
// snapshot): its read records have op "r" and source.snapshot "incremental".
//
// Every query runs in a transaction of its own started WITH CONSISTENT SNAPSHOT (READ ONLY, REPEATABLE
// READ): no table is locked, nothing is flushed, and the binlog position each record names in
// source.file/pos/gtid is the one that query's snapshot is consistent with. A Rereader is not safe for
// concurrent use; Close releases its connections.
type Rereader struct {
	cfg      Config
	pool     *sql.DB
	t        *table
	serverID int64
}

// NewRereader connects with cfg (its DSN, TopicPrefix, Tombstones and ConnectTimeout count; ServerID,
// Tables and the snapshot mode do not) and reads the metadata of table ("db.table") from
// information_schema: its columns and primary key.
func NewRereader(ctx context.Context, cfg Config, table string) (*Rereader, error) {
	cfg.SnapshotMode = SnapshotInitialOnly // no binlog connection: no server_id needed
	cfg.Tables = []string{table}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, name, ok := strings.Cut(table, ".")
	if !ok || isGlob(table) {
		return nil, fmt.Errorf("mysql reread: table %q is not \"db.table\"", table)
	}
	connector, err := driver.NewConnector(cfg.driverConfig())
	if err != nil {
		return nil, fmt.Errorf("mysql reread: DSN: %w", err)
	}
	r := &Rereader{cfg: cfg, pool: sql.OpenDB(connector)}
	r.pool.SetConnMaxIdleTime(time.Minute)
	if r.t, err = loadTable(ctx, r.pool, tableName{DB: db, Table: name}, cfg.TopicPrefix); err != nil {
		r.pool.Close()
		return nil, err
	}
	if r.t.keyless() { // keyless.go
		r.pool.Close()
		return nil, fmt.Errorf("mysql reread: %s has no primary key and no UNIQUE index of NOT NULL columns: its rows cannot be read again by key", r.t.name)
	}
	for _, c := range r.t.pk {
		switch r.t.columns[c].kind {
		case kindInt16, kindInt32, kindInt64, kindUint64Decimal, kindDecimal, kindString, kindNative, kindYear:
		default:
			r.pool.Close()
			return nil, fmt.Errorf("mysql reread: %s: primary-key column %s is %s: only integer, DECIMAL and string keys are supported",
				r.t.name, r.t.columns[c].Name, r.t.columns[c].ColumnType)
		}
	}
	if err := r.pool.QueryRowContext(ctx, "SELECT @@server_id").Scan(&r.serverID); err != nil {
		r.pool.Close()
		return nil, fmt.Errorf("mysql reread: read server_id: %w", err)
	}
	return r, nil
}

// Topic is the topic the source writes the table's records to: "<TopicPrefix>.<db>.<table>".
func (r *Rereader) Topic() string { return r.t.topic }

// Table is the table's name, "db.table".
func (r *Rereader) Table() string { return r.t.name.String() }

// KeyColumns are the primary-key columns in key order.
func (r *Rereader) KeyColumns() []string {
	out := make([]string, len(r.t.pk))
	for i, c := range r.t.pk {
		out[i] = r.t.columns[c].Name
	}
	return out
}

// EstimatedRows is information_schema's estimate of the table's row count (InnoDB's is approximate).
func (r *Rereader) EstimatedRows(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := r.pool.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		r.t.name.DB, r.t.name.Table).Scan(&n); err != nil {
		return 0, fmt.Errorf("mysql reread: %s: estimate rows: %w", r.t.name, err)
	}
	return n.Int64, nil
}

// Close closes the connections.
func (r *Rereader) Close() error { return r.pool.Close() }

// KeyOf returns the primary key of a record this Rereader built (or the source emitted for the table).
func (r *Rereader) KeyOf(rec stream.Record) (RowKey, error) {
	key, ok := rec.Key.(*stream.Struct)
	if !ok {
		return nil, fmt.Errorf("mysql reread: %s: record key is not the table's key struct", r.t.name)
	}
	out := make(RowKey, len(r.t.pk))
	for i, c := range r.t.pk {
		s, err := stream.KeyString(key.Get(r.t.columns[c].Name))
		if err != nil {
			return nil, fmt.Errorf("mysql reread: %s: key column %s: %w", r.t.name, r.t.columns[c].Name, err)
		}
		out[i] = s
	}
	return out, nil
}

// ParseKey splits a document id made by the default rule (the key values joined by "+") into a RowKey.
// It fails when the id does not have one part per key column (a value that itself contains "+").
func (r *Rereader) ParseKey(id string) (RowKey, error) {
	if len(r.t.pk) == 1 {
		return RowKey{id}, nil
	}
	parts := strings.Split(id, "+")
	if len(parts) != len(r.t.pk) {
		return nil, fmt.Errorf("mysql reread: %s: id %q does not split into the %d key columns %s", r.t.name, id,
			len(r.t.pk), strings.Join(r.KeyColumns(), ", "))
	}
	return RowKey(parts), nil
}

// Chunk reads at most n rows after cur in primary-key order (keyset pagination, as the snapshot) and
// returns their read records and the cursor after them; the cursor's Done is set once the table has no
// more rows.
func (r *Rereader) Chunk(ctx context.Context, cur RereadCursor, n int) ([]stream.Record, RereadCursor, error) {
	if n <= 0 {
		n = r.cfg.ChunkSize
	}
	first, next := chunkQueries(r.t)
	query, args := first, []any(nil)
	if cur.lastPK != nil {
		query = next
		var err error
		if args, err = keysetArgs(r.t, cur.lastPK); err != nil {
			return nil, cur, fmt.Errorf("mysql reread: %s: cursor %w", r.t.name, err)
		}
	}
	args = append(args, n)
	recs, raws, err := r.query(ctx, query, args)
	if err != nil {
		return nil, cur, fmt.Errorf("mysql reread: %s: chunk after %s: %w", r.t.name, mustJSON(cur.lastPK), err)
	}
	next2 := RereadCursor{lastPK: cur.lastPK, Done: len(recs) < n}
	if len(raws) > 0 {
		last := raws[len(raws)-1]
		next2.lastPK = make(map[string]json.RawMessage, len(r.t.pk))
		for _, c := range r.t.pk {
			ct := &r.t.columns[c]
			j, err := pkJSON(ct, last[c])
			if err != nil {
				return nil, cur, fmt.Errorf("mysql reread: %s: key column %s: %w", r.t.name, ct.Name, err)
			}
			next2.lastPK[ct.Name] = j
		}
	}
	return recs, next2, nil
}

// Read reads the current rows with the given keys and returns their read records, in primary-key order.
// Keys without a row (deleted) have no record; compare with KeyOf to find them.
func (r *Rereader) Read(ctx context.Context, keys []RowKey) ([]stream.Record, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	first, _ := chunkQueries(r.t)
	base, tail, _ := strings.Cut(first, " ORDER BY ")
	var conds []string
	var args []any
	for _, k := range keys {
		if len(k) != len(r.t.pk) {
			return nil, fmt.Errorf("mysql reread: %s: key %q has %d values for the %d key columns %s", r.t.name, k.String(),
				len(k), len(r.t.pk), strings.Join(r.KeyColumns(), ", "))
		}
		var ands []string
		for i, c := range r.t.pk {
			ct := &r.t.columns[c]
			v, err := r.keyArg(ct, k[i])
			if err != nil {
				return nil, fmt.Errorf("mysql reread: %s: key %q: %w", r.t.name, k.String(), err)
			}
			ands = append(ands, quoteIdent(ct.Name)+" = "+keysetPlaceholder(ct))
			args = append(args, v)
		}
		conds = append(conds, "("+strings.Join(ands, " AND ")+")")
	}
	query := base + " WHERE " + strings.Join(conds, " OR ") + " ORDER BY " + tail
	args = append(args, len(keys))
	recs, _, err := r.query(ctx, query, args)
	if err != nil {
		return nil, fmt.Errorf("mysql reread: %s: read %d keys: %w", r.t.name, len(keys), err)
	}
	return recs, nil
}

// keyArg turns a key value's text into a query argument of the column's type.
func (r *Rereader) keyArg(ct *columnType, text string) (any, error) {
	switch ct.kind {
	case kindString:
		return pkArg(ct, mustJSON(text))
	default:
		return pkArg(ct, json.RawMessage(text))
	}
}

// query runs one SELECT of the table's columns inside its own consistent snapshot and converts the rows.
func (r *Rereader) query(ctx context.Context, query string, args []any) ([]stream.Record, [][]any, error) {
	conn, err := r.pool.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	// Cancelled mid-query the connection may be broken; its rollback error is then irrelevant.
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck
	snap := &snapshotReader{conn: conn}
	if err := snap.readSnapshotPosition(ctx); err != nil {
		return nil, nil, err
	}
	millis := time.Now().UnixMilli()
	version := r.versionAt(ctx, conn, snap.snap) // version.go: the sluice.version of the rows read
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var recs []stream.Record
	var raws [][]any
	for rows.Next() {
		vals, err := scanRow(rows, len(r.t.columns))
		if err != nil {
			return nil, nil, err
		}
		after := mustStruct(r.t.valueSchema)
		for i := range r.t.columns {
			v, err := r.t.columns[i].convert(vals[i])
			if err == nil {
				err = after.Put(r.t.columns[i].Name, v)
			}
			if err != nil {
				return nil, nil, err
			}
		}
		rec, err := r.event(stream.OpRead, nil, after, snap.snap, millis)
		if err != nil {
			return nil, nil, err
		}
		setVersionAt(&rec, version)
		recs = append(recs, rec)
		raws = append(raws, vals)
	}
	return recs, raws, rows.Err()
}

// event builds the change event of a row: op "r" with after, or "d" with before.
func (r *Rereader) event(op stream.Operation, before, after *stream.Struct, at BinlogPosition, millis int64) (stream.Record, error) {
	row := after
	if row == nil {
		row = before
	}
	key, err := r.t.key(row)
	if err != nil {
		return stream.Record{}, err
	}
	src := mustStruct(sourceSchema)
	var gtid any
	if at.GTID != "" {
		gtid = at.GTID
	}
	snapshot := "incremental"
	if op == stream.OpDelete {
		snapshot = "false"
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"version", Version}, {"connector", "mysql"}, {"name", r.cfg.TopicPrefix}, {"ts_ms", millis},
		{"snapshot", snapshot}, {"db", r.t.name.DB}, {"table", r.t.name.Table}, {"server_id", r.serverID},
		{"gtid", gtid}, {"file", at.File}, {"pos", int64(at.Pos)}, {"row", int32(0)}} {
		if err := src.Put(f.name, f.v); err != nil {
			return stream.Record{}, fmt.Errorf("source block: %w", err)
		}
	}
	env := mustStruct(r.t.envelopeSchema)
	now := time.Now()
	for _, f := range []struct {
		name string
		v    any
	}{{"before", before}, {"after", after}, {"source", src}, {"op", op.String()}, {"ts_ms", now.UnixMilli()}} {
		if f.v == (*stream.Struct)(nil) {
			continue
		}
		if err := env.Put(f.name, f.v); err != nil {
			return stream.Record{}, fmt.Errorf("envelope: %w", err)
		}
	}
	return stream.Record{Topic: r.t.topic, KeySchema: r.t.keySchema, Key: key, ValueSchema: r.t.envelopeSchema,
		Value: env, Timestamp: now, Operation: op}, nil
}

// Deleted returns the records the source emits when the row with key is deleted: a delete event (op "d")
// and, unless Config.Tombstones is false, a tombstone (same key, nil value). The row no longer exists to be
// read, so the event's before image carries the key columns; the other columns are null, or their type's
// zero value where the column is NOT NULL. source.file/pos/gtid are the server's current binlog position.
func (r *Rereader) Deleted(ctx context.Context, key RowKey) ([]stream.Record, error) {
	if len(key) != len(r.t.pk) {
		return nil, fmt.Errorf("mysql reread: %s: key %q has %d values for the %d key columns %s", r.t.name, key.String(),
			len(key), len(r.t.pk), strings.Join(r.KeyColumns(), ", "))
	}
	before := mustStruct(r.t.valueSchema)
	for i := range r.t.columns {
		ct := &r.t.columns[i]
		if !ct.Nullable {
			if err := before.Put(ct.Name, zeroValue(ct)); err != nil {
				return nil, fmt.Errorf("mysql reread: %s: %w", r.t.name, err)
			}
		}
	}
	for i, c := range r.t.pk {
		ct := &r.t.columns[c]
		v, err := ct.convert([]byte(key[i]))
		if err == nil {
			err = before.Put(ct.Name, v)
		}
		if err != nil {
			return nil, fmt.Errorf("mysql reread: %s: key %q: %w", r.t.name, key.String(), err)
		}
	}
	at, err := currentBinlogPosition(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	rec, err := r.event(stream.OpDelete, before, nil, at, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("mysql reread: %s: key %q: %w", r.t.name, key.String(), err)
	}
	out := []stream.Record{rec}
	if r.cfg.tombstones() {
		out = append(out, stream.Record{Topic: rec.Topic, KeySchema: r.t.keySchema, Key: rec.Key, Timestamp: rec.Timestamp, Operation: stream.OpDelete})
	}
	v := r.versionAt(ctx, r.pool, at) // version.go: the delete and its tombstone, at the current position
	for i := range out {
		setVersionAt(&out[i], v)
	}
	return out, nil
}

// zeroValue is the zero value of a column's Go type (see the type mapping).
func zeroValue(ct *columnType) any {
	switch ct.kind {
	case kindInt16:
		return int16(0)
	case kindInt32, kindYear:
		return int32(0)
	case kindInt64, kindTime, kindDatetime:
		return int64(0)
	case kindUint64Decimal:
		return stream.Decimal{Unscaled: new(big.Int), Scale: 0}
	case kindDecimal:
		return stream.Decimal{Unscaled: new(big.Int), Scale: int32(ct.Scale)}
	case kindFloat32:
		return float32(0)
	case kindFloat64:
		return float64(0)
	case kindDate:
		return time.Unix(0, 0).UTC()
	case kindTimestamp:
		return "1970-01-01T00:00:00Z"
	case kindBytes, kindBits:
		return []byte{}
	case kindBool:
		return false
	}
	return ""
}
