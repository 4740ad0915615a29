package mysql

import (
	"strings"
)

// New tables while streaming.
//
// Open resolves Config.Tables and Config.Exclude to the tables that exist (resolveTables). While the task
// streams, the set of captured tables follows the binlog's DDL statements:
//
//   - CREATE TABLE of a table that Tables matches and Exclude does not (not CREATE TEMPORARY TABLE) adds it:
//     its rows are captured from that statement on, with the schema of each rows event's TableMap (schema.go).
//     No snapshot is needed: a table created in the binlog has all its rows in the binlog after its creation,
//     those of CREATE TABLE ... SELECT included (they follow the statement in the same transaction).
//   - RENAME TABLE a TO b (and ALTER TABLE a RENAME TO b) captures b when it matches, and stops capturing a.
//   - DROP TABLE and DROP DATABASE stop capturing the tables they drop (no error).
//   - A rows event of a table that is not captured but matches (its CREATE was not seen, or was not
//     recognised) adds it too.
//
// Each table added is logged once at Info ("mysql source: captured new table", table, topic). A table
// whose rows existed before it was captured (a RENAME of a table that was not captured, or a table first
// seen through its rows) is logged at Warn: its earlier rows were not captured, and an incremental
// snapshot of it (Debezium's answer for tables added to the include list) is the way to copy them; the
// tables are listed by binlogReader.tablesWithoutSnapshot.
//
// After a restart the table exists, so resolveTables includes it; its rows are not snapshotted when the
// task's position is a stream position (or a finished snapshot's), and it streams from the saved position:
// a table created while the task was down is created after that position, so its CREATE and all its rows
// are in the binlog the task reads. A table that existed before the saved position and is captured after
// a restart only because Config.Tables or Exclude changed is streamed from the saved position on; its
// earlier rows are not copied: take an incremental snapshot of it.

// tableDiscovery is the reader's state of tables that start or stop being captured while it streams.
type tableDiscovery struct {
	// notCaptured caches the tables whose rows events were seen and that Tables/Exclude do not select.
	notCaptured map[tableName]bool
	// unsnapshotted are the tables captured while streaming whose earlier rows were not captured.
	unsnapshotted []tableName
}

// selects reports whether Config.Tables matches the table and Config.Exclude does not.
func (cfg *Config) selects(n tableName) bool {
	matched := false
	for _, p := range cfg.Tables {
		matched = matched || matchTable(p, n.DB, n.Table)
	}
	if !matched {
		return false
	}
	for _, x := range cfg.Exclude {
		if matchTable(x, n.DB, n.Table) {
			return false
		}
	}
	return true
}

// captured reports whether the rows of the table are captured; a table that is not, but that
// Config.Tables selects, is captured from now on (its earlier rows were not seen).
func (r *binlogReader) captured(n tableName) bool {
	if r.include[n] {
		return true
	}
	d := &r.discovery
	if d.notCaptured[n] {
		return false
	}
	if !r.cfg.selects(n) {
		if d.notCaptured == nil {
			d.notCaptured = map[tableName]bool{}
		}
		d.notCaptured[n] = true
		return false
	}
	r.capture(n, "rows of a table not seen before")
	return true
}

// capture adds the table to the captured set, logging it; how says why its earlier rows were not
// captured, "" when it has none (created in the binlog).
func (r *binlogReader) capture(n tableName, how string) {
	r.include[n] = true
	r.databases[n.DB] = true
	delete(r.discovery.notCaptured, n)
	delete(r.schemas.current, n) // a definition read before (of a dropped namesake) is stale
	topic := schemaPrefix(r.cfg.TopicPrefix, n)
	if how == "" {
		r.log.Info("mysql source: captured new table", "table", n.String(), "topic", topic)
		return
	}
	r.discovery.unsnapshotted = append(r.discovery.unsnapshotted, n)
	r.log.Warn("mysql source: captured new table; its rows from before were not captured: take an incremental snapshot of it to copy them",
		"table", n.String(), "topic", topic, "seen_as", how)
}

// release removes the table from the captured set.
func (r *binlogReader) release(n tableName, why string) {
	if !r.include[n] {
		return
	}
	delete(r.include, n)
	delete(r.schemas.current, n)
	r.log.Info("mysql source: table no longer captured", "table", n.String(), "because", why)
}

