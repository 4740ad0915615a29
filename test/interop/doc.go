// Package interop proves that what Sluice writes to Kafka is read by other people's clients, and the other
// way round (issue 15, acceptance 2, 3 and 5):
//
//   - compression_test.go: for each of none, gzip, snappy, lz4 and zstd, a pipeline writes a topic declared
//     with topology.Compression; the batches on the broker carry that codec, kcat (librdkafka) reads every
//     record back (make test: the embedded broker; make test-kafka: real Kafka), and Kafka's own Java
//     console consumer reads them too, on the embedded broker and on real Kafka (make test-interop).
//   - connect_test.go: Kafka Connect's own JsonConverter (the connect-json 4.4.0 jar, test/connect) reads a
//     json-schema topic written by a pipeline with schemas.enable=true and gets the same values, every type
//     of the data model included (make test-interop).
//   - python_test.go: Confluent's Python client (confluent-kafka 2.16.1 with its schema-registry Avro
//     serializer and deserializer, test/python) consumes an Avro topic through Sluice's embedded registry,
//     and a Sluice flow reads a topic that client's Avro serializer wrote (make test-interop).
//
// Tests named Test...Interop... need Java, Maven or Python and run only with SLUICE_TEST_INTEROP=1
// (`make test-interop`, which first runs `make connect-jars` and `make python-venv`); otherwise they skip,
// naming that command. Run by themselves, the Java ones fetch test/connect/lib with Maven when it is missing
// or older than its pom (internal/mavenjars, as `make connect-jars` does); the Python ones fail naming
// `make python-venv` when the venv is missing. The kcat test on the embedded broker runs in `make test`.
package interop
