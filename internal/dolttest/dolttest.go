// Package dolttest gives tests a private Dolt sql-server acting as a MySQL 8 binlog primary: a real
// MySQL-protocol server (it reports version 8.0.x) that writes a MySQL binlog with UUID-based GTID sets and
// serves it to replicas (COM_BINLOG_DUMP_GTID and COM_BINLOG_DUMP). MySQL itself has no package on this
// machine's registries; Dolt is a Go program served by the Go module proxy.
//
// The dolt binary is built once from the Go module proxy (pinned at Version) into test/dolt/bin/<Version>/
// of the repository (git-ignored), by `make dolt` or by the first Start that finds it missing (under a file
// lock, so that test binaries running side by side build it once). The build needs cgo with g++ and
// libicu-dev, takes about 5 minutes on two cores and makes a binary of about 165 MB. A failed build fails the
// test with the build's output, never a skip.
//
// Each server is configured as a binlog primary before it starts, with the settings Dolt's documentation
// names for it (persisted in the data directory): log_bin=1, gtid_mode=ON (or OFF with GTIDModeOff),
// enforce_gtid_consistency=ON, server_id=42, binlog_format=ROW, binlog_row_metadata=FULL. root has no
// password and connects over TCP on 127.0.0.1.
//
//	srv := dolttest.Start(t)
//	dsn := srv.CreateDatabase(t, "a_shop") // root@tcp(127.0.0.1:port)/a_shop
//	srv.Exec(t, "CREATE TABLE a_shop.t (id INT PRIMARY KEY)")
//
// What Dolt's binlog does differently from MySQL's (measured): FULL row metadata without signedness or
// primary-key columns; the rows of a transaction are its net change per table (an insert then an update of
// a row arrive as one insert); DDL text is regenerated; XID events carry 0; no FLUSH or PURGE BINARY LOGS:
// a new binlog file starts at each server start, and files older than binlog_expire_logs_seconds are
// removed only at start-up (see Restart and ExpireBinlogs); the server takes seconds to exit after SIGTERM.
package dolttest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"
	"github.com/sluicehq/sluice/internal/mavenjars"

	// The MySQL protocol driver, registered as "mysql".
	_ "github.com/go-sql-driver/mysql"
)

// Module and Version are the Dolt module and the pseudo-version (commit 011a27ff4303 of 2026-04-24) that
// the Go module proxy serves and that builds.
const (
	Module  = "github.com/dolthub/dolt/go"
	Version = "v0.40.5-0.20260424001550-011a27ff4303"
)

// BuildTimeout bounds the build of the dolt binary (about 5 minutes on two idle cores).
const BuildTimeout = 25 * time.Minute

// startTimeout bounds configuring and starting one server; stopTimeout how long Stop waits after SIGTERM
// (Dolt takes 8-13 s to exit) before it kills the server.
const (
	startTimeout     = 2 * time.Minute
	stopTimeout      = 40 * time.Second
	statementTimeout = time.Minute
)

// ServerID is the @@server_id of every server this package starts.
const ServerID = 42

// Server is a running private Dolt sql-server. Its methods are safe for concurrent use, except that Stop,
// Restart and the test helpers must not run at the same time as Restart.
type Server struct {
	// Dir is the server's data directory, a Dolt repository served as database "dolt_primary" that holds the
	// persisted settings and the binlog (.dolt/binlog); CREATE DATABASE adds subdirectories. It is removed
	// when the test ends.
	Dir string
	// Port is the 127.0.0.1 TCP port the server listens on (kept across Restart).
	Port int

	bin  string
	home string // HOME for dolt (its global config)
	opts options

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	out      *bytes.Buffer
	outMu    *sync.Mutex
	db       *sql.DB
	stopOnce *sync.Once
}

type options struct {
	gtidOff bool
	persist [][2]string
}

// Option changes how Start configures the server.
type Option func(*options)

// GTIDModeOff starts the server with gtid_mode=OFF: its binlog has anonymous transactions, and replicas
// position themselves by file and offset.
func GTIDModeOff() Option { return func(o *options) { o.gtidOff = true } }

