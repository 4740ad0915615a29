package mysql

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/stream"
)

// Schemas of the schema-change records, as Debezium's MySQL connector names them.
var (
	schemaChangeKeySchema = stream.NewStruct("io.debezium.connector.mysql.SchemaChangeKey").
				Field("databaseName", stream.StringSchema()).
				MustBuild()
	tableChangeSchema = stream.NewStruct("io.debezium.connector.schema.Change").
				Field("type", stream.StringSchema()).
				Field("id", stream.StringSchema()).
				MustBuild()
	schemaChangeValueSchema = stream.NewStruct("io.debezium.connector.mysql.SchemaChangeValue").
				Field("source", sourceSchema).
				Field("ts_ms", stream.Int64Schema()).
				Field("databaseName", stream.StringSchema().AsOptional()).
				Field("schemaName", stream.StringSchema().AsOptional()).
				Field("ddl", stream.StringSchema().AsOptional()).
				Field("tableChanges", stream.ArrayOf(tableChangeSchema)).
				MustBuild()
)

// ddlStatement is what the source reads from a DDL statement of the binlog.
type ddlStatement struct {
	verb     string // CREATE, ALTER, DROP, RENAME or TRUNCATE
	object   string // TABLE, INDEX, DATABASE, VIEW, ...
	database string // the database it applies to
	changes  []tableChange
}

// tableChange is an entry of tableChanges: Debezium's type (CREATE, ALTER, DROP) and id ("db"."table").
type tableChange struct {
	typ   string
	table tableName
}

// ddlObjects are the objects whose DDL statements are published.
var ddlObjects = map[string]bool{"TABLE": true, "INDEX": true, "DATABASE": true, "SCHEMA": true, "VIEW": true,
	"TRIGGER": true, "PROCEDURE": true, "FUNCTION": true, "EVENT": true, "SEQUENCE": true}

// ddlModifiers are the words that may stand between the verb and the object.
var ddlModifiers = map[string]bool{"OR": true, "REPLACE": true, "TEMPORARY": true, "ONLINE": true, "OFFLINE": true,
	"IGNORE": true, "UNIQUE": true, "FULLTEXT": true, "SPATIAL": true, "DEFINER": true, "ALGORITHM": true, "SQL": true,
	"SECURITY": true, "AGGREGATE": true, "DEFINITION": true}

// parseDDL recognises a DDL statement (CREATE, ALTER, DROP, RENAME or TRUNCATE of a table, index, database,
// view, trigger, routine, event or sequence) and the database and tables it changes; defaultDB is the
// statement's current database (the Query event's schema). ok is false for anything else.
func parseDDL(query, defaultDB string) (st ddlStatement, ok bool) {
	toks := sqlTokens(query, 64)
	if len(toks) == 0 {
		return st, false
	}
	st.verb = strings.ToUpper(toks[0].text)
	switch st.verb {
	case "CREATE", "ALTER", "DROP", "RENAME":
	case "TRUNCATE":
		if len(toks) > 1 && strings.EqualFold(toks[1].text, "TABLE") && !toks[1].quoted {
			toks = toks[1:]
		}
		st.object = "TABLE"
		name, _ := qualifiedName(toks[1:], defaultDB)
		st.database = name.DB
		return st, name.Table != ""
	default:
		return st, false
	}
	i := 1
	for i < len(toks) && !toks[i].quoted && ddlModifiers[strings.ToUpper(toks[i].text)] {
		i++
		if i < len(toks) && toks[i].text == "=" { // DEFINER = `u`@`h`, ALGORITHM = MERGE: skip the value
			i++
			for i < len(toks) && (toks[i].quoted || !ddlModifiers[strings.ToUpper(toks[i].text)] && !ddlObjects[strings.ToUpper(toks[i].text)]) {
				i++
			}
		}
	}
	if i >= len(toks) || toks[i].quoted || !ddlObjects[strings.ToUpper(toks[i].text)] {
		return st, false
	}
	st.object = strings.ToUpper(toks[i].text)
	rest := skipIfExists(toks[i+1:])
	switch st.object {
	case "DATABASE", "SCHEMA":
		if len(rest) == 0 {
			return st, false
		}
		st.database = rest[0].text
	case "INDEX":
		// CREATE INDEX i ON t (...), DROP INDEX i ON t: an ALTER of t.
		for j := range rest {
			if strings.EqualFold(rest[j].text, "ON") && !rest[j].quoted {
				name, _ := qualifiedName(rest[j+1:], defaultDB)
				st.database = name.DB
				st.changes = []tableChange{{"ALTER", name}}
				break
			}
		}
	case "TABLE":
		st.changes = tableChanges(st.verb, rest, defaultDB)
		if len(st.changes) > 0 {
			st.database = st.changes[0].table.DB
		}
	default:
		name, _ := qualifiedName(rest, defaultDB)
		st.database = name.DB
	}
	return st, st.database != ""
}

