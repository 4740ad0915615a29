package postgres

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// tableName is a captured table.
type tableName struct{ Schema, Table string }

func (t tableName) String() string { return t.Schema + "." + t.Table }

// quoted returns "schema"."table".
func (t tableName) quoted() string { return quoteIdent(t.Schema) + "." + quoteIdent(t.Table) }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func parseTableName(s string) tableName {
	schema, table, _ := strings.Cut(s, ".")
	return tableName{Schema: schema, Table: table}
}

// table is a table's columns, primary key and schemas, as of one relation message (or the snapshot's
// catalog read).
type table struct {
	name    tableName
	columns []column
	pk      []int // indexes into columns, in key order

	keySchema, valueSchema, envelopeSchema *stream.Schema
	topic                                  string
}

// newTable builds the table's schemas; pkNames are its primary-key columns in key order.
func newTable(prefix string, name tableName, cols []column, pkNames []string) (*table, error) {
	t := &table{name: name, topic: topicName(prefix, name)}
	for _, c := range cols {
		t.columns = append(t.columns, mapColumn(c))
	}
	for _, n := range pkNames {
		i := t.index(n)
		if i < 0 {
			return nil, fmt.Errorf("postgres source: table %s: primary-key column %s is not among the published columns", name, n)
		}
		t.pk = append(t.pk, i)
	}
	if len(t.pk) == 0 {
		return nil, fmt.Errorf("postgres source: table %s has no primary key; tables without one are not supported (add a PRIMARY KEY or leave it out of Tables)", name)
	}
	key := stream.NewStruct(t.topic + ".Key")
	for _, i := range t.pk {
		key.Field(t.columns[i].Name, t.columns[i].schema.AsRequired())
	}
	value := stream.NewStruct(t.topic + ".Value").Optional()
	for i := range t.columns {
		value.Field(t.columns[i].Name, t.columns[i].schema)
	}
	var err error
	if t.keySchema, err = key.Build(); err != nil {
		return nil, fmt.Errorf("postgres source: key schema of %s: %w", name, err)
	}
	if t.valueSchema, err = value.Build(); err != nil {
		return nil, fmt.Errorf("postgres source: value schema of %s: %w", name, err)
	}
	t.envelopeSchema, err = stream.NewStruct(t.topic+".Envelope").Version(1).
		Field("before", t.valueSchema).
		Field("after", t.valueSchema).
		Field("source", sourceSchema).
		Field("op", stream.StringSchema()).
		Field("ts_ms", stream.Int64Schema().AsOptional()).
		Build()
	if err != nil {
		return nil, fmt.Errorf("postgres source: envelope schema of %s: %w", name, err)
	}
	return t, nil
}

func (t *table) index(name string) int {
	for i := range t.columns {
		if t.columns[i].Name == name {
			return i
		}
	}
	return -1
}

// sameShape reports whether t and o have the same columns (names, types, modifiers) and key.
func (t *table) sameShape(o *table) bool {
	if o == nil || len(t.columns) != len(o.columns) || len(t.pk) != len(o.pk) {
		return false
	}
	for i := range t.columns {
		a, b := t.columns[i], o.columns[i]
		if a.Name != b.Name || a.TypeOID != b.TypeOID || a.TypMod != b.TypMod {
			return false
		}
	}
	for i := range t.pk {
		if t.pk[i] != o.pk[i] {
			return false
		}
	}
	return true
}

// topicName is "<prefix>.<schema>.<table>" with characters Kafka does not allow replaced by '_'.
func topicName(prefix string, name tableName) string {
	return sanitizeTopic(prefix + "." + name.Schema + "." + name.Table)
}

// cell is one column's value in a row image: its text, null, or unchanged-TOAST (not sent).
type cell struct {
	text        string
	null, toast bool
	present     bool // false: the image does not carry this column (a key-only before-image)
}

// image converts row cells (one per column; nil: no image) into the table's value struct.
func (t *table) image(cells []cell) (*stream.Struct, error) {
	if cells == nil {
		return nil, nil
	}
	if len(cells) != len(t.columns) {
		return nil, fmt.Errorf("postgres source: %s: a row of %d columns, the relation has %d", t.name, len(cells), len(t.columns))
	}
	v, err := stream.NewStructValue(t.valueSchema)
	if err != nil {
		return nil, err
	}
	for i, cl := range cells {
		c := &t.columns[i]
		var val any
		switch {
		case !cl.present || cl.null:
		case cl.toast:
			val = c.unavailable()
		default:
			if val, err = c.convert(cl.text); err != nil {
				return nil, fmt.Errorf("postgres source: %s: %w", t.name, err)
			}
		}
		if err := v.Put(c.Name, val); err != nil {
			return nil, fmt.Errorf("postgres source: %s: column %s: %w", t.name, c.Name, err)
		}
	}
	return v, nil
}

// key returns the primary-key struct of a row image.
func (t *table) key(row *stream.Struct) (*stream.Struct, error) {
	key, err := stream.NewStructValue(t.keySchema)
	if err != nil {
		return nil, err
	}
	for _, i := range t.pk {
		name := t.columns[i].Name
		v := row.Get(name)
		if v == nil {
			return nil, fmt.Errorf("postgres source: %s: the row has no value for primary-key column %s", t.name, name)
		}
		if err := key.Put(name, v); err != nil {
			return nil, fmt.Errorf("postgres source: %s: key: %w", t.name, err)
		}
	}
	return key, nil
}