// Persist sets a global system variable (SET @@PERSIST.name = value) before the server starts, for example
// Persist("binlog_expire_logs_seconds", "1").
func Persist(name, value string) Option {
	return func(o *options) { o.persist = append(o.persist, [2]string{name, value}) }
}

// Start builds dolt when needed, starts a server for one test and kills it (removing its data) when tb
// ends; any failure fails tb.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{bin: bin, Dir: filepath.Join(tb.TempDir(), primaryDB), home: tb.TempDir()}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.Port, err = dbserver.FreePort("dolt"); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.configure(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := s.start(ctx); err != nil {
		tb.Fatal(err)
	}
	// At the end nothing of the server is kept: killing it spares Dolt's graceful shutdown, which waits
	// about 30 s once replicas (binlog readers) have connected.
	tb.Cleanup(s.kill)
	return s
}

// primaryDB is the name of Dir's repository (a database of the server). Dolt reads the persisted settings
// of the repository that is the data directory (not of its subdirectories).
const primaryDB = "dolt_primary"

// configure makes the data directory a Dolt repository with the binlog primary settings persisted.
func (s *Server) configure(ctx context.Context) error {
	repo := s.Dir
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return fmt.Errorf("dolttest: %w", err)
	}
	gtid := "ON"
	if s.opts.gtidOff {
		gtid = "OFF"
	}
	settings := [][2]string{{"log_bin", "1"}, {"gtid_mode", gtid}, {"enforce_gtid_consistency", gtid},
		{"server_id", strconv.Itoa(ServerID)}, {"binlog_format", "'ROW'"}, {"binlog_row_metadata", "'FULL'"}}
	settings = append(settings, s.opts.persist...)
	var sets []string
	for _, kv := range settings {
		sets = append(sets, fmt.Sprintf("SET @@PERSIST.%s = %s", kv[0], kv[1]))
	}
	for _, args := range [][]string{
		{"config", "--global", "--add", "user.name", "sluice test"},
		{"config", "--global", "--add", "user.email", "test@sluice.invalid"},
		{"init"},
		{"sql", "-q", strings.Join(sets, "; ")},
	} {
		if err := s.run(ctx, repo, args...); err != nil {
			return err
		}
	}
	return nil
}

// run runs dolt with args in dir, with the server's HOME.
func (s *Server) run(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+s.home, "DOLT_ROOT_PATH="+s.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dolttest: dolt %s: %v\n%s", strings.Join(args, " "), err, dbserver.LastLines(string(out), 20))
	}
	return nil
}

// start runs dolt sql-server on s.Port and waits until it accepts connections.
func (s *Server) start(ctx context.Context) error {
	args := []string{"sql-server", "--host=127.0.0.1", "--port=" + strconv.Itoa(s.Port), "--socket=" + filepath.Join(s.home, "dolt.sock"),
		"--data-dir=" + s.Dir, "--loglevel=warning"}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "HOME="+s.home, "DOLT_ROOT_PATH="+s.home)
	out, outMu := &bytes.Buffer{}, &sync.Mutex{}
	w := lockedWriter{out, outMu}
	cmd.Stdout, cmd.Stderr = w, w
	// If the test binary dies, the kernel stops the server rather than leaking it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dolttest: start dolt sql-server: %w", err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited, s.out, s.outMu, s.stopOnce = cmd, exited, out, outMu, &sync.Once{}
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		s.kill()
		return fmt.Errorf("dolttest: %w", err)
	}
	p := dbserver.Process{
		Name: "dolttest: dolt sql-server", Args: args, Port: s.Port, Exited: exited,
		WaitErr: func() error { s.mu.Lock(); defer s.mu.Unlock(); return s.waitErr },
		Output:  s.Output, Kill: s.kill,
	}
	if err := p.WaitAccepting(ctx, db); err != nil {
		return err
	}
	s.mu.Lock()
	s.db = db
	s.mu.Unlock()
	return nil
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Output returns what the running (or last) server process wrote so far.
func (s *Server) Output() string {
	s.mu.Lock()
	out, mu := s.out, s.outMu
	s.mu.Unlock()
	if out == nil {
		return ""
	}
	mu.Lock()
	defer mu.Unlock()
	return out.String()
}