// tableChanges lists the tables of CREATE/ALTER TABLE t, DROP TABLE t1, t2 and RENAME TABLE a TO b, c TO d
// (a rename is an ALTER of the new name).
func tableChanges(verb string, toks []sqlToken, defaultDB string) []tableChange {
	var out []tableChange
	for len(toks) > 0 {
		name, n := qualifiedName(toks, defaultDB)
		if name.Table == "" {
			break
		}
		toks = toks[n:]
		switch verb {
		case "CREATE", "ALTER":
			return []tableChange{{verb, name}}
		case "RENAME":
			if len(toks) == 0 || !strings.EqualFold(toks[0].text, "TO") {
				return out
			}
			to, n := qualifiedName(toks[1:], defaultDB)
			out = append(out, tableChange{"ALTER", to})
			toks = toks[1+n:]
		default: // DROP
			out = append(out, tableChange{"DROP", name})
		}
		if len(toks) == 0 || toks[0].text != "," {
			break
		}
		toks = toks[1:]
	}
	return out
}

func skipIfExists(toks []sqlToken) []sqlToken {
	for _, w := range [][]string{{"IF", "NOT", "EXISTS"}, {"IF", "EXISTS"}} {
		if len(toks) >= len(w) {
			match := true
			for i := range w {
				match = match && !toks[i].quoted && strings.EqualFold(toks[i].text, w[i])
			}
			if match {
				return toks[len(w):]
			}
		}
	}
	return toks
}

// qualifiedName reads "db.t" or "t" (in defaultDB) and returns it and the tokens read.
func qualifiedName(toks []sqlToken, defaultDB string) (tableName, int) {
	if len(toks) == 0 || (!toks[0].quoted && !isWord(toks[0].text)) {
		return tableName{}, 0
	}
	if len(toks) >= 3 && toks[1].text == "." && !toks[1].quoted {
		return tableName{DB: toks[0].text, Table: toks[2].text}, 3
	}
	return tableName{DB: defaultDB, Table: toks[0].text}, 1
}

func isWord(s string) bool {
	return s != "" && strings.IndexAny(s[:1], "(),;.=") < 0
}

// sqlToken is a word, a `quoted` identifier (unquoted text) or one punctuation character.
type sqlToken struct {
	text   string
	quoted bool
}

// sqlTokens splits the start of a statement into at most max tokens, skipping comments; it stops at a
// string literal.
func sqlTokens(q string, max int) []sqlToken {
	var out []sqlToken
	for i := 0; i < len(q) && len(out) < max; {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case strings.HasPrefix(q[i:], "--") || c == '#':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				return out
			}
			i += end + 1
		case c == '`':
			var b strings.Builder
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == '`' {
					if j+1 < len(q) && q[j+1] == '`' {
						b.WriteByte('`')
						j++
						continue
					}
					break
				}
				b.WriteByte(q[j])
			}
			out = append(out, sqlToken{text: b.String(), quoted: true})
			i = j + 1
		case c == '\'' || c == '"':
			return out
		case strings.IndexByte("(),;.=", c) >= 0:
			out = append(out, sqlToken{text: string(c)})
			i++
		default:
			j := i
			for j < len(q) && strings.IndexByte(" \t\n\r`'\"(),;.=", q[j]) < 0 {
				j++
			}
			out = append(out, sqlToken{text: q[i:j]})
			i = j
		}
	}
	return out
}

