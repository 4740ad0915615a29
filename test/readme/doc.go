// Package readme holds the tests that keep README.md true (issue 24): its "Five minutes with the main job"
// walkthrough and its replicas recipe run end to end against the real binaries, built from this tree; every
// shell command it shows is either run by a test here or listed with the reason it is not; its Go snippet
// compiles; and its configuration table names exactly the SLUICE_* variables the code reads.
//
//	go test -count=1 ./test/readme
//
// The walkthrough and the replicas recipe need curl and the MariaDB server and client (`make deps`).
package readme
