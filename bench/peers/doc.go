// Package peers is the peer benchmark: Sluice against Debezium on Kafka Connect, Benthos and Conduit, on the
// same MariaDB and the same real Kafka broker, in one run (`make bench-peers`). It is a gated test: it runs
// only when SLUICE_BENCH_PEERS=1.
package peers
