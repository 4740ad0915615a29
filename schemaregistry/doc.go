// Package schemaregistry is Sluice's schema registry: an embedded one that keeps its state in an ordered
// durable log (a compacted one-partition Kafka topic in a pipeline, see internal/registrylog) and serves
// Confluent Schema Registry's REST API, and a Client for an external Confluent-compatible registry. Both
// implement stream.SchemaRegistry, which topic-bound codecs (Avro in Confluent's wire format) use.
//
// # Ids and versions
//
// Ids are global and the same on every replica: a replica never assigns one from its own state. It
// appends a registration record (with a key of its own, so that compaction never removes or reorders it)
// and waits until it has read the log up to that record; applying the records in log order decides the
// id and the version, and whether the compatibility rule refuses the schema ("the first record wins").
// Identical schema text has one id in every subject, as in Confluent's registry; the text is compared in
// a normalized form, which is also the text the API serves: for AVRO the full JSON form as
// github.com/hamba/avro writes it (full names, no whitespace, docs, aliases and properties kept) with every
// default exactly as registered (longs beyond 2^53, bytes, decimal and fixed defaults included), as
// Confluent's registry serves Java Avro's JSON form with the registered defaults.
//
// # Compatibility
//
// Levels BACKWARD (the default), BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE
// and NONE, per subject with a global default, are checked against the subject's live (not soft-deleted)
// versions. AVRO schemas are checked with Avro's schema resolution rules (field added or removed without a
// default, type promotions int->long->float->double and string<->bytes, unions, enum symbols, fixed sizes,
// record names and aliases, nested records, arrays and maps); a refusal names the field, its record, the
// rule and the version, e.g.
//
//	schema for subject "shop.orders-value" is incompatible under FORWARD: field "note" (in record
//	shop.orders.Value) was removed and has no default in the previous version 3
//
// and wraps stream.ErrIncompatibleSchema. JSON schemas are validated as JSON and stored, but no
// compatibility rule is checked for them (every level behaves as NONE, except that a subject cannot
// change its schema type). PROTOBUF schemas and schema references are not supported (42201).
//
// # Differences from Confluent's registry
//
//   - Every write (registration, delete, configuration change) is a record of its own in the log, kept
//     forever; permanent deletes are records too, not tombstones. A refused registration that got past
//     the replica's own check (a race with another replica) stays in the log as a refused record.
//   - Every replica accepts writes (there is no primary, so 50003 is never answered); reads are served from
//     the replica's copy after catching up with the log's end.
//   - GET /config/{subject} without a subject-level level answers 40408 unless ?defaultToGlobal=true, as
//     Confluent Platform 7 does.
//   - Modes other than READWRITE (READONLY, READONLY_OVERRIDE, IMPORT) are not implemented: GET /mode
//     answers READWRITE and PUT /mode refuses any other mode (42205). Contexts, metadata and rule sets are
//     not implemented.
//   - Every replica on one log must be given the same EmbeddedOptions.DefaultCompatibility.
package schemaregistry
