// Package fidelity holds end-to-end tests that data arrives exactly as the source holds it: every numeric
// type of MariaDB, captured by sources/mysql (snapshot and binlog), through each codec that carries rows,
// into a file sink and into Elasticsearch, compared digit by digit with what MariaDB holds. It has no
// non-test code.
package fidelity
