// Package postgres is a change data capture source for PostgreSQL in the manner of Debezium's PostgreSQL
// connector: logical replication with the built-in pgoutput plugin (through github.com/jackc/pglogrepl and
// pgx's pgconn), and records in Debezium's change-event envelope, so consumers written for Debezium read
// them unchanged.
//
// # Server set-up
//
// wal_level = logical (checked at start-up), a free replication slot and WAL sender (max_replication_slots,
// max_wal_senders), and a user with the REPLICATION attribute that may read the tables. At start-up (Tasks)
// the source checks that every table exists and has a primary key, and creates the publication
// (Config.Publication, default "dbz_publication") FOR TABLE Tables when it is missing, or adds the tables
// missing from it (Debezium's publication.autocreate.mode=filtered); that needs ownership of the tables.
// The slot (Config.Slot, required: Debezium derives none either, and two sources must never share one) is
// created with plugin pgoutput the first time the task opens without a position.
//
// In a topology (see ExampleNew for the configuration checks):
//
//	src, err := postgres.New(postgres.Config{DSN: dsn, Slot: "sluice_shop", Tables: []string{"public.orders"}})
//	if err != nil {
//		return err
//	}
//	t := topology.New("shop")
//	orders := t.Topic(src.Topic("public.orders"))
//	t.Source("cdc", src).To(orders)
//
// # Tasks, topics, records
//
// A source has one task, keyed "postgres:<Slot>" (Source.TaskKey): one slot, one stream. Records of
// schema.table go to topic "<TopicPrefix>.<schema>.<table>" (Source.Topic). A record is:
//
//   - Key: the primary key as a struct, schema "<prefix>.<schema>.<table>.Key".
//   - Value: the envelope, schema "<prefix>.<schema>.<table>.Envelope": before and after (schema
//     "<prefix>.<schema>.<table>.Value"), source (io.debezium.connector.postgresql.Source: version,
//     connector "postgresql", name = TopicPrefix, ts_ms, snapshot, db, sequence, schema, table, txId, lsn),
//     op and ts_ms (when the source read it).
//   - Operation: OpRead (snapshot, op "r"), OpCreate ("c"), OpUpdate ("u"), OpDelete ("d"). Timestamp: the
//     transaction's commit time (the snapshot's start for snapshot rows).
//
// A delete is followed by a tombstone (same key, nil value) unless Config.Tombstones is false. An update
// that changes the primary key becomes a delete of the old key (and its tombstone) and a create of the new
// one, as Debezium does. source.lsn is the LSN of the change, source.txId its transaction id, source.sequence
// ["<end LSN of the previous transaction>","<lsn>"]. TRUNCATE is logged, not published.
//
// Every field of the Value schema is optional (nullable), whatever the column's NOT NULL: PostgreSQL's
// before-images may carry the key columns only (below), and one schema serves both images.
//
// # REPLICA IDENTITY and before-images
//
// What PostgreSQL writes in the WAL decides the before-image, as in Debezium:
//
//   - DEFAULT (the primary key): an update has before = null, unless it changed the key (then a delete of
//     the old key whose before holds only the key columns, and a create); a delete's before holds only the
//     key columns, the other fields null.
//   - FULL: updates and deletes carry the whole old row as before.
//   - USING INDEX: as DEFAULT with that index's columns; deletes then fail (naming the table) unless the
//     index's columns include the primary key's. NOTHING: PostgreSQL refuses updates and deletes of a
//     table that publishes them.
//
// The record key is always the primary key, read from the catalog when a relation message arrives.
//
// # TOAST
//
// An update that leaves a TOASTed (large, stored out of line) value unchanged does not carry it: pgoutput
// sends "unchanged". Keeping the previous value would need state the source does not keep, so the field is
// UnavailableValue ("__debezium_unavailable_value", Debezium's placeholder) for text-like columns, its bytes
// for bytea, null for other types. With REPLICA IDENTITY FULL the old row carries the value and the after
// image takes it from there (measured on PostgreSQL 15: the before-image of FULL is complete).
//
// # Types
//
// Values are read in PostgreSQL's text format (the session runs with TimeZone UTC, DateStyle ISO,
// bytea_output hex, IntervalStyle iso_8601) and mapped as Debezium's defaults do: boolean; int2/int4/int8
// (oid) to int16/int32/int64; float4/float8; numeric(p,s) to Decimal with scale s and parameter
// connect.decimal.precision (unconstrained numeric to its exact text, as decimal.handling.mode=string);
// bytea to bytes; date to Date; time to io.debezium.time.MicroTime; timestamp to
// io.debezium.time.MicroTimestamp; timestamptz to io.debezium.time.ZonedTimestamp (UTC, "...Z"); timetz to
// io.debezium.time.ZonedTime; interval to an ISO 8601 string (interval.handling.mode=string);
// json/jsonb, uuid and xml to strings named io.debezium.data.Json, Uuid and Xml; every other type (arrays,
// enums, ranges, network and geometric types) to its text form.
//
// # Snapshot
//
// With SnapshotInitial (the default), the first Open creates the slot with CREATE_REPLICATION_SLOT ...
// LOGICAL pgoutput EXPORT_SNAPSHOT and reads every table (in name order, each in primary-key order,
// ChunkSize rows per query, keyset pagination) in a REPEATABLE READ transaction that imports the exported
// snapshot (SET TRANSACTION SNAPSHOT): the rows are exactly those the slot's consistent point follows, so
// streaming from that point loses and repeats nothing. A snapshot resumed after a restart, or taken when
// the slot already existed without a saved position, is a new snapshot; streaming then starts at the first
// snapshot's point (or the slot's confirmed_flush_lsn), so rows changed in between may arrive twice and
// none is lost. SnapshotNever streams only.
//
// # Positions and slot progress
//
// See Position: a record's position names the LSN to restart the slot at, its transaction's commit LSN and
// its index in the transaction, so that a restart in the middle of a transaction of 10,000 rows resumes
// exactly after the last record Kafka acknowledged.
//
// The slot's confirmed_flush_lsn tells PostgreSQL which WAL it may recycle and where the slot restarts;
// it must never pass a change that Kafka has not acknowledged. The engine saves a task's position only
// after Kafka acknowledged the records up to it, and then tells the reader (sources.Committer: Commit is
// called once the position's write to the source's group table is acknowledged). The standby status
// updates report (as written, flushed and applied) the LSN of the latest position so saved, or of the
// position the reader was opened at while none is: a position's "lsn", the end of the last transaction
// completed before its record's one, never its "tx" (the record's transaction may have records not yet
// saved). Snapshot positions confirm nothing beyond the slot's consistent point. The slot therefore
// advances while records flow, a transaction behind the pipeline's saved position (a status update goes
// every Config.StatusInterval; the engine saves positions as fast as Kafka acknowledges them), and never
// past a change that Kafka has not acknowledged. One exception cannot lose anything: while every record
// the reader returned is saved (or it returned none) and the last one's transaction is complete, it also
// confirms the end of transactions without captured changes and the server's sent point in keepalives
// received outside a transaction (there is nothing unacknowledged before them), so that once the
// captured tables are quiet the slot moves whenever there is WAL to skip (other tables' changes).
// Config.HeartbeatQuery writes WAL in a quiet database (use a table outside the publication) so that the
// slot moves there too.
//
// Status updates go every Config.StatusInterval while Read runs, and ask the server for a keepalive in
// reply; a server silent for six intervals (at least 30 s) counts as a lost connection. Between Reads (the
// engine busy producing) none go: a pause longer than the server's wal_sender_timeout (60 s by default)
// ends the connection, and the next Read fails with a transient error, so the engine reopens the task.
//
// A slot serves one connection at a time. Open terminates a connection that still streams the slot: the
// engine runs a task in one place at a time, so that connection is a predecessor (a process that lost the
// task or hangs) and terminating it fences it off.
//
// # Errors
//
// A connection that breaks or cannot be made, a server shutting down, starting or in recovery, and a slot
// still held by a connection being terminated fail Open and Read with an error marked sources.Transient:
// the engine reopens the task at its saved position. Every query, replication command and status update
// has a deadline (Config.QueryTimeout, ConnectTimeout).
package postgres
