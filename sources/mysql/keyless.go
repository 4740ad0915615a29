package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/stream"
)

// Tables without a primary key (keyless tables) are captured as Debezium captures them:
//
//   - The message key is the primary key; without one, the first UNIQUE index whose columns are all NOT
//     NULL, in the server's index order (information_schema.STATISTICS lists MariaDB's indexes in its
//     internal order: PRIMARY, then UNIQUE indexes of NOT NULL columns in creation order, which is also
//     SHOW CREATE TABLE's order, where Debezium's DDL parser takes its "no primary key: use the unique key"
//     rule from). MariaDB promotes that same index to the table's primary key, so the binlog's TableMap
//     names it as the primary key too. Without such an index the table is keyless.
//   - A keyless table's records have a null key: Record.Key and Record.KeySchema are nil, which every codec
//     writes as a Kafka null key (as Kafka Connect's JsonConverter does). before/after images are as usual;
//     an update is an "u" event (rows are matched by their full image in the binlog), a delete a "d" event
//     and NEVER followed by a tombstone (a tombstone of a null key would delete nothing).
//   - Kafka's default partitioner, like sarama's that the engine uses, sends a record with a null key to a
//     random partition: on a topic of more than one partition the order of a keyless table's changes is
//     lost across partitions (Debezium has the same caveat). Give such a table's topic one partition when
//     order matters. Sinks that take document ids from keys cannot use the null key: the Elasticsearch
//     sink refuses such a record with an error naming its topic, partition and offset and the ID choices
//     ("{topic}+{partition}+{offset}" or "{field:...}").
//   - The snapshot reads a keyless table with one streaming SELECT without ORDER BY (keyset paging needs a
//     key), inside the snapshot's consistent transaction, in chunks of ChunkSize rows from that one
//     cursor. Its records' positions have no last_pk but "rows", the number of the table's rows copied so
//     far, and "table_done" on its last row. Reopened at such a position, the task restarts the table from
//     its first row (in a new snapshot); rows copied before the restart are sent again: after a crash
//     during a keyless table's snapshot, its rows may repeat, and there is no key to deduplicate them on.
//     Reopened at its last row (table_done), the task goes on with the next table.

// keyColumns returns the indexes (into columns) of the table's message key: its primary key, else the
// first UNIQUE index whose columns are all NOT NULL, in the order information_schema.STATISTICS lists the
// indexes (the server's index order); nil when there is neither (a keyless table).
func keyColumns(ctx context.Context, db queryer, name tableName, columns []columnType) ([]int, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0`, name.DB, name.Table)
	if err != nil {
		return nil, fmt.Errorf("mysql source: keys of %s: %w", name, err)
	}
	defer rows.Close()
	type part struct {
		seq int
		col string
	}
	var order []string // index names, in the order the server lists them
	parts := map[string][]part{}
	for rows.Next() {
		var index, col string
		var seq int
		if err := rows.Scan(&index, &col, &seq); err != nil {
			return nil, fmt.Errorf("mysql source: keys of %s: %w", name, err)
		}
		if _, ok := parts[index]; !ok {
			order = append(order, index)
		}
		parts[index] = append(parts[index], part{seq, col})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql source: keys of %s: %w", name, err)
	}
	if _, ok := parts["PRIMARY"]; ok {
		order = []string{"PRIMARY"}
	}
	for _, index := range order {
		ps := parts[index]
		slices.SortFunc(ps, func(a, b part) int { return a.seq - b.seq })
		var key []int
		for _, p := range ps {
			i := slices.IndexFunc(columns, func(c columnType) bool { return c.Name == p.col })
			if i < 0 || (columns[i].Nullable && index != "PRIMARY") {
				key = nil
				break
			}
			key = append(key, i)
		}
		if key != nil {
			return key, nil
		}
	}
	return nil, nil
}

// keyless reports whether the table's records have a null key.
func (t *table) keyless() bool { return len(t.pk) == 0 }

// recordKey is the Record.Key of a row whose key struct is key: nil (an untyped nil, not a nil
// *stream.Struct) for a keyless table.
func recordKey(key *stream.Struct) any {
	if key == nil {
		return nil
	}
	return key
}

// keylessCursor reads a keyless table in the snapshot: one SELECT without ORDER BY, read ChunkSize rows at
// a time. It runs under a context of its own, so that it outlives each Read; a Read's context ending
// cancels it (the driver then closes the connection, as for any cancelled query).
type keylessCursor struct {
	rows   *sql.Rows
	cancel context.CancelFunc
	// held is the row read ahead to know whether the previous chunk was the table's last.
	held []any
	// copied is how many of the table's rows were returned so far.
	copied int64
	// exhausted is set once the SELECT returned its last row.
	exhausted bool
}

// fetchKeyless returns the next rows of the keyless table r.tbl, at most ChunkSize+1, like fetch: all but
// the last of more than ChunkSize are returned now, and the last one again at the start of the next
// call (so Read knows whether a chunk is the table's last). It opens the cursor on the first call.
func (r *snapshotReader) fetchKeyless(ctx context.Context) ([][]any, error) {
	c := r.keyless
	if c == nil {
		cursorCtx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(ctx, cancel)
		rows, err := r.conn.QueryContext(cursorCtx, selectColumns(r.tbl))
		stop()
		if err != nil {
			cancel()
			return nil, err
		}
		c = &keylessCursor{rows: rows, cancel: cancel}
		r.keyless = c
	}
	stop := context.AfterFunc(ctx, c.cancel) // the Read's end interrupts a read blocked on the server
	defer stop()
	var out [][]any
	if c.held != nil {
		out = append(out, c.held)
		c.held = nil
	}
	for len(out) <= r.cfg.ChunkSize && !c.exhausted {
		if !c.rows.Next() {
			c.exhausted = true
			break
		}
		vals, err := scanRow(c.rows, len(r.tbl.columns))
		if err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	if err := c.rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > r.cfg.ChunkSize {
		c.held = out[len(out)-1]
	}
	return out, nil
}

// close ends the cursor. One not read to its end is cancelled first, so that closing does not read the
// rest of a large table: the driver then closes the connection, and interrupted says so.
func (c *keylessCursor) close() (interrupted bool) {
	if c == nil {
		return false
	}
	c.cancel()
	c.rows.Close()
	return !c.exhausted
}
