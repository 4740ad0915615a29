# Sluice: `make test` is what CI runs (see .ci/run); `make bench` the benchmarks; `make lint` the checks.
GO ?= go

.PHONY: debezium-jars test bench bench-all bench-peers bench-peers-smoke lint deps kafka-deps kafka-jars test-kafka test-interop test-long test-mysql8 dolt fuzz connect-jars python-venv opensearch-jars

# deps installs what the tests drive (kcat, MariaDB) when missing, or names the command that does.
deps:
	@bash test/deps.sh

kafka-deps:
	@bash test/deps.sh kafka

# Four test packages at a time: most integration tests wait on servers (a whole run uses about 0.6 of one
# core with the default of two), so this halves the wall time. Then every decoder is fuzzed briefly.
TEST_P ?= 4

test: deps
	$(GO) test -count=1 -p $(TEST_P) -timeout 14m ./...
	@$(MAKE) --no-print-directory fuzz

# fuzz runs each decoder's fuzz target for FUZZTIME (make test: 3s each; longer by hand, e.g. FUZZTIME=5m).
# A failing input is written under the package's testdata/fuzz and fails the run.
FUZZTIME ?= 3s
FUZZ_TARGETS := ./stream:FuzzJSONSchemaDecode ./formats/avro:FuzzDecode ./formats/avro:FuzzStreamSchema \
	./schemaregistry:FuzzApplyRecord ./schemaregistry:FuzzRegisterRequest ./stages:FuzzParseJSON \
	./stages:FuzzParseCSV ./sources/file:FuzzReadLines ./sources/postgres:FuzzConvert \
	./sources/mysql:FuzzBinlogNative

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg > /tmp/sluice-fuzz.$$$$.log 2>&1 || { cat /tmp/sluice-fuzz.$$$$.log; rm -f /tmp/sluice-fuzz.$$$$.log; exit 1; }; \
		rm -f /tmp/sluice-fuzz.$$$$.log; \
	done

# bench runs the benchmarks README.md quotes BENCH_COUNT times each, prints their table (median ratio and
# min-max) and rewrites it in README.md between <!-- bench:start --> and <!-- bench:end -->. About 4 minutes
# on an idle machine, up to about 9 when it is busy.
BENCH_COUNT ?= 3

bench:
	GO=$(GO) $(GO) run ./internal/benchtable -count $(BENCH_COUNT) -readme README.md

# bench-peers is the peer benchmark of bench/peers (issue 20): Sluice, Debezium on Kafka Connect, Benthos 4.27 (MIT,
# the last release before it became Redpanda Connect) and Conduit on one private MariaDB, one real Kafka 4.4 broker and one OpenSearch
# node, two interleaved rounds of snapshot (1,000,000 rows), streaming catch-up (200,000 changes) and end-to-end
# latency. It builds or downloads each tool first (about 12 minutes in all with warm caches; the test's timeout
# is 45 minutes on two cores), and writes results.md, results.json
# and PNG charts into bench/peers/results/<date> (PEERS_* variables size a smaller run: see bench/peers/doc.go).
bench-peers: kafka-deps kafka-jars opensearch-jars
	SLUICE_BENCH_PEERS=1 $(GO) test -count=1 -timeout 45m -run TestPeerBenchmarks -v ./bench/peers

# bench-peers-smoke is what .ci/run runs of it on a fresh machine: every tool built or fetched, each adapter's smoke
# test (start, count, stop, changes, resume, exact count; Sluice's end-to-end part on OpenSearch too), then the
# whole harness at a small size (20,000 rows, 5,000 changes, 10 s end to end, 1 round) into a temporary directory.
bench-peers-smoke: kafka-deps kafka-jars opensearch-jars
	SLUICE_BENCH_PEERS=1 SLUICE_TEST_INTEROP=1 PEERS_SNAPSHOT_ROWS=20000 PEERS_STREAM_CHANGES=5000 PEERS_E2E_SECONDS=10 \
		PEERS_ROUNDS=1 PEERS_RESULTS=$$(mktemp -d) $(GO) test -count=1 -timeout 30m -run 'AdapterSmoke|TestPeerBenchmarks' -v ./bench/peers

# bench-all runs every benchmark of the module once (the micro-benchmarks too); it writes nothing.
bench-all:
	$(GO) test -run '^$$' -bench . -benchtime 3x -count 1 ./...

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt: the files above need formatting"; exit 1)
	$(GO) vet ./...

# The real Apache Kafka of test/kafka/pom.xml: its jars in test/kafka/lib (git-ignored), fetched again when the
# pom is newer than the last complete fetch. internal/kafkatest does the same by itself when they are missing.
KAFKA_LIB := test/kafka/lib