// ddlTrxState is what the Query events of the current transaction said: reset at each transaction's end.
type ddlTrxState struct {
	mariadb  bool // the transaction began with MariaDB's GTID event (whose standalone flag is authoritative)
	sawBegin bool // a BEGIN Query event opened it
}

// query handles a Query event: COMMIT and ROLLBACK end the transaction, BEGIN opens it, XA and savepoint
// statements are transaction control, and any other statement is a statement of its own. A DDL statement
// on a captured database is published as a schema-change record at its place (schemaChange), wherever it
// is:
//
//   - a statement that is a transaction of its own (MariaDB's GTID event has the standalone flag; MySQL's
//     DDL is a GTID event and the Query event, without BEGIN): the transaction ends with it, and the
//     record's position is after it, so a task reopened there resumes with the next transaction;
//   - a statement inside a transaction (MariaDB's CREATE TABLE ... SELECT: GTID, Query(CREATE TABLE), rows,
//     XID; MySQL 8's: GTID, BEGIN, Query(CREATE TABLE), rows, XID): the statement counts as one of the
//     transaction's events, like a rows event (Position.EventsSkip), and the record's position is the
//     transaction's start with the events up to and including it skipped, so that a task reopened there
//     neither loses nor repeats the record nor the rows around it.
//
// Either way the statement's effect on the set of captured tables (CREATE, RENAME, DROP: newtables.go)
// applies first, also when a resumed position skips its record, so that the rows that follow it in the
// same transaction (CREATE TABLE ... SELECT) are captured.
func (r *binlogReader) query(ev *replication.BinlogEvent, e *replication.QueryEvent, recs []stream.Record) ([]stream.Record, error) {
	text := string(e.Query)
	switch transactionControl(text) {
	case "COMMIT", "ROLLBACK":
		return recs, r.commit()
	case "BEGIN":
		r.ddlTrx.sawBegin = true
		return recs, nil
	case "OTHER":
		return recs, nil
	}
	st, isDDL := parseDDL(text, string(e.Schema))
	if isDDL {
		r.discovery.apply(r, st, text, string(e.Schema))
		r.incr.schemaChanged(text) // an incremental snapshot reloads the table and reads its chunk again
	}
	if r.standalone || (!r.ddlTrx.mariadb && !r.ddlTrx.sawBegin) {
		// A statement that is a transaction of its own: published after it is part of the position.
		gtid := r.trxGTID
		if err := r.commit(); err != nil {
			return nil, err
		}
		if !isDDL {
			return recs, nil
		}
		// Resume after the DDL: the GTID position includes it, and File/Pos is the end of its Query event.
		after := Position{Phase: PhaseStream, GTID: r.gtid.String(), File: r.file, Pos: uint64(ev.Header.LogPos),
			Incremental: r.incr.position()}
		return r.appendSchemaChange(ev, e, st, gtid, after, recs)
	}
	if !isDDL {
		return recs, nil
	}
	idx := r.rowsEvents
	r.rowsEvents++
	if r.skip != nil && idx < r.skip.EventsSkip {
		return recs, nil // published before the task was reopened
	}
	// Resume after this statement, inside its transaction: from the transaction's start, skipping it.
	after := Position{Phase: PhaseStream, GTID: r.gtid.String(), File: r.trxFile, Pos: r.trxPos, EventsSkip: idx + 1,
		Incremental: r.incr.position()}
	return r.appendSchemaChange(ev, e, st, r.trxGTID, after, recs)
}

// transactionControl classifies a Query event's statement: "BEGIN" (BEGIN, START TRANSACTION, XA START),
// "COMMIT" or "ROLLBACK" (of the whole transaction; XA COMMIT and XA ROLLBACK, which MySQL logs as a
// transaction of their own, too), "OTHER" for the other transaction-control statements (SAVEPOINT,
// ROLLBACK TO, RELEASE SAVEPOINT, XA END), "" for any other statement.
func transactionControl(query string) string {
	toks := sqlTokens(query, 3)
	if len(toks) == 0 || toks[0].quoted {
		return ""
	}
	first := strings.ToUpper(toks[0].text)
	switch first {
	case "BEGIN", "COMMIT":
		return first
	case "START":
		if len(toks) > 1 && strings.EqualFold(toks[1].text, "TRANSACTION") {
			return "BEGIN"
		}
	case "ROLLBACK":
		if len(toks) > 1 && strings.EqualFold(toks[1].text, "TO") {
			return "OTHER"
		}
		return "ROLLBACK"
	case "XA":
		if len(toks) > 1 {
			switch second := strings.ToUpper(toks[1].text); second {
			case "START", "BEGIN":
				return "BEGIN"
			case "COMMIT", "ROLLBACK":
				return second
			}
		}
		return "OTHER"
	case "SAVEPOINT", "RELEASE":
		return "OTHER"
	}
	return ""
}

