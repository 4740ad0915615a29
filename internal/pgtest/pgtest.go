// Package pgtest gives tests a private PostgreSQL server with logical replication enabled: the launcher of
// internal/postgres plus testing.TB helpers (Start stops the server when the test ends; Exec and
// CreateDatabase fail the test at the first error). A missing PostgreSQL install is a failure naming the
// package to install, never a skip: the tests that need a server must run.
//
// Start one server per test binary, in TestMain, and share it between the tests (each test using its own
// database):
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) {
//		srv, err := pgtest.Launch()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		pg = srv
//		code := m.Run()
//		srv.Stop()
//		os.Exit(code)
//	}
//
// Tests that need a differently configured server (other settings, a server to kill) start their own with
// Start and options; it stops when the test ends.
package pgtest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"
	"github.com/sluicehq/sluice/internal/postgres"
)

// InstallHint is the fix named in the error when PostgreSQL is not installed.
const InstallHint = postgres.InstallHint

// launchTimeout bounds one launch: initdb (about two seconds) plus start-up, with room for a loaded machine.
const launchTimeout = 2 * time.Minute

// statementTimeout bounds one statement of Exec.
const statementTimeout = time.Minute

// Server is a running private PostgreSQL (see postgres.Server) with test helpers. Its methods are safe for
// concurrent use.
type Server struct {
	*postgres.Server
}

// Option changes how Launch and Start run PostgreSQL.
type Option = postgres.Option

// DataDir keeps the server's data in dir across launches; see postgres.DataDir.
func DataDir(dir string) Option { return postgres.DataDir(dir) }

// Port makes the server listen on port instead of a free one; see postgres.Port.
func Port(port int) Option { return postgres.Port(port) }

// Settings appends server settings (name=value) after the defaults; see postgres.Settings.
func Settings(settings ...string) Option { return postgres.Settings(settings...) }

// Start launches a server for one test (or benchmark) and stops it when tb ends; any failure fails tb.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := Launch(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Launch starts a server, waiting at most two minutes for it to accept connections. The caller must call
// Stop. It is meant for TestMain, where there is no testing.TB; tests use Start.
func Launch(opts ...Option) (*Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), launchTimeout)
	defer cancel()
	s, err := postgres.Launch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &Server{Server: s}, nil
}

// Exec runs each statement as the superuser on the database postgres, in order, each within
// statementTimeout, failing tb at the first error.
func (s *Server) Exec(tb testing.TB, statements ...string) {
	tb.Helper()
	s.exec(tb, s.DB(), statements)
}

// ExecIn is Exec on database db.
func (s *Server) ExecIn(tb testing.TB, db string, statements ...string) {
	tb.Helper()
	pool, err := sql.Open("pgx", s.DSN(db))
	if err != nil {
		tb.Fatalf("pgtest: open database %s: %v", db, err)
	}
	defer pool.Close()
	s.exec(tb, pool, statements)
}

func (s *Server) exec(tb testing.TB, db *sql.DB, statements []string) {
	tb.Helper()
	if err := dbserver.ExecEach(context.Background(), db, statementTimeout, statements...); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
}

// CreateDatabase creates a fresh, empty database called name (dropping one that exists, with its open
// sessions) and returns its DSN.
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	quoted := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	s.Exec(tb, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)", "CREATE DATABASE "+quoted+" ENCODING 'UTF8'")
	return s.DSN(name)
}