kafka-jars: $(KAFKA_LIB)/.complete

# Every jar directory test/<name> (kafka, opensearch, connect, debezium) is fetched by one rule: Maven copies the
# runtime dependencies of test/<name>/pom.xml into lib.new, which replaces lib once complete (lib/.complete, the
# stamp internal/mavenjars checks too).
test/%/lib/.complete: test/%/pom.xml
	rm -rf test/$*/lib.new
	cd test/$* && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib.new -DincludeScope=runtime
	touch test/$*/lib.new/.complete
	rm -rf test/$*/lib && mv test/$*/lib.new test/$*/lib

# Every integration test that asks internal/kafkatest.Brokers runs against a real Kafka 4.4 cluster.
test-kafka: kafka-deps kafka-jars
	SLUICE_TEST_KAFKA=real $(GO) test -count=1 -timeout 28m ./...

# Interop tests (named Test*Interop*): third-party clients (Confluent's Python client, Kafka Connect's
# JsonConverter, Kafka's console tools) and a real OpenSearch node; each skips unless SLUICE_TEST_INTEROP=1.
test-interop: kafka-deps kafka-jars connect-jars python-venv opensearch-jars
	SLUICE_TEST_INTEROP=1 $(GO) test -count=1 -timeout 40m -run Interop ./...

# Long tests (named Test*Long*, minutes each: a 10-minute quiet table with heartbeats, an incremental snapshot
# of 1,000,000 rows under load); each skips unless SLUICE_TEST_LONG=1.
test-long: deps
	SLUICE_TEST_LONG=1 $(GO) test -count=1 -timeout 40m -run Long ./...

# The MySQL 8 binlog primary of internal/dolttest: Dolt, built from the Go module proxy at the version pinned in
# internal/dolttest (cgo: g++ and libicu-dev; about 5 minutes on two cores, 165 MB) into test/dolt/bin/<version>/
# (git-ignored). internal/dolttest builds it by itself when it is missing.
DOLT_VERSION := $(shell sed -n 's/^\tVersion = "\(.*\)"$$/\1/p' internal/dolttest/dolttest.go)
DOLT_BIN := test/dolt/bin/$(DOLT_VERSION)/dolt

dolt: $(DOLT_BIN)

$(DOLT_BIN):
	rm -rf $(@D).new && mkdir -p $(@D).new
	GOBIN=$(abspath $(@D).new) GOFLAGS=-mod=mod CGO_ENABLED=1 $(GO) install github.com/dolthub/dolt/go/cmd/dolt@$(DOLT_VERSION)
	mkdir -p $(@D) && mv $(@D).new/dolt $@ && rm -rf $(@D).new

# The MySQL-flavour tests of sources/mysql (named Test*MySQL8*) against Dolt as a MySQL 8 primary; each skips
# unless SLUICE_TEST_MYSQL8=1.
test-mysql8: deps dolt
	SLUICE_TEST_MYSQL8=1 $(GO) test -count=1 -timeout 20m -run MySQL8 ./sources/mysql/...

# The real OpenSearch 2.19 node of internal/opensearchtest (test/opensearch/pom.xml: the server, its Netty HTTP
# layer, the common analyzers): its jars in test/opensearch/lib (git-ignored), fetched again when the pom is
# newer. internal/opensearchtest does the same by itself when they are missing, and compiles the launcher.
OPENSEARCH_LIB := test/opensearch/lib

opensearch-jars: $(OPENSEARCH_LIB)/.complete

# Kafka Connect's own JsonConverter for test/interop (connect-json and kafka-clients 4.4.0 of
# test/connect/pom.xml): its jars in test/connect/lib (git-ignored), fetched again when the pom is newer.
# test/interop does the same by itself (internal/mavenjars) when they are missing, and compiles the program.
CONNECT_LIB := test/connect/lib

connect-jars: $(CONNECT_LIB)/.complete

# Debezium on Kafka Connect for the peer benchmark (bench/peers, test/debezium/pom.xml): its jars in
# test/debezium/lib (git-ignored), fetched again when the pom is newer. bench/peers does the same by itself.
DEBEZIUM_LIB := test/debezium/lib

debezium-jars: $(DEBEZIUM_LIB)/.complete

# Confluent's Python client for test/interop (test/python/requirements.txt) in a venv at test/python/.venv
# (git-ignored), made again when the requirements are newer than it.
PYTHON ?= python3
PYTHON_VENV := test/python/.venv

python-venv: $(PYTHON_VENV)/.complete

$(PYTHON_VENV)/.complete: test/python/requirements.txt
	rm -rf $(PYTHON_VENV)
	$(PYTHON) -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/python -m pip install -q -r test/python/requirements.txt
	touch $@
