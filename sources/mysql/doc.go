// Package mysql is a change data capture source for MariaDB and MySQL 8 in the manner of Debezium's
// MySQL connector: records carry Debezium's change-event envelope, so consumers written for Debezium read
// them unchanged.
//
// # What this version does
//
// Snapshot modes initial (the default: a consistent snapshot of every captured table, then the binlog from
// the snapshot's position), initial_only (the snapshot, then sources.ErrEndOfInput), never (the binlog only,
// from the server's current position at the first start) and when_needed (initial, plus a new snapshot when
// the saved binlog position was purged) are implemented, for MariaDB and MySQL (see "MySQL" below). Binlog
// rows decode with the schema they were written with, across ALTER TABLE, also when the reader is behind,
// and each DDL statement on a captured database is published as a schema-change record.
//
// # MySQL
//
// The server's flavour is detected at each Open from VERSION() and @@version_comment: MariaDB, or MySQL
// (and servers that speak its replication protocol, such as Dolt). On MySQL:
//
//   - Positions hold MySQL GTID sets ("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23", several servers
//     separated by commas), records' source.gtid the transaction's "uuid:gno". The current position is
//     SHOW BINARY LOG STATUS (8.2 and later) or SHOW MASTER STATUS with its Executed_Gtid_Set; the stream
//     starts with COM_BINLOG_DUMP_GTID and the saved set (with the BINLOG_THROUGH_GTID flag, which Dolt
//     needs; over TLS the flag cannot be added, which MySQL does not need).
//   - gtid_mode OFF: transactions are anonymous, positions are a binlog file and offset without gtid, and
//     the stream starts with COM_BINLOG_DUMP at the file and offset. A position saved without a GTID set
//     stays a file and offset (a MySQL GTID set cannot be rebuilt from part of the binlog).
//     ON_PERMISSIVE and OFF_PERMISSIVE are logged as warnings at start-up; other values fail it.
//   - Snapshot: MySQL has no binlog_snapshot_file. The current position is read just before START
//     TRANSACTION WITH CONSISTENT SNAPSHOT and again just after: equal, the snapshot is exactly there;
//     different (a transaction committed in between), the stream starts at the earlier one, so such a
//     change is streamed again rather than lost (at-least-once, logged).
//   - Restart inside a transaction: as on MariaDB (the transaction's GTID event's offset, the rows events,
//     rows and records emitted), since the GTID set excludes the transaction under way.
//   - Binlog transaction compression (MySQL 8.0.20+, binlog_transaction_compression=ON): go-mysql
//     decompresses each TRANSACTION_PAYLOAD_EVENT; its inner events are handled in order as if written
//     uncompressed, each with the payload event's offset (source.pos of their rows).
//   - Purged positions: before streaming, a GTID set that lacks part of @@gtid_purged (or a file that SHOW
//     BINARY LOGS no longer lists) is ErrPositionPurged; the message names the oldest file and
//     gtid_purged. when_needed re-snapshots as on MariaDB. An ERROR 1236 while gtid_purged is contained
//     in the position is transient instead (the engine reopens the task after a backoff): Dolt answers so
//     to a dump request that arrives while a transaction commits.
//   - Start-up checks as on MariaDB, plus binlog_row_value_options must be empty (PARTIAL_JSON drops the
//     full JSON after image). MySQL's JSON type maps to io.debezium.data.Json.
//
// Tested (make test-mysql8) against Dolt (github.com/dolthub/dolt/go, the pseudo-version pinned in
// internal/dolttest), a MySQL 8.0.31-compatible binlog primary built from the Go module proxy, with UUID GTID
// sets: snapshot then streaming of several column types (UNSIGNED, DECIMAL, DATETIME(3), JSON, VARBINARY
// included) with snapshot and binlog images equal, a snapshot started under concurrent writes, restart at
// any record of a multi-table transaction, purged position (initial, never, when_needed), a batch run
// ending at the server's GTID set, the start-up checks. What Dolt does not
// cover, so what is not tested against a server: positions by file and offset (Dolt answers COM_BINLOG_DUMP
// with ERROR 1047, which the source reports as such), transaction compression (Dolt never writes payload
// events; go-mysql's decoding of MySQL 8.0.27's is tested in go-mysql), MySQL's own purge (PURGE BINARY
// LOGS; Dolt purges only at start-up by binlog_expire_logs_seconds), and what Dolt's binlog lacks: its FULL
// row metadata has no signedness and no primary-key columns and one character set per column (the source
// takes what is missing from the table's current definition, for columns of the same name), and rows are a
// transaction's net change per table.
//
// # Tasks, topics, records
//
// A source has one task, keyed "mysql:<TopicPrefix>" (Source.TaskKey): one snapshot transaction for all
// tables and one binlog connection for the server, as Debezium's MySQL connector has one task. Records of
// db.table go to topic "<TopicPrefix>.<db>.<table>" (Record.Topic is set; declare one topic per table in
// the topology, e.g. with Source.Topic, or let the topology create the topics of tables created later with
// topology.NewTopics, see "New tables" below). A record is:
//
//   - Key: the primary key as a struct, schema "<prefix>.<db>.<table>.Key"; for a table without primary
//     key, its first UNIQUE index of NOT NULL columns; for a table with neither, a null key (nil Key and
//     KeySchema): see "Tables without primary key".
//   - Value: the envelope, schema "<prefix>.<db>.<table>.Envelope", with fields before and after (the row
//     images, schema "<prefix>.<db>.<table>.Value"; before is null for snapshot rows and inserts, after is
//     null for deletes), source (schema io.debezium.connector.mysql.Source: version, connector "mysql",
//     name = TopicPrefix, ts_ms, snapshot, db, table, server_id, gtid, file, pos, row), op and ts_ms (when
//     the source read it).
//   - Operation and Timestamp: see below. Position as described by Position.
//
// Snapshot rows: op "r", Operation stream.OpRead, source.snapshot "true" ("last" on each table's last
// row), source.ts_ms the snapshot's start, gtid/file/pos the snapshot's binlog position, row 0, server_id
// the server's @@server_id, Timestamp the time of the read.
//
// Binlog rows: op "c" (insert), "u" (update, with before and after) or "d" (delete, with before), Operation
// stream.OpCreate, OpUpdate or OpDelete; source.snapshot "false", ts_ms the event header's timestamp
// (seconds resolution, as the binlog has it; also the record's Timestamp), gtid the transaction's GTID, file
// and pos the binlog file and offset of the rows event, row the row's index in that event, server_id the
// server that wrote the event. A delete is followed by a tombstone (same key, nil value and schema,
// Operation OpDelete) unless Config.Tombstones is false or the table has no key. An update that changes the primary key becomes a
// delete of the old key (and its tombstone) and a create of the new one, as Debezium does.
//
// # Versions: the sluice.version header
//
// Every record (snapshot rows, change events, tombstones; not schema-change records) carries header
// sluice.version (VersionHeader), a decimal int64 taken from the binlog position of the change: with
// GTIDs, the transaction's sequence number times 2^24 plus the record's index in the transaction; without
// (MySQL, gtid_mode OFF), from the binlog file's number, the rows event's offset and the row's index.
// Snapshot rows carry their snapshot position's, newer than every change the snapshot contains and older
// than every change streamed after it. So a key's versions only grow along the binlog, and a record read
// again after a restart has the same version. sinks/elasticsearch uses it as the document's external
// version (instead of the Kafka offset), and a topology's join passes on the greater of its two sides
// (topology's joinversion.go), so a replay, a duplicate or a stale producer never makes a document older.
// VersionHeader's documentation has the encoding and its limits (transactions of more than 5.5 million
// rows; versions of several GTID domains or of a new primary after a MySQL failover are not comparable:
// Config.NoVersionHeader turns the header off).
//
// # Snapshot
//
// The task takes one consistent snapshot on a connection of its own: session time_zone '+00:00',
// START TRANSACTION WITH CONSISTENT SNAPSHOT, then SHOW STATUS LIKE 'binlog_snapshot_%' and
// BINLOG_GTID_POS(file, pos) give the binlog position that the snapshot is consistent with, without any
// lock (MariaDB). The tables' metadata is read from information_schema before the transaction starts. It
// copies the tables one after the other in name order, each in primary-key order, ChunkSize rows per query
// and per Read, with keyset pagination (WHERE a > ? OR (a = ? AND b > ?) ... ORDER BY a, b LIMIT n), so
// composite keys work and no query rescans what was copied. Progress (rows copied / estimated from
// information_schema.TABLES) is logged per chunk. With initial, the binlog is then read from the snapshot's
// position, so every change committed after the snapshot is streamed, none before. A table without key is
// read with one SELECT (see "Tables without primary key").
//
// # Tables without primary key
//
// A table without PRIMARY KEY is captured, as Debezium captures it. Its first UNIQUE index whose columns
// are all NOT NULL (in the server's index order, SHOW CREATE TABLE's) is then the message key, in the
// snapshot and the binlog alike (MariaDB promotes that index to primary key, and the binlog's TableMap
// names it so). A table with neither is keyless: its records have a null key (Record.Key and KeySchema
// nil; every codec writes a Kafka null key, as Kafka Connect's JsonConverter does), updates are "u" events
// (binlog rows are full images), deletes "d" events without tombstone. Its snapshot is one SELECT without
// ORDER BY, read ChunkSize rows at a time from one cursor inside the consistent snapshot; its records'
// positions carry "rows" (copied so far) instead of last_pk, and "table_done" on the table's last row. A
// task reopened in the middle of a keyless table copies it again from its first row: after a crash during
// that table's snapshot its rows may repeat, and there is no key to deduplicate them on. Caveats: Kafka's
// default partitioner (sarama's too) sends a null-key record to a random partition, so a keyless table's
// changes lose their order across the partitions of a topic with more than one (Debezium's caveat too:
// give such a topic one partition); the Elasticsearch sink's default document id ("{key}") refuses a
// null-key record with an error naming its topic, partition and offset: set its ID to
// "{topic}+{partition}+{offset}" or "{field:...}" for such a table. Incremental snapshots need a key.
//
// # Positions and resume
//
// A snapshot record's position names the table and its last_pk, and the binlog position of the task's
// first snapshot (see Position). Reopened there, the task skips the tables sorted before that table, takes
// a NEW consistent snapshot of the rest (rows after last_pk, and the later tables), and then streams from
// the FIRST snapshot's position, so that nothing committed in between is lost; changes to rows copied by
// the new snapshot may then arrive twice (at-least-once). The position of the snapshot's last row has
// done=true: reopened there, initial streams from the first snapshot's position and initial_only ends at
// once.
//
// A streamed record's position holds the GTID position up to the last completed transaction, the file and
// offset of its transaction's start, and how many rows events, rows of the next event and records of the
// next row were already emitted (events_skip, rows_skip, row_records). Reopened there, the binlog starts at
// the transaction's start (the GTID position, or the file and offset when the GTID position is empty) and
// the emitted records are skipped: a restart in the middle of a large transaction neither loses nor repeats
// a record. The binlog client is go-mysql's raw BinlogSyncer (flavor mariadb, the Config.ServerID), with its
// own reconnection off: a broken connection fails the Read with an error marked sources.Transient, and the
// engine closes the reader and reopens the task at its saved position after a backoff, for up to the
// pipeline's RetryTimeout (SLUICE_RETRY_TIMEOUT) of consecutive failures. So a server restart or a lost
// connection (driver.ErrBadConn, EOF, a refused or reset connection, go-mysql's "connection was bad",
// errors 1053 server shutdown, 2006 and 2013) is waited out, in the snapshot as in the binlog; a purged
// position (1236), a duplicate server_id (4052), missing grants and bad configuration fail the task at once.
//
// # DDL: every row decodes with its own schema
//
// With binlog_row_metadata=FULL (checked at start-up) every rows event is preceded by a TableMap that
// carries, as they were when the row was written, the table's column names, types, lengths, DECIMAL
// precision and scale, TIME/DATETIME/TIMESTAMP fractional digits, signedness, nullability, ENUM and SET
// values, character set (binary or not) and primary key. The schema of each rows event is derived from
// ITS TableMap, never from the table's current definition: the TableMap is described as information_schema
// would describe the columns and mapped by the snapshot's type mapping (the table below), and cached by
// the TableMap's content, so it is built once per version of the table. Columns map by name. So a row
// written before an ALTER TABLE ... ADD COLUMN ... AFTER, DROP COLUMN or MODIFY decodes with the columns it
// has, even when the task reads it after the ALTER (stopped, or behind): no shifted columns. The Debezium
// value schema changes with it: rows written after ADD COLUMN c have a field c, rows before it have none
// (the same "<prefix>.<db>.<table>.Value" name, other fields). What a TableMap cannot say is taken from the
// table's current information_schema definition, only for a column of the same name whose type,
// signedness, nullability, precision, scale, fsp, length and values are identical: MariaDB's JSON (a
// LONGTEXT with a json_valid CHECK; with a different or no current definition, such a column is a plain
// string without the io.debezium.data.Json name).
//
// Deliberate deviation from the issue (and from Debezium): there is no schema history topic. Debezium keeps
// every DDL in a compacted history topic and replays it with a SQL parser to know the schema of old events,
// because MySQL's TableMap used to lack column names and types. With binlog_row_metadata=FULL, which the
// source requires, each event carries its own schema, so replaying DDL would add a parser, a topic and a
// failure mode (history and binlog out of step) without adding information for decoding.
//
// # Schema-change records
//
// Each DDL statement of the binlog (CREATE, ALTER, DROP, RENAME or TRUNCATE of a table, index, database,
// view, trigger, routine, event or sequence) whose database is the database of a captured table is
// published as one record in Debezium's shape on topic TopicPrefix (Source.SchemaChangeTopic: declare it in
// the topology, like the tables' topics, or set Config.SchemaChanges to false to publish none): key io.debezium.connector.mysql.SchemaChangeKey {databaseName}; value
// io.debezium.connector.mysql.SchemaChangeValue {source (as for rows: db, table = the first table changed or
// null, gtid, file, pos of the statement, server_id, ts_ms), ts_ms, databaseName, schemaName (null),
// ddl (the statement as logged), tableChanges}; Operation stream.OpNone. tableChanges has one
// io.debezium.connector.schema.Change {type, id} per table whose definition the statement changes: CREATE,
// ALTER or DROP and "db"."table"; CREATE/DROP INDEX is an ALTER of its table, RENAME TABLE a TO b an ALTER
// of b; TRUNCATE and database/view/routine statements have none. Debezium's Change.table (the full column
// list) is not included: the change events' own schemas carry it. The database is the statement's
// qualified name, else the Query event's current database. A statement that is a transaction
// of its own (MariaDB's standalone GTID flag; on MySQL a GTID event and the statement without BEGIN) has
// the position just after it, so a task reopened there resumes with the next transaction. A statement
// inside a transaction (MariaDB's and MySQL 8's CREATE TABLE ... SELECT: the statement, then the rows it
// inserted, then the commit) is published at its place, before those rows, and counts as one of the
// transaction's events (Position.EventsSkip), so that a task reopened at any record of that transaction
// repeats and loses neither the statement's record nor the rows. Transaction control (BEGIN, COMMIT,
// ROLLBACK, SAVEPOINT, XA) is never published.
//
// # New tables
//
// A table created while the task streams (CREATE TABLE, CREATE TABLE ... SELECT, RENAME TABLE to a
// matching name) whose name Tables matches and Exclude does not is captured from its creation on, without
// a snapshot (its rows all arrive through the binlog after its creation), logged once at Info ("mysql
// source: captured new table", table, topic); so is a table first seen through its rows. A dropped table
// is no longer captured (no error). Its records go to "<TopicPrefix>.<db>.<table>" like the others: a
// topology declares that topic in advance, or gives ToRecordTopics a topology.NewTopics prefix (e.g.
// "sluice.shop.") under which it creates the topic at run time. After a restart the table is one of the
// resolved tables; when the saved position is a stream position (or a finished snapshot's), it is not
// snapshotted: a table created while the task was down was created after the saved position, so its
// CREATE and every row arrive from the binlog. A table that existed before the saved position and is
// captured only because Tables or Exclude changed (or that is renamed from an uncaptured name) is
// streamed from then on without its earlier rows; the source warns, naming it: copy them with an
// incremental snapshot of that table, as Debezium does for tables added to its include list. See
// newtables.go.
//
// # Incremental snapshots
//
// With Config.SignalTable set (Debezium's signal.data.collection; Debezium's table: CREATE TABLE
// debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))), the
// source copies captured tables again on demand while it keeps streaming, as Debezium's incremental
// snapshots do. Rows inserted into the signal table are read from the binlog (whether or not Tables names
// it) and never published. Signals (the type column; data is JSON):
//
//	execute-snapshot {"data-collections":["shop.orders"],"type":"incremental",
//	                  "additional-conditions":[{"data-collection":"shop.orders","filter":"id > 100"}]}
//	stop-snapshot    {"data-collections":["shop.orders"],"type":"incremental"} (none named: stop all)
//	pause-snapshot, resume-snapshot, log {"message":"..."}
//
// data-collections are regular expressions matched against the whole "db.table" of the captured tables;
// Debezium 1.x's single "additional-condition" applies to every table named. Unknown or malformed signals
// are logged and ignored; a table without a primary key, or not captured, is refused with a log line
// naming it. Source.Snapshot (sources.Snapshotter: the operator API's POST
// /pipelines/{pipeline}/sources/{source}/snapshots and `sluice snapshot`) inserts an execute-snapshot row,
// so a request is ordered with the binlog, durable, and reaches whichever replica runs the task. A task's
// own request (when_needed after a purge) is queued directly.
//
// Each table is copied in primary-key chunks of Config.IncrementalChunkSize rows (default 1024), up to its
// largest key read when its copy starts (later rows come from the stream), with the DBLog watermark
// algorithm as Debezium runs it on a writable signal table: on the query pool (never the binlog
// connection, each query within a minute) the task inserts a snapshot-window-open row, SELECTs the next
// chunk after the last key emitted (keyset, ORDER BY the key, the additional condition ANDed), and inserts
// a snapshot-window-close row. Streaming never stops: when the binlog reaches the open watermark, every
// key a streamed change touches from then on is dropped from the buffered chunk (the change is as new as
// the copy or newer); at the close watermark the rows left are emitted as op "r" records with
// source.snapshot "incremental" and the sluice.version of the close watermark's transaction (newer than
// every change before it, older than every one after), and the next chunk starts. So a snapshot row never
// overwrites a newer change of its key. Watermark rows stay in the signal table (Debezium's insert_insert
// strategy): delete old ones at will. A window whose watermarks do not come back within a minute (the
// signal table's database filtered out of the binlog) is logged as a warning.
//
// The snapshot's state (IncrementalPosition: id, tables left, the current one's last key emitted and
// largest key, conditions, paused) travels in Position.Incremental of every record read after it started,
// stream records, schema changes and heartbeats included; a restart continues with a new chunk after the
// last key acknowledged. Progress is logged per table (start, done) and at most every 10 s (rows emitted,
// estimated rows, rows dropped in the chunk), and counted in sluice_mysql_incremental_snapshot_rows_total
// {task,table} and sluice_mysql_incremental_snapshot_tables_remaining{task}. A table the server refuses
// to read (dropped meanwhile, a condition it cannot parse) is abandoned with a warning naming it and the
// condition, and the snapshot goes on with the next table; a lost connection or a chunk query over its
// minute is transient (the task reopens and reads the chunk again). A DDL statement read from the binlog
// while a table is being copied makes the snapshot read the table's definition again and drop and read
// again the chunk under way, so rows read after an ALTER TABLE carry the new columns. Measured on this 2-core machine
// (TestIncrementalSnapshotLong1M, SLUICE_TEST_LONG=1, through the embedded broker): 1,000,000 rows in
// 29 s (34,700 rows/s; 75 s while other test runs shared the cores) under 200 changes/s, the sink's view
// equal to the table at the end; 0.90 of the rate of an initial snapshot of the same table through the
// same kind of pipeline in the same run (the raw keyset SELECTs alone run about 25 times faster: the cost
// is in building, encoding and producing the records, as for the initial snapshot).
//
// # Purged positions
//
// A stream position whose binlog files were purged fails the first Read (ERROR 1236) with an error
// wrapping ErrPositionPurged that names the missing position (gtid, file, pos) and the oldest one available
// (the first binlog file and the GTID position at its start), for initial and never. when_needed instead
// recovers, saying so in a warning. With Config.SignalTable set (incremental snapshots, see
// IncrementalPosition) it re-snapshots only what may have changed: it streams on from the server's CURRENT
// binlog position (what happened between the lost position and now is in no binlog any more; streaming
// from the oldest file left would only replay part of it) and requests an incremental snapshot of the
// captured tables whose information_schema.TABLES.UPDATE_TIME is at or after the lost position's binlog
// time (Position.TS) minus a second, or unknown (NULL: InnoDB forgets it at a server restart; every table
// when the position carries no time; MySQL 8's cached statistics are read fresh, with
// information_schema_stats_expiry 0); the warning names these tables and why. Without SignalTable, or
// when such a table has no primary key, it takes a consistent snapshot of every captured table and streams
// from that snapshot's position, and the warning names the setting that would have avoided it. As with
// Debezium, rows deleted while the position was lost get no delete event: a consumer that must drop them
// rebuilds from the new snapshot (its records have op "r").
//
// # Heartbeats
//
// Positions are saved with records, so on a quiet captured table the saved position would stay where the
// last change was while the server writes binlogs for other tables, and a restart could need a binlog
// purged meanwhile. With Config.HeartbeatInterval (Debezium's heartbeat.interval.ms), whenever that long
// passes without a record Read returns a heartbeat record instead of waiting on (it does not block in the
// binlog past the interval): topic Source.HeartbeatTopic, "__sluice-heartbeat.<TopicPrefix>" (Debezium's
// is "__debezium-heartbeat.<prefix>"); key io.debezium.connector.common.ServerNameKey {serverName:
// TopicPrefix}; value io.debezium.connector.common.Heartbeat {ts_ms}; Operation stream.OpNone. Its
// position is the stream's: the GTID position of the last completed transaction and the file and offset
// just past it, or past the last event read between transactions (events of other databases and the
// server's binlog heartbeats advance it), with nothing to skip; none is sent while the stream is inside a
// transaction. The engine saves it once Kafka acknowledged the heartbeat, so the saved position follows
// the server. Config.HeartbeatQuery (Debezium's heartbeat.action.query) runs before each heartbeat, so a
// server without any traffic still writes events to move past. Declare the topic in the topology:
// Validate fails naming HeartbeatTopic when it is missing (sources.TopicRequirer).
//
// # Binlog retention
//
// While a task is open, a guard on a goroutine of its own compares, every Config.RetentionCheckInterval
// (default 1 minute), the binlog file holding the task's position (the file the stream reads, or the
// snapshot's binlog position) with SHOW BINARY LOGS and the server's expiry (binlog_expire_logs_seconds,
// else expire_logs_days). The margin is how long until that file is purged: expiry minus the file's age,
// where the age is taken from the binlog time of the last transaction event read (the file was last
// written at or after it, so the margin is a lower bound); +Inf for the file being written or with expiry
// off; 0 once the file was purged; unknown (NaN) before the stream read a transaction. It is exported as
// the gauge sluice_mysql_binlog_retention_margin_seconds{pipeline,source,task} (through the registerer of
// metrics.From), and a warning naming the file, the margin, the expiry and the fix (speed up the pipeline,
// raise binlog_expire_logs_seconds) is logged at each check while the margin is below
// Config.RetentionWarnMargin (default 1 hour, time to react when the expiry is days, but at most a quarter
// of the expiry, so that a short expiry does not warn at the first lag; with expiry off only an actual
// purge warns). A file that is the oldest kept is reported "at_risk": a manual PURGE or the next expiry
// removes it first. The guard watches the older of two positions: the one the task reads, and the one
// last saved (the task's reader is a sources.Committer: the engine tells it each saved position), which a
// restart resumes from; the saved position's age is its binlog time (Position.TS).
//
// # Not yet done
//
//   - A DDL statement is recognised by its leading keywords, not fully parsed.
//   - Without HeartbeatInterval, positions advance only with records of captured tables: after a long
//     quiet period for them, a restart re-reads the binlog of other tables from the last record's
//     transaction (nothing is emitted twice).
//   - When never starts without a stored position and no record is emitted before a restart, the restart
//     starts at the then current position again.
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
// Columns are described by information_schema.COLUMNS for the snapshot and by the rows event's TableMap for
// binlog rows (see Column and "DDL" above), and mapped as Debezium maps them with
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
//	UUID (MariaDB)               string, io.debezium.data.Uuid                 string, "aabbccdd-eeff-...", lower case
//	INET4, INET6 (MariaDB)       string                                        string, as SELECT shows it
//	                                                                           ("10.1.2.3", "::ffff:1.2.3.4")
//	POINT                        struct io.debezium.data.geometry.Point        *stream.Struct {x, y float64,
//	                                                                           wkb []byte, srid int32 or nil}
//	GEOMETRY, LINESTRING,        struct io.debezium.data.geometry.Geometry     *stream.Struct {wkb []byte,
//	  POLYGON, MULTI*,             (always optional)                           srid int32 or nil}
//	  GEOMETRYCOLLECTION
//
// Binlog rows give exactly the same values as snapshot rows (checked field by field in the tests): the
// binlog decoder's integers of each width and signedness, DECIMAL text, date and time text (timestamps in
// UTC), ENUM indexes, SET bitmasks, BIT integers, BINARY values without their trailing zero bytes and the
// stored bytes of UUID, INET4 and INET6 are normalised to the values above. A binlog TableMap shows UUID,
// INET4 and INET6 as BINARY(16), BINARY(4) and BINARY(16): the column's current information_schema
// DATA_TYPE (same name, length and nullability) says which it is.
//
// Zero dates ('0000-00-00', '0000-00-00 00:00:00', or any date with a zero month or day) become nil in a
// nullable column and the epoch (1970-01-01, 0 µs, "1970-01-01T00:00:00Z") in a NOT NULL one, as Debezium
// does. Unlike Debezium's adaptive time precision, DATETIME is MicroTimestamp whatever its fsp.
//
// Spatial values are stored as a 4-byte little-endian SRID followed by the OGC WKB, which SELECT and the
// binlog both return: the struct's wkb is that WKB, srid the SRID (nil when 0, as Debezium's
// BinlogGeometry), and a Point's x and y its coordinates (a POINT column's value must be a 2D point). The
// schemas are Debezium 3.6.1's: Geometry version 1 {wkb bytes, srid optional int32}, always optional (its
// builder is), and Point version 1 {x, y float64, wkb optional bytes, srid optional int32}. Debezium 3.6.1
// has no mapping for INET4 and INET6 (its MariaDB DDL grammar does not know them): Sluice emits the text
// SELECT returns, as for other strings.
package mysql
