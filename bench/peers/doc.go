// Package peers is the peer benchmark: Sluice against Debezium on Kafka Connect, Benthos and Conduit, on the
// same MariaDB and the same real Kafka broker, in one run (`make bench-peers`). It is a gated test: it runs
// only when SLUICE_BENCH_PEERS=1.
//
// TestPeerBenchmarks (peers_test.go) starts one private MariaDB (internal/mariadbtest, database bench), one
// real Kafka 4.4 node (internal/kafkatest) and, for the end-to-end phase, one OpenSearch 2.19 node
// (internal/opensearchtest); prepares every selected tool (Tool.Prepare: builds, downloads); loads the
// snapshot table; then runs, for each round, each phase for each tool, the tools in an order rotated by one
// each round:
//
//   - snapshot: a fresh start copies the table snap (PEERS_SNAPSHOT_ROWS rows) into Kafka;
//   - streaming: a tool streaming the empty table stream_r<round>_<tool> is stopped, PEERS_STREAM_CHANGES row
//     changes are written (inserts, updates, deletes in transactions of 1-100), and the resumed tool catches up;
//   - end-to-end: PEERS_E2E_RATE single-row commits per second into e2e_r<round>_<tool> for PEERS_E2E_SECONDS,
//     each timed from its COMMIT to its document being readable in the index e2e-r<round>-<tool>.
//
// Every figure is taken the same way for every tool, from outside it: the target topic's end offsets (polled
// every 50 ms) give start-up (Start -> first record) and the rate (rows / first record -> last record); the
// topic is then consumed and its records with a non-null value counted, which must equal the rows written
// exactly, or the figure is marked failed. CPU seconds and peak resident memory are those of
// Running.Processes() and their descendants (/proc, sampled every 200 ms). A tool that fails anywhere (prepare,
// start, stop, a count, a deadline) is reported with what was seen, the other tools go on, and the test fails
// at the end.
//
// Variables (defaults in parentheses):
//
//	SLUICE_BENCH_PEERS=1      run at all (make bench-peers sets it)
//	PEERS_TOOLS=a,b           the tools to run (every registered one); "selftest" adds the harness's own
//	                          in-process tool (harness_selftest_test.go), to exercise the harness alone
//	PEERS_SNAPSHOT_ROWS=n     rows of the snapshot table (1000000)
//	PEERS_STREAM_CHANGES=n    row changes of the streaming phase (200000)
//	PEERS_E2E_RATE=n          end-to-end commits per second (200)
//	PEERS_E2E_SECONDS=n       end-to-end measured seconds, after a 5 s warm-up (30)
//	PEERS_ROUNDS=n            rounds (2)
//	PEERS_PHASES=a,b          snapshot, streaming, end-to-end (all)
//	PEERS_RESULTS=dir         where the report goes (bench/peers/results/<YYYY-MM-DD>)
//
// The report: results.md (the machine, the workload, one table per phase, each tool's version, configuration
// files, delivery guarantee and record format, prepare times, the run's wall time and the command that
// reproduces it), results.json (every round's raw figures) and the charts snapshot-rate.png,
// streaming-rate.png, cpu.png, memory.png and e2e-latency.png. A run into the default directory also rewrites
// bench/peers/results/README.md to point at it.
//
// Each tool is an adapter (<tool>_test.go) implementing Tool (tool_test.go) and registering itself from init.
package peers