// tablesWithoutSnapshot returns the tables captured while streaming whose rows from before they were
// captured were not read (see capture): candidates for an incremental snapshot.
func (r *binlogReader) tablesWithoutSnapshot() []tableName {
	return append([]tableName(nil), r.discovery.unsnapshotted...)
}

// apply updates the captured set with a DDL statement of the binlog: st as parseDDL read it from query,
// whose current database is defaultDB.
func (d *tableDiscovery) apply(r *binlogReader, st ddlStatement, query, defaultDB string) {
	switch {
	case st.object == "TABLE" && st.verb == "CREATE":
		if len(st.changes) == 0 || isTemporary(query) {
			return
		}
		n := st.changes[0].table
		if r.include[n] {
			delete(r.schemas.current, n) // re-created: read its definition again
			return
		}
		if r.cfg.selects(n) {
			r.capture(n, "")
		}
	case st.object == "TABLE" && st.verb == "DROP":
		if isTemporary(query) {
			return
		}
		for _, c := range st.changes {
			r.release(c.table, "DROP TABLE")
		}
	case (st.object == "DATABASE" || st.object == "SCHEMA") && st.verb == "DROP":
		for n := range r.include {
			if n.DB == st.database {
				r.release(n, "DROP DATABASE")
			}
		}
	case st.object == "TABLE" && (st.verb == "RENAME" || st.verb == "ALTER"):
		for _, rn := range renames(query, defaultDB) {
			was := r.include[rn.from]
			r.release(rn.from, "renamed to "+rn.to.String())
			switch {
			case r.include[rn.to]:
			case !r.cfg.selects(rn.to):
			case was:
				r.capture(rn.to, "") // its rows were captured under the old name
			default:
				r.capture(rn.to, "RENAME of "+rn.from.String()+", which was not captured")
			}
		}
	}
}

// rename is one "a TO b" of a RENAME TABLE statement, or ALTER TABLE a RENAME [TO|AS] b.
type rename struct{ from, to tableName }

// renames reads the renames of RENAME TABLE a TO b[, c TO d ...] and ALTER TABLE a ... RENAME [TO|AS] b.
func renames(query, defaultDB string) []rename {
	toks := sqlTokens(query, 256)
	if len(toks) < 2 || toks[0].quoted {
		return nil
	}
	word := func(i int, w string) bool {
		return i < len(toks) && !toks[i].quoted && strings.EqualFold(toks[i].text, w)
	}
	var out []rename
	switch {
	case word(0, "RENAME"):
		i := 1
		if word(i, "TABLE") || word(i, "TABLES") {
			i++
		}
		for i < len(toks) {
			from, n := qualifiedName(toks[i:], defaultDB)
			if n == 0 || !word(i+n, "TO") {
				return out
			}
			i += n + 1
			to, m := qualifiedName(toks[i:], defaultDB)
			if m == 0 {
				return out
			}
			out = append(out, rename{from, to})
			i += m
			if i >= len(toks) || toks[i].text != "," {
				return out
			}
			i++
		}
	case word(0, "ALTER"):
		i := 1
		for i < len(toks) && !word(i, "TABLE") {
			i++ // ALTER ONLINE IGNORE TABLE ...
		}
		from, n := qualifiedName(toks[min(i+1, len(toks)):], defaultDB)
		if n == 0 {
			return nil
		}
		for j := i + 1 + n; j < len(toks); j++ {
			if !word(j, "RENAME") || word(j+1, "COLUMN") || word(j+1, "INDEX") || word(j+1, "KEY") {
				continue
			}
			k := j + 1
			if word(k, "TO") || word(k, "AS") {
				k++
			}
			if to, m := qualifiedName(toks[k:], defaultDB); m > 0 {
				out = append(out, rename{from, to})
			}
			break
		}
	}
	return out
}

// isTemporary reports whether a CREATE or DROP statement is of a TEMPORARY table (not captured): the word
// stands between the verb and TABLE.
func isTemporary(query string) bool {
	toks := sqlTokens(query, 6)
	for _, t := range toks[min(1, len(toks)):] {
		switch {
		case t.quoted:
			return false
		case strings.EqualFold(t.text, "TEMPORARY"):
			return true
		case strings.EqualFold(t.text, "TABLE"):
			return false
		}
	}
	return false
}
