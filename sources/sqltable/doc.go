// Package sqltable reads database tables into Kafka by polling them with queries, in the manner of Kafka
// Connect's JDBC source connector (io.confluent.connect.jdbc.JdbcSourceConnector), for MySQL/MariaDB
// (go-sql-driver/mysql) and PostgreSQL (pgx). It needs only SELECT: no binlog, replication slot or
// privilege beyond reading the tables. It sees what a query can see: deletes are never seen, and in the
// timestamp modes a row updated twice between two polls arrives once, in its latest version. For every
// change, deletes included, use change data capture (sources/mysql, sources/postgres).
//
// # Modes
//
// Config.Mode chooses how a task finds rows it has not read (Connect's "mode"):
//
//   - bulk: the whole table, every PollInterval, in key order (the primary key, or every column), BatchSize
//     rows per query with LIMIT/OFFSET. Records have Operation stream.OpRead.
//   - incrementing: rows whose IncrementingColumn (an integer that only grows: AUTO_INCREMENT, identity or
//     serial; found by itself when the table has exactly one) is greater than the last one read:
//     SELECT * FROM t WHERE inc > ? ORDER BY inc LIMIT n. Only new rows; Operation stream.OpCreate. Unlike
//     Connect, whose first query is inc > -1, the first query has no condition (rows with negative values
//     are read too). A row inserted by a transaction that commits after a row with a greater value was
//     read is missed, as with Connect: give concurrent writers timestamp+incrementing with a delay.
//   - timestamp: rows whose TimestampColumn is later than the last one read and earlier than the database's
//     clock minus TimestampDelay: WHERE ts < ? AND ts > ? ORDER BY ts LIMIT n. New and updated rows;
//     Operation stream.OpUpdate, meaning an upsert (the source cannot tell an insert from an update).
//   - timestamp+incrementing: Connect's TimestampIncrementingCriteria:
//     WHERE ts < ? AND ((ts = ? AND inc > ?) OR ts > ?) ORDER BY ts, inc LIMIT n, with the last row's
//     (ts, inc), and a redundant ts >= ? so that PostgreSQL scans an index on (ts, inc) from the last row
//     instead of from its start on every page. Rows sharing a timestamp are ordered by inc, so none is skipped or read twice, also across
//     pages and restarts. Operation stream.OpUpdate (upsert). The mode to use for mutable tables.
//
// TimestampDelay (Connect's timestamp.delay.interval.ms) protects against transactions in flight: a row
// whose timestamp was set at time T by a transaction that commits later would otherwise be overtaken by a
// poll that already read rows after T. Only rows with ts < now(db) - TimestampDelay are read, where now(db)
// is the database's clock (MySQL CURRENT_TIMESTAMP(6) in session time zone UTC, PostgreSQL
// clock_timestamp()), read before each query; set the delay above your longest write transaction.
//
// Ties in timestamp mode: a page (LIMIT) may end inside a group of rows sharing the page's last timestamp.
// The task then drops that group from the page and reads the whole group with WHERE ts = ?, so the next
// query (ts > last) skips none of it; Connect's own timestamp mode can lose such rows when its query has a
// LIMIT. A record inside a group carries the previous group's timestamp as its position (as Connect's
// TimestampTableQuerier commits a timestamp only once its group is complete), so a restart inside a group
// reads the group again: at-least-once, never a lost row.
//
// # Tasks, topics, records
//
// Each entry of Config.Tables is a task keyed "sqltable:<topic>", with topic "<TopicPrefix>.<table>"
// (Source.Topic), so tables spread over the pipeline's replicas. Config.Query instead reads the rows of a
// SELECT in one task, topic TopicPrefix; the mode's condition, order and limit wrap it:
// SELECT * FROM (<Query>) AS q WHERE ... ORDER BY ... LIMIT n (so the query may have its own WHERE, joins
// and aggregates, and the mode's columns are named as the query's result names them).
//
// A record is the row, not a change envelope:
//
//   - Key: the primary key (or Config.KeyColumns) as a struct, schema named "<table>.Key"; nil for a table
//     without a primary key (a warning at start-up) and for a Query without KeyColumns.
//   - Value: every column of the row as a struct, schema named "<table>" (unnamed for a Query), fields in
//     the result's column order; a column's schema is optional when it is nullable.
//   - Operation: see Modes. Timestamp: when the row was read. Position: see Position.
//
// The schema is derived from each result's column types (and, for tables, the catalog's nullability), and
// rebuilt when they change (ALTER TABLE between polls).
//
// # Positions and resume
//
// A record's Position holds the values of the mode's columns (JSON, see Position); the engine saves the
// position of the last record Kafka acknowledged, and a task reopened there continues after it: exactly
// after it in incrementing and timestamp+incrementing modes, at the start of its timestamp group in
// timestamp mode, in the same pass at the same row count in bulk mode (a pass is a snapshot of the table
// in key order, not a transaction: rows deleted during a pass shift the later rows' offsets; the next pass
// reads them all again). Timestamps keep microseconds in UTC.
//
// # Polling and batches
//
// Read runs the mode's query with LIMIT BatchSize (Connect's batch.max.rows, default 100) and returns its
// rows. A full page is followed at once by the next query; a short page means the task caught up, and the
// next query waits PollInterval (Connect's poll.interval.ms, default 5 s). Every query (catalog queries
// and the clock included) has a deadline of QueryTimeout; MySQL connections also have read and write
// timeouts of twice QueryTimeout. A poll that exceeds QueryTimeout fails with an error marked
// sources.Transient that names it. With StopAtEnd a caught-up task ends (sources.ErrEndOfInput), for batch jobs.
//
// # Start-up checks
//
// Tasks connects (an unreachable database is an error marked sources.Transient) and checks each table,
// failing with a message that names the table, the column and the Config field:
//
//   - the table does not exist (ErrUnknownTable);
//   - the mode's column does not exist, or incrementing without IncrementingColumn finds no single
//     AUTO_INCREMENT/identity/serial column (ErrUnknownColumn), or a KeyColumns entry does not exist;
//   - the mode's column is nullable (ErrNullableColumn), as Connect's validate.non.null (default true)
//     fails; Config.AllowNullable accepts it (rows where it is NULL are then never read);
//   - no index starts with the mode's column: a warning, not an error (Connect does not check indexes;
//     every poll of such a table scans it);
//   - a Query is run once with a false condition on the mode's columns and KeyColumns, so that a query
//     that fails, or lacks one of them, fails Tasks.
//
// Lost connections (refused, reset, EOF, MySQL 1053, PostgreSQL class 08 and 57P01-57P03) fail Open and
// Read with an error marked sources.Transient: the engine reopens the task at its saved position when the
// database is back. SQL errors are permanent.
//
// # Type mapping
//
// Kafka Connect's JDBC mapping with numeric.mapping=none (DECIMAL exact), from the driver's column types:
//
//	MySQL / MariaDB                  PostgreSQL                     Schema                 Go value
//	TINYINT                          -                              int8                   int8
//	TINYINT UNSIGNED, SMALLINT       int2                           int16                  int16
//	SMALLINT UNSIGNED, MEDIUMINT,    int4, serial                   int32                  int32
//	  INT, YEAR
//	INT UNSIGNED, BIGINT             int8, bigserial                int64                  int64
//	BIGINT UNSIGNED                  -                              Decimal scale 0        stream.Decimal
//	DECIMAL(p,s)                     numeric(p,s)                   Decimal scale s        stream.Decimal, exact
//	-                                numeric (no scale)             string                 the exact digits
//	FLOAT                            float4 (real)                  float                  float32
//	DOUBLE                           float8                         double                 float64
//	BIT(1)                           bool                           boolean                bool
//	CHAR, VARCHAR, *TEXT, ENUM, SET, text, varchar, bpchar, uuid,   string                 string
//	  JSON                             json, jsonb, xml, inet
//	BINARY, VARBINARY, *BLOB, BIT(n) bytea                          bytes                  []byte
//	DATE                             date                           Date                   time.Time, midnight UTC
//	TIME                             time                           Time                   time.Time on 1970-01-01
//	DATETIME, TIMESTAMP              timestamp, timestamptz         Timestamp              time.Time, UTC
//
// Connect's Date, Time and Timestamp carry milliseconds on the wire (the Go value keeps the database's
// microseconds, and positions keep them too). DATETIME and PostgreSQL timestamp (without time zone) are
// read as UTC: write them in UTC (the timestamp modes compare them with the database's clock in UTC). A
// MySQL TIME outside 00:00:00-23:59:59 is an error naming the column (Connect's Time cannot hold it);
// other types are an error naming the column and its type.
//
// # Not done
//
//   - Several timestamp columns combined with COALESCE (Connect's list in timestamp.column.name), Connect's
//     timestamp.initial, table include/exclude patterns and schema patterns, and re-reading the table list
//     while running (Connect's table.poll.interval.ms).
//   - Bulk mode over a table without a key orders by every column, which PostgreSQL refuses for json
//     columns: give KeyColumns.
package sqltable
