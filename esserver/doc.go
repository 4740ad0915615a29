// Package esserver is an in-process, Elasticsearch 8 compatible HTTP server for examples, tests and
// `sluice es serve`. The unmodified go-elasticsearch v8 client (esapi, esutil.BulkIndexer, the typed
// client) talks to it as to a single-node cluster: every response carries X-Elastic-Product: Elasticsearch,
// GET / reports version 8.19.0, and responses and errors have Elasticsearch's documented shapes.
//
//	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0", DataDir: dir})
//	...
//	es, _ := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{srv.URL()}})
//
// # Its place
//
// The server is a product of its own, not part of the Elasticsearch sink: sinks/elasticsearch does not
// import it, so a program built with only the sink compiles and links none of it and none of bleve. It is
// a package of the sluice module, not a module of its own (as franz-go's kfake is), because a module of
// its own would not take bleve out of a sink user's module graph: the CLI (`sluice es serve`), the
// mysql-to-es example and the sink's own tests import the server, so the sluice module requires it and,
// since Go 1.17, lists all of its dependencies (bleve's 19 modules) in go.mod, which is what a consumer's
// module graph is made of. Measured with a local module proxy and an empty module cache (Go 1.26, sluice's
// go.mod as of this move): a program importing only sinks/elasticsearch fetches 9 module zips (12 MB) and
// no bleve file for `go get` plus `go build`; `go mod graph` lists bleve's 19 modules either way; `go mod
// tidy` fetches 75 zips (257 MB, of which bleve and its roaring dependency are about 150 MB) because tidy
// also loads the tests of the packages the program imports, and the sink's tests use this server. Only
// moving those tests out of sinks/elasticsearch would change that number (43 zips, 108 MB, no bleve, with
// the sink's tests removed), and a separate module would not: it would add a second go.mod to version and
// release in lockstep for no change in what a sink user downloads.
//
// # Endpoints
//
//	GET /                                   cluster info
//	PUT|GET|HEAD|DELETE /{index}             create (optional {"mappings":...}), get, exists, delete
//	GET /{index}/_mapping, GET /_mapping     mappings
//	PUT|POST /{index}/_mapping               add fields ({"properties":...}); changing a field's type is refused
//	PUT|POST /{index}/_doc/{id}, POST /{index}/_doc, PUT|POST /{index}/_create/{id}
//	GET|HEAD /{index}/_doc/{id}, GET /{index}/_source/{id}, DELETE /{index}/_doc/{id}
//	                                        get: _source (true, false, fields), _source_includes/_excludes,
//	                                        version (+version_type), realtime, refresh, stored_fields
//	GET|POST /_mget, /{index}/_mget          {"docs":[...]} or {"ids":[...]}, per-doc _source (mget.go)
//	POST /{index}/_update/{id}               partial doc, doc_as_upsert, upsert, detect_noop
//	POST|PUT /_bulk, /{index}/_bulk          index, create, update, delete; gzip bodies accepted
//	GET|POST /[{index}/]_search, _count      see "Search" below
//	POST /[{index}/]_search?scroll=1m, GET|POST /_search/scroll, DELETE /_search/scroll   (scroll.go)
//	GET /_cluster/health[/{index}]           always green; wait_for_* hold at once; level=indices|shards
//	GET|POST /[{index}/]_refresh
//	GET /_cat/indices[/{index}]              text (?v, ?h=) or ?format=json
//	POST /_aliases, PUT|DELETE /{index}/_alias/{name}, GET|HEAD /_alias[/{name}], /{index}/_alias[/{name}]
//	                                        aliases (aliases.go): atomic actions add, remove, remove_index;
//	                                        reads through an alias see all its indices, writes go to its
//	                                        write index (is_write_index, or its only index)
//
// Index expressions accept comma-separated names and * wildcards where Elasticsearch does.
//
// # Conformance
//
// TestYAMLRESTSuite runs Elasticsearch's own YAML REST tests for these APIs (47 files vendored under
// testdata/rest-api-spec, see its README) against the server: of 157 tests in 62 files, 133 are claimed
// and 129 of those pass (97.0%); 5 skip themselves (capabilities, pre-8 clusters) and 19 are not claimed
// (other APIs: get_settings, get_alias, put_alias, close, exists_alias; docvalue_fields; sparse and dense
// vectors; the index.max_result_window setting). testdata/rest-api-spec/differences.tsv lists every
// exception with its reason; three failures come from the one-shard model (below), one from sort formats.
//
// # Semantics
//
// Writes auto-create their index (action.auto_create_index), except deletes with internal versioning,
// which answer index_not_found_exception as Elasticsearch does. Versioning follows Elasticsearch:
// internal (each write increments _version), version_type=external (the given version must be greater
// than the current one) and external_gte (greater or equal), if_seq_no/if_primary_term compare-and-set,
// create conflicts, 409 version_conflict_engine_exception with Elasticsearch's reasons. A delete leaves a
// tombstone that keeps its version for index.gc_deletes (60s); _seq_no counts operations per index,
// _primary_term is always 1.
//
// Dynamic mapping detects boolean, long, float, date (date_detection with the default
// dynamic_date_formats), text with a keyword sub-field (ignore_above 256) and object; arrays take the type
// of their first non-null element; null and [] add nothing. Values are coerced as by default (numbers in
// strings into numeric fields, fractions truncated into integer fields, "true"/"false" into booleans);
// a value that does not fit its field fails the document (or the bulk item) with 400
// document_parsing_exception and a [line:col] reason. "dynamic": "strict" and false are honoured.
//
// GET is realtime; search and count see what was refreshed: ?refresh=true, ?refresh=wait_for (answers after
// the next refresh), the _refresh API, and Config.RefreshInterval (default 1s).
//
// # Durability
//
// With Config.DataDir every acknowledged write, each bulk item included, is appended to DataDir/translog.log
// and fsynced before the response is sent (index.translog.durability=request), with one fsync per request.
// Records are length-prefixed with a CRC-32C; a torn or corrupt tail (a crash mid-write, never acknowledged)
// is truncated at start-up with a warning. Start replays the log (documents, versions, seq_nos, tombstones,
// mappings, index list) and then compacts it into a snapshot of the live state; there is no periodic
// compaction while running, so the log grows with every write until the next Start. An exclusive flock on
// DataDir/LOCK keeps a second server (in any process) off the directory: Start returns ErrDataDirLocked.
// A failed translog write or fsync fails that request and every later write (500) until a restart.
//
// # Search
//
// Search is backed by a bleve index per Elasticsearch index, updated at each refresh. Query types:
// match_all, match_none, match (operator or/and), match_phrase, term, terms, prefix, range (gt, gte, lt,
// lte on numbers, dates with "now[+-N unit][/unit]" math, and strings), bool (must, filter, should,
// must_not, minimum_should_match as an integer, negative integer or percentage), ids and exists. Any other
// query type is a 400 parsing_exception "unknown query [type]". Sort on fields (asc/desc, missing last,
// min/max for arrays), _score and _id; from/size (default 10, max_result_window 10,000);
// track_total_hits true, false or a number (default 10,000, relation "eq" or "gte").
//
// # Aggregations
//
// A search's "aggs" (or "aggregations") run over every document its query matches, "size": 0 included,
// with Elasticsearch's response shapes (aggs.go; compared with a real OpenSearch 2.19 node on the same data
// by TestAggregationsInteropMatchOpenSearch): terms (field, size, min_doc_count >= 1, order by _count,
// _key or a single-value metric sub-aggregation, ties by key ascending; buckets with key and doc_count,
// key_as_string for dates and booleans, doc_count_error_upper_bound always 0, sum_other_doc_count), range
// (numeric fields; from inclusive, to exclusive; buckets sorted by from then to, keys as "1.0-5.0" with
// Java's double notation, keyed), date_histogram (calendar_interval minute to year, weeks from Monday,
// fixed_interval in ms/s/m/h/d counted from the epoch; format, min_doc_count with empty buckets filled
// between the first and last, order, keyed) and the metrics avg, sum, min, max, stats (value_as_string,
// *_as_string for dates and booleans), cardinality (exact) and value_count. terms, range and
// date_histogram take sub-aggregations; "meta" is echoed. A field no index maps aggregates as
// Elasticsearch's unmapped fields do (no buckets, null avg/min/max, sum 0). More than 65,536 buckets in a
// response (search.max_buckets' default) fail the search with 400 too_many_buckets_exception.
//
// # Faults
//
// SetFaults injects failures for retry tests: whole-request 429 es_rejected_execution_exception, 503,
// per-bulk-item 429, added latency, and dropped connections.
//
// # Where it differs from Elasticsearch
//
//   - One node, one primary shard per index, no replicas: _shards is {"total":1,"successful":1,"failed":0},
//     health is always green, index settings in create requests (number_of_shards, refresh_interval,
//     analysis...) are accepted and ignored. Aliases have no filter, routing or hidden flag (refused,
//     400); no data streams, templates, ingest pipelines (the pipeline parameter is ignored), routing
//     (ignored), security or snapshots.
//   - Analysis: text fields use Unicode word segmentation plus lowercasing (Elasticsearch's standard
//     analyzer without its max_token_length detail); mapping parameters such as analyzer, index, doc_values,
//     copy_to or fielddata are stored and echoed but not interpreted. Keyword normalizers are not supported.
//   - Supported field types: text, match_only_text, keyword, constant_keyword, wildcard and ip (all indexed
//     as exact strings), long, integer, short, byte, unsigned_long, double, float, half_float, scaled_float
//     (scaling_factor required; indexed rounded to it, as Elasticsearch's long of value × factor), boolean,
//     binary (base64 checked, kept in _source, not searchable), date (indexed and queried at millisecond
//     precision, as Elasticsearch: "…15.123456Z" is found as "…15.123Z"), date_nanos (nanoseconds; dates
//     before 1970 refused as Elasticsearch refuses them), both within bleve's 1677-2262 range, object, and
//     nested (indexed like object: no nested queries). Other types (geo_*, flattened, dense_vector, ...) are refused
//     with mapper_parsing_exception. Custom date formats support the common java.time letters only.
//   - Scores are BM25 computed by bleve, not Lucene: values differ, ordering is similar. Filter and must_not
//     clauses do not score, but a bool with only filter clauses scores 1.0 per hit, not 0.0.
//   - Sorting on _id is allowed (Elasticsearch 8 disallows it unless indices.id_field_data.enabled is set);
//     ties are broken by bleve's internal order, not by shard/doc order. For a document missing a float sort
//     field the sort value shown is ±Double.MAX_VALUE (Elasticsearch shows ±Infinity, which JSON lacks).
//   - _source filtering (true, false, field lists, includes/excludes with * wildcards, and the
//     _source_includes/_source_excludes parameters) is applied to search hits, get, _source, mget and an
//     update's "get"; docvalue_fields, fields and script_fields are not (hits carry no "fields"), and
//     stored_fields works on get only (fields mapped "store": true). Highlighting, suggesters, point in
//     time, knn, runtime fields, script queries and scripted updates (400) are absent.
//     search_after takes ids, keywords, numbers and dates (epoch milliseconds, nanoseconds for date_nanos,
//     or a string in the field's format); a sort's "format" is not applied (sort values stay numbers).
//     URI search supports only q=* and q=field:value. term, terms and match on _id are ids queries; prefix
//     on _id is refused (400).
//   - Scroll keeps a point-in-time copy of at most 10,000 hits (max_result_window), rendered when the
//     scroll starts; search.max_keep_alive is not enforced; sliced scrolls are absent.
//   - Index settings are not kept: index.max_result_window is always 10,000 (an ids query is not limited by
//     it), number_of_shards is always 1, so a refresh reports one shard per index and makes every pending
//     write of the index visible at once (Elasticsearch refreshes shards separately); _cluster/health of an
//     index that does not exist answers 408 red at once instead of waiting for its timeout.
//   - Aggregations: only those listed under "Aggregations", with only the parameters listed there
//     (shard_size and precision_threshold are accepted and ignored; any other, such as include/exclude,
//     missing, script, extended_bounds, offset or a time_zone other than UTC, is a 400 naming it); no
//     pipeline aggregations, no terms with min_doc_count 0, no range on dates (date_range) and no other
//     bucket types. Results are exact (one shard): cardinality never approximates, terms never has a count
//     error. Failures Elasticsearch raises on a shard (a text field, a keyword field where a number is
//     needed, an order path that names no metric) are answered with that cause as the error itself (the
//     same root_cause), not wrapped in search_phase_execution_exception "all shards failed"; the order path
//     one is a 400 (OpenSearch 2.19 answers 500).
//     float and half_float values aggregate at double precision (Elasticsearch rounds them to their type
//     first: a float 1.1 is the key 1.100000023841858 there).
//   - Tombstones are pruned lazily (at refresh and when the id is written again) once older than 60s, and
//     survive a restart with their original delete time.
//   - Request bodies are not checked against Content-Type, and JSON responses are always
//     "application/json" (Elasticsearch echoes application/vnd.elasticsearch+json;compatible-with=8 when the
//     client asks for it, which the go-elasticsearch client accepts either way). Responses are never gzip
//     compressed. _cat/indices reports docs.deleted 0 and an approximate store size.
//   - Error positions ([line:col]) are the start of the offending JSON token; Elasticsearch's parser
//     positions can differ by a few columns. Query parsing errors report the position of the query name.
//   - Search hits carry _source re-encoded compactly (GET returns it byte for byte, like Elasticsearch).
//   - ?pretty (or ?pretty=true) indents any JSON response, _source included, by two spaces with a final
//     newline, written "key": value where Elasticsearch writes "key" : value; other common options
//     (human, filter_path, error_trace) are ignored.
//   - Exception objects are written in Elasticsearch's key order (root_cause, type, reason, metadata,
//     caused_by), and JSON is not HTML-escaped ("terminateAfter must be > 0"), as Elasticsearch writes it.
package esserver
