// Package boundaries holds tests that the import graph keeps the promises the package docs make: the
// Elasticsearch sink builds without the embedded Elasticsearch-compatible server (esserver) and without
// bleve, and runnable programs (the mysql-to-es example, cmd/sluice) start their private MariaDB through
// internal/mariadb, not through the test helper internal/mariadbtest. The tests read the graph with
// `go list -deps`, so they need the go command the tests run under. It has no non-test code.
package boundaries