// appendSchemaChange appends the schema-change record of st (see schemaChange), if it is published.
func (r *binlogReader) appendSchemaChange(ev *replication.BinlogEvent, e *replication.QueryEvent, st ddlStatement, gtid string, after Position, recs []stream.Record) ([]stream.Record, error) {
	rec, ok, err := r.schemaChange(ev, e, st, gtid, after)
	if err != nil {
		return nil, err
	}
	if ok {
		recs = append(recs, rec)
	}
	return recs, nil
}

// schemaChange returns the schema-change record of the DDL statement st (a Query event) on a captured
// database, in Debezium's shape, on topic TopicPrefix, keyed by the database name. gtid is the GTID of the
// statement's transaction; after is the record's position, where a reopened task resumes.
func (r *binlogReader) schemaChange(ev *replication.BinlogEvent, e *replication.QueryEvent, st ddlStatement, gtid string, after Position) (stream.Record, bool, error) {
	if !r.cfg.schemaChanges() || !r.databases[st.database] {
		return stream.Record{}, false, nil
	}
	ts := time.Unix(int64(ev.Header.Timestamp), 0)
	src := mustStruct(sourceSchema)
	var gtidValue, table any
	if gtid != "" {
		gtidValue = gtid
	}
	if len(st.changes) > 0 {
		table = st.changes[0].table.Table
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"version", Version}, {"connector", "mysql"}, {"name", r.cfg.TopicPrefix}, {"ts_ms", ts.UnixMilli()},
		{"snapshot", "false"}, {"db", st.database}, {"table", table}, {"server_id", int64(ev.Header.ServerID)},
		{"gtid", gtidValue}, {"file", r.file}, {"pos", int64(ev.Header.LogPos) - int64(ev.Header.EventSize)}, {"row", int32(0)}} {
		if err := src.Put(f.name, f.v); err != nil {
			return stream.Record{}, false, fmt.Errorf("mysql source: schema change: source block: %w", err)
		}
	}
	changes := make([]any, 0, len(st.changes))
	for _, c := range st.changes {
		ch := mustStruct(tableChangeSchema)
		if err := ch.Put("type", c.typ); err != nil {
			return stream.Record{}, false, err
		}
		if err := ch.Put("id", fmt.Sprintf("%q.%q", c.table.DB, c.table.Table)); err != nil {
			return stream.Record{}, false, err
		}
		changes = append(changes, ch)
	}
	value := mustStruct(schemaChangeValueSchema)
	for _, f := range []struct {
		name string
		v    any
	}{{"source", src}, {"ts_ms", time.Now().UnixMilli()}, {"databaseName", st.database}, {"ddl", string(e.Query)},
		{"tableChanges", changes}} {
		if err := value.Put(f.name, f.v); err != nil {
			return stream.Record{}, false, fmt.Errorf("mysql source: schema change: %w", err)
		}
	}
	key := mustStruct(schemaChangeKeySchema)
	if err := key.Put("databaseName", st.database); err != nil {
		return stream.Record{}, false, err
	}
	pos, err := json.Marshal(after)
	if err != nil {
		return stream.Record{}, false, fmt.Errorf("mysql source: position: %w", err)
	}
	return stream.Record{
		Topic:       r.cfg.TopicPrefix,
		KeySchema:   schemaChangeKeySchema,
		Key:         key,
		ValueSchema: schemaChangeValueSchema,
		Value:       value,
		Timestamp:   ts,
		Operation:   stream.OpNone,
		Position:    pos,
	}, true, nil
}
