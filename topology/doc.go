// Package topology is how a user declares a pipeline in Go: sources that feed Kafka topics (with ETL
// stages before Kafka) and flows that carry a topic into a sink (with ELT stages after Kafka, and stateful
// steps: Flow.Join of a declared Table, Flow.Keyed for dedupe, aggregates and counts). Run compiles the
// declaration onto goka processors over sarama and runs it; user code never sees goka or sarama.
//
// Guarantees:
//   - A source task's position is saved in its source group's goka table only after Kafka acknowledged every
//     record before it (the highest contiguous acknowledged record), so a crash never skips a record.
//   - A flow commits a partition's offset only up to the highest contiguous record its sink acknowledged.
//   - Replicas started with the same pipeline name share the work: source tasks and topic partitions are
//     spread over them through Kafka consumer groups, and move when one leaves or dies.
//
// Every declaration mistake (a flow without a sink, an unknown codec, a duplicate name, two derived
// consumer groups or topics that would be one, see EngineNames) is reported by Validate, which Run calls
// before it starts anything.
//
// Operator endpoints (on Config.HTTPAddr; docs/api.md is the reference of every endpoint, the operator
// API's included: GET /, /pipelines, /pipelines/{name} and its status, pause, resume, stop, restart,
// offsets, and the status page /ui):
//   - /metrics: Prometheus metrics (see package metrics).
//   - /healthz: 200 {"status":"alive"} while the process runs its pipeline; 503 {"status":"failed","error":...}
//     once the pipeline failed. A stalled pipeline is still alive: restarting it would not help.
//   - /readyz: 200 {"status":"ready"} once every processor is running and nothing is stalled; 503
//     {"status":"starting"} before; 503 {"status":"stalled","stalled":[...]} while a component is stalled,
//     each entry with kind ("flow" or "source"), name, since (its last progress), waits_for (e.g. "sink write
//     of 500 records to elasticsearch index orders at es:9200 (attempt 7: ... no answer within 30s)") and
//     stalled_at. A flow is stalled when records are queued or a sink write is in flight and no batch was
//     acknowledged for Config.StallTimeout; a source when its tasks read records that Kafka has not
//     acknowledged for as long. Each stall and each recovery is logged once (warning, info) and shown by
//     the gauge sluice_stalled{pipeline,component}.
//
// Stopping: a sink write runs with a context that is cancelled a bounded drain (10s) after the flow's
// partitions are revoked or the pipeline stops; what was not written then is delivered again.
//
// # Engine overview: which file holds what
//
// The package is one Go package; its files are split by role. The declaration (the public DSL):
//   - topology.go: Topology, Topic, SourceNode, Flow and their options; Validate.
//   - table.go: Table and the stateful steps Flow.Join and Flow.Keyed; their validation.
//   - config.go: Config, DefaultConfig, ConfigFromEnv.
//   - names.go: every engine name (groups, control, table, loop and output topics), EngineNames, and the
//     collisions Validate refuses.
//   - acls.go: the Kafka ACLs a pipeline needs (Topology.ACLs, GET /pipelines/{name}/acls), the start-up
//     check of the principal's authorized operations, and authorization failures named as missing ACLs.
//   - deadletter.go: dead-letter declarations and headers, and the one dead-letter path every runner uses.
//   - positions.go: Positions, a source's saved task positions read from outside a pipeline.
//   - signal.go: SignalContext.
//
// The runtime (RunWith and what it starts):
//   - run.go: the pipeline runner: RunWith, the start-up order, units (what each consumer group runs), each
//     stopped and started again on its own (runUnit), and their failures, topics and producers.
//   - control.go: the operator's commands: the <pipeline>.commands topic every replica follows (target
//     state RUNNING, PAUSED or STOPPED; restart requests), the pause gates, and the pause, resume, stop and
//     restart endpoints. offsets.go: the offsets endpoints (KIP-875: source positions, committed offsets).
//   - engine.go: goka and sarama plumbing: processor options, the consumer group builder, the topic
//     manager, sarama's configuration, goka's logger. retry.go: consumer groups that outlast a Kafka outage.
//   - limits.go, partitioning.go: start-up checks (the largest record each topic takes; data written with
//     an earlier partitioning). lifecycle.go: Open and Close of stages and sources.
//   - source runner: source.go (a source's processor, control topic, task claims and hand-over), task.go
//     (one task: read, run the ETL stages, produce, save positions), acks.go (the ack tracker behind the
//     highest contiguous acknowledged position), sourceretry.go (transient failures of a task),
//     sourcecommit.go (saved positions handed to a reader that commits them).
//   - flow runner (the sink processor): sink.go (consume, batch, write, commit), sinkretry.go (retryable
//     sink errors), session.go (offsets committed as the sink acknowledges, drained at revocation),
//     topicsink.go (Flow.ToTopic).
//   - stateful runner: stateful.go (how flows are split at their stateful steps, and the parts joins and
//     keyed steps share: decoding, preparing, failing, the wire record), join.go and joinschema.go (a join),
//     keyed.go (a keyed step), commitorder.go (offsets committed in order, which their replays rely on).
//   - stagechain.go: the stage chain: stateless stages run fused, one record at a time, panics caught.
//   - encoding.go: records encoded with their topic's codecs, and the JSON codec of the engine's own
//     messages. newtopics.go: ToRecordTopics' NewTopics, the record topics a source's task creates at run
//     time under a prefix (their codecs, producer and ACLs).
//   - failure.go: how failures are described and reported (which record, which stage, in the user's words).
//   - health.go: the HTTP server (/metrics, /healthz, /readyz) and the stall tracker behind /readyz.
//   - status.go: the operator API's read side (GET /, /pipelines, /pipelines/{name}, its status; JSON 404
//     and 405 for every other path and method), this replica's status and the merge across replicas;
//     statustopic.go: the <pipeline>.status topic every replica publishes on and reads, and the offsets the
//     status's lag comes from; describe.go: the declaration as GET /pipelines/{name} shows it.
//   - observe.go: the connectors' and stages' environment (logger, metrics), stage and dead-letter counters,
//     consumer lag and progress logging, source task states and lag (taskObserver), a flow's byte counters
//     and end-to-end latency (sinkCounters), consumer-group sessions (countRebalances).
//   - ui.go (with the embedded ui/ directory): the status page /ui, the pipeline's graph laid out from the
//     declaration, and /ui/data, the numbers the page refreshes itself from every second.
package topology
