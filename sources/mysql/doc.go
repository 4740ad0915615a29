// Package mysql is a change data capture source for MariaDB (and, later, MySQL) in the manner of Debezium's
// MySQL connector: records carry Debezium's change-event envelope, so consumers written for Debezium read
// them unchanged.
//
// # What this version does
//
// It copies tables with a consistent, lock-free snapshot (SnapshotMode initial_only) and ends each task
// when its table is copied. Binlog streaming, and the snapshot modes initial, never and when_needed that
// need it, come next; New rejects them with a clear error until then.
//
// # Tasks, topics, records
//
// Each captured table is one task, keyed "mysql:<db>.<table>", so replicas share tables. Its records go to
// topic "<TopicPrefix>.<db>.<table>" (Record.Topic is set; declare one topic per table in the topology,
// e.g. with Source.Topic). A record is:
//
//   - Key: the primary key as a struct, schema "<prefix>.<db>.<table>.Key".
//   - Value: the envelope, schema "<prefix>.<db>.<table>.Envelope", with fields before (null for a
//     snapshot row), after (the row, schema "<prefix>.<db>.<table>.Value"), source (schema
//     io.debezium.connector.mysql.Source: version, connector "mysql", name = TopicPrefix, ts_ms of the
//     snapshot's start, snapshot "true", or "last" on the table's last row, db, table, server_id of the
//     server, gtid, file and pos of the snapshot's binlog position, row 0), op "r" and ts_ms (when read).
//   - Operation stream.OpRead, Timestamp the time of the read, Position as described by Position.
//
// # Snapshot
//
// A task takes its own consistent snapshot on a connection of its own: session time_zone '+00:00',
// START TRANSACTION WITH CONSISTENT SNAPSHOT, then SHOW STATUS LIKE 'binlog_snapshot_%' and
// BINLOG_GTID_POS(file, pos) give the binlog position that the snapshot is consistent with, without any
// lock (MariaDB). It reads the table in primary-key order, ChunkSize rows per query and per Read, with
// keyset pagination (WHERE a > ? OR (a = ? AND b > ?) ... ORDER BY a, b LIMIT n), so composite keys work and
// no query rescans what was copied. Progress (rows copied / estimated from information_schema.TABLES) is
// logged per chunk. In this version each table has its own snapshot, so two tables are each consistent but
// not at the same instant; a snapshot shared across tables comes with binlog streaming.
//
// A task reopened at a stored position continues after the position's last_pk, with a new consistent
// snapshot: rows copied before the restart come from the old snapshot, the rest from the new one. The
// position keeps the binlog position of the first snapshot, from which streaming will start so that no
// change in between is lost. A position whose snapshot is done ends the task at once. Tables without a
// primary key are not supported yet.
//
// # Start-up checks
//
// Tasks (through Check) fails before anything is read, with a message naming the fix, when: the server is
// unreachable (ErrUnreachable); log_bin is off, or binlog_format is not ROW, binlog_row_image not FULL or
// binlog_row_metadata not FULL (ErrBinlogConfig; the message gives the SET GLOBAL statement and my.cnf
// line); the user lacks REPLICATION SLAVE, REPLICATION CLIENT (BINLOG MONITOR on MariaDB), or SELECT on a
// table (ErrMissingGrant; the message gives the GRANT statement); an entry of Tables names no table
// (ErrUnknownTable).
//
// # Type mapping
//
// Columns are described by information_schema.COLUMNS (see Column) and mapped as Debezium maps them with
// decimal.handling.mode=precise and bigint.unsigned.handling.mode=precise. Every schema is optional when
// the column is nullable, and SQL NULL is nil.
//
//	MySQL type                   Schema (type, name)                           Go value
//	TINYINT [UNSIGNED]           int16                                         int16
//	SMALLINT                     int16                                         int16
//	SMALLINT UNSIGNED            int32                                         int32
//	MEDIUMINT [UNSIGNED]         int32                                         int32
//	INT                          int32                                         int32
//	INT UNSIGNED                 int64                                         int64
//	BIGINT                       int64                                         int64
//	BIGINT UNSIGNED              bytes, Decimal scale 0 (precision 20)         stream.Decimal
//	DECIMAL(p,s), NUMERIC        bytes, Decimal scale s (precision p)          stream.Decimal, exact
//	FLOAT                        float                                         float32 (bits as stored)
//	DOUBLE, REAL                 double                                        float64
//	DATE                         int32, org.apache.kafka.connect.data.Date     time.Time, midnight UTC
//	TIME(fsp)                    int64, io.debezium.time.MicroTime             int64 µs, negative allowed
//	DATETIME(fsp)                int64, io.debezium.time.MicroTimestamp        int64 µs since the epoch
//	TIMESTAMP(fsp)               string, io.debezium.time.ZonedTimestamp       "2024-01-02T03:04:05.123Z" (UTC,
//	                                                                           fsp fraction digits)
//	YEAR                         int32, io.debezium.time.Year                  int32
//	CHAR, VARCHAR, *TEXT         string                                        string (utf8mb4)
//	JSON (MariaDB: LONGTEXT with string, io.debezium.data.Json                 string, the document as stored
//	  CHECK json_valid)
//	BINARY, VARBINARY, *BLOB     bytes                                         []byte
//	ENUM('a',...)                string, io.debezium.data.Enum (allowed)       string, the value's name
//	SET('a',...)                 string, io.debezium.data.EnumSet (allowed)    string, "a,b"
//	BIT(1)                       boolean                                       bool
//	BIT(n), n > 1                bytes, io.debezium.data.Bits (length)         []byte, little-endian as
//	                                                                           Debezium (SELECT shows big-endian)
//	UUID, INET4, INET6 (MariaDB) string                                        string
//
// Zero dates ('0000-00-00', '0000-00-00 00:00:00', or any date with a zero month or day) become nil in a
// nullable column and the epoch (1970-01-01, 0 µs, "1970-01-01T00:00:00Z") in a NOT NULL one, as Debezium
// does. Unlike Debezium's adaptive time precision, DATETIME is MicroTimestamp whatever its fsp. Spatial
// types are not supported yet: a table with one fails at Open naming the column.
package mysql