// DSN returns the go-sql-driver DSN of root on database db ("" for none).
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", s.Port, db)
}

// DB returns a connection pool of root on the running server.
func (s *Server) DB() *sql.DB {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db
}

// Exec runs each statement as root, in order, each within a minute, failing tb at the first error.
func (s *Server) Exec(tb testing.TB, statements ...string) {
	tb.Helper()
	if err := dbserver.ExecEach(context.Background(), s.DB(), statementTimeout, statements...); err != nil {
		tb.Fatalf("dolttest: %v", err)
	}
}

// CreateDatabase creates a fresh, empty database called name (dropping one that exists) and returns its DSN.
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	s.Exec(tb, "DROP DATABASE IF EXISTS `"+name+"`", "CREATE DATABASE `"+name+"`")
	return s.DSN(name)
}

// Restart stops the server (waiting until it exited), applies opts (Persist settings are added) and starts
// it again on the same port and data directory. Dolt starts a new binlog file at each start, and removes
// the files older than binlog_expire_logs_seconds only then.
func (s *Server) Restart(tb testing.TB, opts ...Option) {
	tb.Helper()
	s.Stop()
	for _, o := range opts {
		o(&s.opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var sets []string
	for _, kv := range s.opts.persist {
		sets = append(sets, fmt.Sprintf("SET @@PERSIST.%s = %s", kv[0], kv[1]))
	}
	if len(sets) > 0 {
		if err := s.run(ctx, s.Dir, "sql", "-q", strings.Join(sets, "; ")); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.start(ctx); err != nil {
		tb.Fatal(err)
	}
}

// BinlogFiles returns the paths of the server's binlog files on disk, oldest first.
func (s *Server) BinlogFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(s.Dir, ".dolt", "binlog", "binlog-*"))
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// Stop stops the server: SIGTERM, then SIGKILL if it has not exited within stopTimeout. It waits until the
// process exited. Stop is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited, once, db := s.cmd, s.exited, s.stopOnce, s.db
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	once.Do(func() {
		if db != nil {
			db.Close()
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			s.kill()
		}
	})
}

// kill kills the server process (SIGKILL) and waits until it exited.
func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited, db := s.cmd, s.exited, s.db
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if db != nil {
		db.Close()
	}
	_ = cmd.Process.Kill()
	<-exited
}

var buildMu sync.Mutex

// Binary returns the path of the pinned dolt binary, building it first when it is missing (see the package
// doc). Concurrent callers, in this process or in others, build it once.
func Binary() (string, error) {
	root, err := mavenjars.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("dolttest: %w", err)
	}
	dir := filepath.Join(root, "test", "dolt", "bin", Version)
	bin := filepath.Join(dir, "dolt")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("dolttest: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("dolttest: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("dolttest: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	return bin, Build(bin)
}

// Build builds the pinned dolt into the file bin (written atomically) with `go install` from the Go module
// proxy, within BuildTimeout.
func Build(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	tmp, err := os.MkdirTemp(filepath.Dir(bin), "build-")
	if err != nil {
		return fmt.Errorf("dolttest: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", Module+"/cmd/dolt@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("not done after %v", BuildTimeout)
		}
		return fmt.Errorf("dolttest: build dolt %s (go install %s/cmd/dolt@%s; needs g++ and libicu-dev: apt-get install g++ libicu-dev): %v\n%s",
			Version, Module, Version, err, dbserver.LastLines(string(out), 30))
	}
	if err := os.Rename(filepath.Join(tmp, "dolt"), bin); err != nil {
		return fmt.Errorf("dolttest: %w", err)
	}
	fmt.Fprintf(os.Stderr, "dolttest: built dolt %s in %v: %s\n", Version, time.Since(start).Round(time.Second), bin)
	return nil
}
