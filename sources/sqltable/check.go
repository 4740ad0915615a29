package sqltable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Errors of the start-up checks, wrapped with the name of the table and column at fault.
var (
	// ErrUnknownTable: an entry of Tables names no table.
	ErrUnknownTable = errors.New("table not found")
	// ErrUnknownColumn: a column named by the configuration (IncrementingColumn, TimestampColumn,
	// KeyColumns), or the AUTO_INCREMENT/identity column incrementing needs, is missing.
	ErrUnknownColumn = errors.New("column not found")
	// ErrNullableColumn: the mode's column is nullable and Config.AllowNullable is false (Connect's
	// validate.non.null).
	ErrNullableColumn = errors.New("column is nullable")
)

// task is what one task reads: a table or the custom query, with the columns of its mode.
type task struct {
	key, topic string
	table      string // as configured ("" for Query)
	schemaName string // the table's schema or database part ("" for the connection's)
	name       string // the table's name part
	from       string // the FROM expression: a quoted table or "(query) AS q"
	keyColumns []string
	incColumn  string
	tsColumn   string
	nullable   map[string]bool // by column, for tables (from the catalog)
}

// tasks returns the source's tasks, without touching the database.
func (s *Source) taskList() []task {
	if s.cfg.Query != "" {
		topic := s.cfg.TopicPrefix
		return []task{{key: "sqltable:" + topic, topic: topic, from: "(" + s.cfg.Query + ") AS q",
			keyColumns: s.cfg.KeyColumns, incColumn: s.cfg.IncrementingColumn, tsColumn: s.cfg.TimestampColumn}}
	}
	var out []task
	for _, t := range s.cfg.Tables {
		schema, name, ok := strings.Cut(t, ".")
		if !ok {
			schema, name = "", t
		}
		from := s.dialect.quote(name)
		if schema != "" {
			from = s.dialect.quote(schema) + "." + from
		}
		topic := s.cfg.TopicPrefix + "." + sanitizeTopic(t)
		out = append(out, task{key: "sqltable:" + topic, topic: topic, table: t, schemaName: schema, name: name,
			from: from, keyColumns: s.cfg.KeyColumns, incColumn: s.cfg.IncrementingColumn, tsColumn: s.cfg.TimestampColumn})
	}
	return out
}

// describe completes t from the catalog and checks it: the table exists, the mode's columns exist and are
// NOT NULL (unless AllowNullable), the key columns exist; with a logger (warn), a table without a key and a
// mode column that leads no index are logged (every poll then scans the table). A Query is checked by
// running it with a false condition.
func (s *Source) describe(ctx context.Context, db *sql.DB, t *task, warn *slog.Logger) error {
	if t.table == "" {
		q := "SELECT * FROM " + t.from + " WHERE 1 = 0"
		for _, c := range s.modeColumns(t) {
			q += " AND " + s.dialect.quote(c) + " IS NULL"
		}
		for _, c := range t.keyColumns {
			q += " AND " + s.dialect.quote(c) + " IS NULL"
		}
		qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
		defer cancel()
		rows, err := db.QueryContext(qctx, q)
		if err != nil {
			return fmt.Errorf("sqltable source: Query (with the columns of mode %s and KeyColumns) fails: %w", s.cfg.Mode, err)
		}
		return rows.Close()
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := db.QueryContext(cctx, s.dialect.columnsQuery(), t.schemaName, t.name)
	if err != nil {
		return fmt.Errorf("sqltable source: table %s: reading its columns: %w", t.table, err)
	}
	t.nullable = map[string]bool{}
	var autoIncrement []string
	var order []string
	for rows.Next() {
		var name, nullable string
		var auto bool
		if err := rows.Scan(&name, &nullable, &auto); err != nil {
			rows.Close()
			return fmt.Errorf("sqltable source: table %s: reading its columns: %w", t.table, err)
		}
		t.nullable[name] = nullable == "YES"
		order = append(order, name)
		if auto {
			autoIncrement = append(autoIncrement, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqltable source: table %s: reading its columns: %w", t.table, err)
	}
	if len(order) == 0 {
		return fmt.Errorf("sqltable source: %w: %s (Tables): no such table, or no privilege to see it", ErrUnknownTable, t.table)
	}
	needsInc := s.cfg.Mode == ModeIncrementing || s.cfg.Mode == ModeTimestampIncrementing
	if needsInc && t.incColumn == "" {
		if len(autoIncrement) != 1 {
			return fmt.Errorf("sqltable source: %w: table %s has no AUTO_INCREMENT or identity column for mode %s: set IncrementingColumn",
				ErrUnknownColumn, t.table, s.cfg.Mode)
		}
		t.incColumn = autoIncrement[0]
	}
	for _, c := range s.modeColumns(t) {
		field := "TimestampColumn"
		if c == t.incColumn {
			field = "IncrementingColumn"
		}
		nullable, ok := t.nullable[c]
		if !ok {
			return fmt.Errorf("sqltable source: %w: table %s has no column %q (%s); its columns: %s",
				ErrUnknownColumn, t.table, c, field, strings.Join(order, ", "))
		}
		if nullable && !s.cfg.AllowNullable {
			return fmt.Errorf("sqltable source: %w: cannot make incremental queries using column %q of table %s (%s) because it is nullable: declare it NOT NULL or set AllowNullable (rows where it is NULL are then never read)",
				ErrNullableColumn, c, t.table, field)
		}
	}
	if len(t.keyColumns) == 0 {
		pk, err := queryStrings(ctx, db, s.cfg.QueryTimeout, s.dialect.primaryKeyQuery(), t.schemaName, t.name)
		if err != nil {
			return fmt.Errorf("sqltable source: table %s: reading its primary key: %w", t.table, err)
		}
		t.keyColumns = pk
		if len(pk) == 0 && warn != nil {
			warn.Warn("sqltable source: the table has no primary key and KeyColumns is empty: its records have no key",
				"table", t.table)
		}
	}
	for _, c := range t.keyColumns {
		if _, ok := t.nullable[c]; !ok {
			return fmt.Errorf("sqltable source: %w: table %s has no column %q (KeyColumns)", ErrUnknownColumn, t.table, c)
		}
	}
	if warn != nil {
		indexed, err := queryStrings(ctx, db, s.cfg.QueryTimeout, s.dialect.indexedQuery(), t.schemaName, t.name)
		if err != nil {
			return fmt.Errorf("sqltable source: table %s: reading its indexes: %w", t.table, err)
		}
		for _, c := range s.modeColumns(t) {
			if !slices.Contains(indexed, c) {
				warn.Warn("sqltable source: no index starts with the mode's column: every poll scans the table; create one",
					"table", t.table, "column", c, "mode", string(s.cfg.Mode))
			}
		}
	}
	return nil
}

// modeColumns are the columns the mode's queries filter on.
func (s *Source) modeColumns(t *task) []string {
	switch s.cfg.Mode {
	case ModeIncrementing:
		return []string{t.incColumn}
	case ModeTimestamp:
		return []string{t.tsColumn}
	case ModeTimestampIncrementing:
		return []string{t.tsColumn, t.incColumn}
	}
	return nil
}
