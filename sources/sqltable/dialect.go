package sqltable

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// dialect is what differs between MySQL and PostgreSQL: connecting, quoting, placeholders, the clock and
// the catalog.
type dialect interface {
	// open returns a connection pool (it does not connect yet).
	open(cfg *Config) (*sql.DB, error)
	quote(ident string) string
	placeholder(n int) string // n counts from 1
	// nowQuery returns the database's current time in UTC.
	nowQuery() string
	// columnsQuery lists a table's columns (name, nullable "YES"/"NO", auto-increment 0/1) in order, for
	// the parameters (schema, table); an empty schema means the connection's current one.
	columnsQuery() string
	// primaryKeyQuery lists a table's primary-key columns in key order, for (schema, table).
	primaryKeyQuery() string
	// indexedQuery lists the columns that lead an index of the table, for (schema, table).
	indexedQuery() string
}

func dialectOf(d Dialect) dialect {
	if d == PostgreSQL {
		return postgresDialect{}
	}
	return mysqlDialect{}
}

type mysqlDialect struct{}

func (mysqlDialect) open(cfg *Config) (*sql.DB, error) {
	dc, err := mysqldriver.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqltable source: DSN: %w", err)
	}
	dc.ParseTime = true
	dc.Loc = time.UTC
	dc.InterpolateParams = false
	dc.Timeout = cfg.ConnectTimeout
	// Queries end at their context's deadline (QueryTimeout); the connection's read and write timeouts are
	// a second guard, later, so that the deadline is what a slow query reports.
	dc.ReadTimeout, dc.WriteTimeout = 2*cfg.QueryTimeout, 2*cfg.QueryTimeout
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	dc.Params["time_zone"] = "'+00:00'"
	connector, err := mysqldriver.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("sqltable source: DSN: %w", err)
	}
	return sql.OpenDB(connector), nil
}

func (mysqlDialect) quote(ident string) string {
	return "`" + strings.ReplaceAll(ident, "`", "``") + "`"
}

func (mysqlDialect) placeholder(int) string { return "?" }

func (mysqlDialect) nowQuery() string { return "SELECT CURRENT_TIMESTAMP(6)" } // session time_zone is UTC

const mysqlSchema = "COALESCE(NULLIF(?, ''), DATABASE())"

func (mysqlDialect) columnsQuery() string {
	return "SELECT COLUMN_NAME, IS_NULLABLE, EXTRA LIKE '%auto_increment%' FROM information_schema.COLUMNS " +
		"WHERE TABLE_SCHEMA = " + mysqlSchema + " AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
}

func (mysqlDialect) primaryKeyQuery() string {
	return "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_NAME = 'PRIMARY' " +
		"AND TABLE_SCHEMA = " + mysqlSchema + " AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
}

func (mysqlDialect) indexedQuery() string {
	return "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE SEQ_IN_INDEX = 1 " +
		"AND TABLE_SCHEMA = " + mysqlSchema + " AND TABLE_NAME = ?"
}

type postgresDialect struct{}

func (postgresDialect) open(cfg *Config) (*sql.DB, error) {
	pc, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqltable source: DSN: %w", err)
	}
	pc.ConnectTimeout = cfg.ConnectTimeout
	if pc.RuntimeParams == nil {
		pc.RuntimeParams = map[string]string{}
	}
	pc.RuntimeParams["timezone"] = "UTC"
	return stdlib.OpenDB(*pc), nil
}

func (postgresDialect) quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

func (postgresDialect) placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (postgresDialect) nowQuery() string { return "SELECT clock_timestamp()" }

const pgTable = "c.relname = $2 AND n.nspname = COALESCE(NULLIF($1, ''), current_schema())"

func (postgresDialect) columnsQuery() string {
	return "SELECT a.attname, CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END, " +
		"(a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%') " +
		"FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace " +
		"LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum " +
		"WHERE " + pgTable + " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
}

func (postgresDialect) primaryKeyQuery() string {
	return "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid " +
		"JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) " +
		"WHERE i.indisprimary AND " + pgTable + " ORDER BY array_position(i.indkey::int2[], a.attnum)"
}

func (postgresDialect) indexedQuery() string {
	return "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid " +
		"JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] " +
		"WHERE " + pgTable
}

// queryStrings runs q (with a deadline of timeout) and returns its first column.
func queryStrings(ctx context.Context, db *sql.DB, timeout time.Duration, q string, args ...any) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
