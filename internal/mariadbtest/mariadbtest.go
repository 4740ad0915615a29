// Package mariadbtest gives tests a private, binlog-enabled MariaDB server: the launcher of
// internal/mariadb plus testing.TB helpers (Start stops the server when the test ends; Exec and
// CreateDatabase fail the test at the first error). A missing MariaDB install is a failure naming the
// package to install, never a skip: the tests that need a server must run.
//
// Start one server per test binary, in TestMain, and share it between the tests (each test using its own
// database):
//
//	var db *mariadbtest.Server
//
//	func TestMain(m *testing.M) {
//		srv, err := mariadbtest.Launch()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		db = srv
//		code := m.Run()
//		srv.Stop()
//		os.Exit(code)
//	}
//
// Tests that need a differently configured server (no binlog, another binlog format) start their own with
// Start and options; it stops when the test ends.
package mariadbtest

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"
	"github.com/sluicehq/sluice/internal/mariadb"
)

// InstallHint is the fix named in the error when MariaDB is not installed.
const InstallHint = mariadb.InstallHint

// launchTimeout bounds one launch: bootstrap (about a second) plus start-up, with room for a loaded machine.
const launchTimeout = 2 * time.Minute

// statementTimeout bounds one statement of Exec.
const statementTimeout = time.Minute

// Server is a running private mariadbd (see mariadb.Server) with test helpers. Its methods are safe for
// concurrent use.
type Server struct {
	*mariadb.Server
}

// Option changes how Launch and Start run mariadbd.
type Option = mariadb.Option

// DataDir keeps the server's data in dir across launches; see mariadb.DataDir.
func DataDir(dir string) Option { return mariadb.DataDir(dir) }

// Port makes the server listen on port instead of a free one; see mariadb.Port.
func Port(port int) Option { return mariadb.Port(port) }

// Flags appends extra mariadbd command-line flags after the defaults; see mariadb.Flags.
func Flags(flags ...string) Option { return mariadb.Flags(flags...) }

// TLS makes the server offer TLS with the given PEM files; see mariadb.TLS.
func TLS(caFile, certFile, keyFile string) Option { return mariadb.TLS(caFile, certFile, keyFile) }

// WithoutBinlog starts the server without the binary log; see mariadb.WithoutBinlog.
func WithoutBinlog() Option { return mariadb.WithoutBinlog() }

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
	s, err := mariadb.Launch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &Server{Server: s}, nil
}

// Exec runs each statement as root, in order, each within statementTimeout, failing tb at the first error.
func (s *Server) Exec(tb testing.TB, statements ...string) {
	tb.Helper()
	if err := dbserver.ExecEach(context.Background(), s.DB(), statementTimeout, statements...); err != nil {
		tb.Fatalf("mariadbtest: %v", err)
	}
}

// CreateDatabase creates a fresh, empty database called name (dropping one that exists) and returns its DSN.
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	s.Exec(tb, "DROP DATABASE IF EXISTS `"+name+"`", "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
	return s.DSN(name)
}
