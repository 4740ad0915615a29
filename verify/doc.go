// Package verify proves that an Elasticsearch index equals the MySQL/MariaDB table a pipeline feeds it
// from, reports the documents that differ, and repairs them through the pipeline (sluice verify).
//
// # What is compared
//
// Each row becomes the document the pipeline would write for it, by the pipeline's own code: the row is
// read again as the MySQL source's snapshot record (mysql.Rereader: same key, schemas and Debezium
// envelope), encoded and decoded with the source topic's codecs (Config.KeyCodec, ValueCodec; decoding a
// schema'd message is the dearest step, so it is done for a sample of each chunk's rows and, from the
// first sample whose document it changes, for every row), passed through the flow's stateless stages
// (Config.Stages; default stages.Unwrap, called concurrently as the engine calls them) and rendered by
// the Elasticsearch sink (elasticsearch.Sink.Render with the pipeline's sink Config: index, id template,
// decimal mapping, dates). So numbers are compared exactly (decimals by their digits: 42.00 equals 42.0,
// never through a float64) and dates as the sink formats them. Instead of the stages and the sink, a Go
// function (Config.Transform) can say what document a row becomes.
//
// Documents are compared as JSON values: object fields by name whatever their order, numbers by their
// exact decimal value, everything else by equality. A difference names the top-level (or dotted nested)
// fields that differ, with both values.
//
// # How
//
// The table is read in primary-key chunks (keyset pagination, Config.ChunkSize rows, default 1,000), each
// chunk in a consistent-snapshot transaction of its own: no lock, no FLUSH, nothing the live pipeline
// would wait for. For each chunk the matching documents are fetched with one ids query. A second pass
// walks every id of the index (sorted by _id, search_after) to find documents without a row.
//
// Rows change while a long run goes on, and the live pipeline carries those changes into the index a
// little later. So no difference is reported at first sight: each one found is checked again once, after
// Config.Settle (default 5 s) and an index refresh, by reading the row and the document again. What then
// agrees was in flight; a row that makes another document than at first sight changed in between, a
// change the pipeline is carrying, and is not reported either (Report.Changed counts those: if the
// pipeline is stopped, run verify again); only what still differs for an unchanged row is reported.
//
// # Repair
//
// Repair never writes to the index. It produces, into the pipeline's source topic, what the MySQL source
// would emit: for a missing or different document, a read event (op "r", source.snapshot "incremental",
// as Debezium's incremental snapshot) of the row's current state; for an extra document, a delete event
// (op "d") and a tombstone for its key. The running flow carries them into the index like any change,
// with the source's sluice.version header as the document's external version: that of the binlog position
// the row was read at (mysql.VersionHeader), so a repair replaces a document older than the row and loses
// to a change streamed after the read. RepairConfig.Wait then polls the repaired keys until they verify
// clean.
//
// # Limits
//
//   - The id pass needs search_after on _id: Elasticsearch 8 allows sorting on _id only with
//     indices.id_field_data.enabled (a point in time with _shard_doc is not used yet); the embedded
//     esserver allows it.
//   - Extra documents are repaired (and re-checked against the table) only when their id splits into the
//     key (the default {key} id rule); with another id rule or a Transform they are reported only.
//   - Stateful steps (joins, aggregates) are not reproduced: verify a flow whose document is made from
//     the row by stateless stages.
//   - A repaired write carries the version of the position it was read at, like every write of the
//     source: a document written behind the pipeline's back with a higher external version keeps winning
//     (the sink counts the 409 as "already newer"), and RepairConfig.Wait reports it as not repaired. With
//     the source's Config.NoVersionHeader, the repair's Kafka offset is its version.
//   - Ids of the table are held in memory for the index pass (about 50 bytes a row).
package verify