// sourceInfo is what an envelope's source block says about a change.
type sourceInfo struct {
	prefix, db string
	ts         time.Time // commit time (stream) or snapshot start
	snapshot   string    // "true", "last", "false"
	txID       int64     // 0: none
	lsn        int64     // 0: none
	lastCommit int64     // the LSN of the last transaction completed before this change's (sequence)
}

// sourceSchema is the schema of an envelope's source block, Debezium's io.debezium.connector.postgresql.Source.
var sourceSchema = stream.NewStruct("io.debezium.connector.postgresql.Source").
	Field("version", stream.StringSchema()).
	Field("connector", stream.StringSchema()).
	Field("name", stream.StringSchema()).
	Field("ts_ms", stream.Int64Schema()).
	Field("snapshot", stream.StringSchema().WithName("io.debezium.data.Enum").
		WithParameter("allowed", "true,last,false,incremental").WithDefault("false").AsOptional()).
	Field("db", stream.StringSchema()).
	Field("sequence", stream.StringSchema().AsOptional()).
	Field("schema", stream.StringSchema()).
	Field("table", stream.StringSchema()).
	Field("txId", stream.Int64Schema().AsOptional()).
	Field("lsn", stream.Int64Schema().AsOptional()).
	Field("xmin", stream.Int64Schema().AsOptional()).
	MustBuild()

// Version is the source's version, written in each record's source.version.
const Version = "0.1.0-sluice"

// record builds the change event op of a row of t.
func (t *table) record(op stream.Operation, key, before, after *stream.Struct, si sourceInfo, now time.Time) (stream.Record, error) {
	src, err := stream.NewStructValue(sourceSchema)
	if err != nil {
		return stream.Record{}, err
	}
	var txID, lsn, seq any
	if si.txID != 0 {
		txID = si.txID
	}
	if si.lsn != 0 {
		lsn = si.lsn
		seq = fmt.Sprintf(`["%d","%d"]`, si.lastCommit, si.lsn)
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"version", Version}, {"connector", "postgresql"}, {"name", si.prefix}, {"ts_ms", si.ts.UnixMilli()},
		{"snapshot", si.snapshot}, {"db", si.db}, {"sequence", seq}, {"schema", t.name.Schema}, {"table", t.name.Table},
		{"txId", txID}, {"lsn", lsn}} {
		if err := src.Put(f.name, f.v); err != nil {
			return stream.Record{}, fmt.Errorf("postgres source: %s: source block: %w", t.name, err)
		}
	}
	env, err := stream.NewStructValue(t.envelopeSchema)
	if err != nil {
		return stream.Record{}, err
	}
	var b, a any
	if before != nil {
		b = before
	}
	if after != nil {
		a = after
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"before", b}, {"after", a}, {"source", src}, {"op", op.String()}, {"ts_ms", now.UnixMilli()}} {
		if err := env.Put(f.name, f.v); err != nil {
			return stream.Record{}, fmt.Errorf("postgres source: %s: envelope: %w", t.name, err)
		}
	}
	ts := si.ts
	return stream.Record{Topic: t.topic, KeySchema: t.keySchema, Key: key, ValueSchema: t.envelopeSchema, Value: env,
		Timestamp: ts, Operation: op}, nil
}

// changeRecords returns the records of one row change: c for an insert; u for an update; d (and a
// tombstone) for a delete; d, tombstone and c for an update that changes the primary key, as Debezium does.
// msg is the kind of change PostgreSQL reported (OpRead for a snapshot row); before may be nil for an update
// (REPLICA IDENTITY DEFAULT without a key change).
func (t *table) changeRecords(msg stream.Operation, before, after *stream.Struct, si sourceInfo, now time.Time, tombstones bool) ([]stream.Record, error) {
	var beforeKey, afterKey *stream.Struct
	var err error
	if before != nil {
		if beforeKey, err = t.key(before); err != nil {
			return nil, err
		}
	}
	if after != nil {
		if afterKey, err = t.key(after); err != nil {
			return nil, err
		}
	}
	var out []stream.Record
	add := func(op stream.Operation, key, b, a *stream.Struct) error {
		rec, err := t.record(op, key, b, a, si, now)
		if err != nil {
			return err
		}
		out = append(out, rec)
		if op == stream.OpDelete && tombstones {
			out = append(out, stream.Record{Topic: t.topic, KeySchema: t.keySchema, Key: key, Timestamp: si.ts, Operation: stream.OpDelete})
		}
		return nil
	}
	switch {
	case msg == stream.OpDelete:
		err = add(stream.OpDelete, beforeKey, before, nil)
	case msg == stream.OpRead || msg == stream.OpCreate:
		err = add(msg, afterKey, nil, after)
	case before == nil:
		err = add(stream.OpUpdate, afterKey, nil, after)
	case sameKey(beforeKey, afterKey):
		err = add(stream.OpUpdate, afterKey, before, after)
	default:
		if err = add(stream.OpDelete, beforeKey, before, nil); err == nil {
			err = add(stream.OpCreate, afterKey, nil, after)
		}
	}
	return out, err
}

func sameKey(a, b *stream.Struct) bool {
	ka, err1 := stream.KeyString(a)
	kb, err2 := stream.KeyString(b)
	return err1 == nil && err2 == nil && ka == kb
}
