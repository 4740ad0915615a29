// Package firstpipelines holds the pipelines a newcomer writes first, each a runnable example that `go
// test` runs against the embedded broker (kfake) and the embedded Elasticsearch-compatible server
// (package esserver), checking its output record by record:
//
//   - a JSON-lines file into Elasticsearch, each e-mail masked before it reaches Kafka (Example_jsonLinesToElasticsearch);
//   - a topic written by kcat with JSON values into Elasticsearch (Example_kcatTopicToElasticsearch);
//   - a CSV file into a topic, typed by a schema (Example_csvFileToTopic);
//   - a topic into a file (Example_topicToFile);
//   - a MySQL (MariaDB) table into a topic that kcat reads (Example_mysqlTableToTopic);
//   - a topic into another topic through a filter (Example_filterTopicToTopic).
//
// Example_newcomerMistakes shows the first of them as it is often first written, and what Validate says
// before anything runs: a field mask on lines of text that were never parsed, and record keys taken as
// document ids after a source whose keys are file paths.
//
// Each file holds one pipeline: a function that declares it, in at most about 25 lines, and the example
// that runs it. The examples' set-up (broker, server, temporary files, kcat) is in env_test.go; a real
// program declares the same topology and calls Run, which starts the embedded broker unless SLUICE_BROKERS
// names a cluster.
package firstpipelines
