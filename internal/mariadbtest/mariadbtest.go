// Package mariadbtest starts a private, binlog-enabled MariaDB server for tests, from the machine's MariaDB
// install (the Debian package mariadb-server), in a temporary data directory on a free 127.0.0.1 port.
//
// The server is started exactly as ../shared/DESIGN.md measured it (about one second):
//
//	mariadb-install-db --no-defaults --user=root --datadir=D --auth-root-authentication-method=normal --skip-test-db
//	mariadbd --no-defaults --user=root --datadir=D --socket=D/sock --port=P --bind-address=127.0.0.1
//	  --server-id=1 --log-bin=D/bin --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL
//	  --character-set-server=utf8mb4
//
// root has no password and connects over TCP. A missing MariaDB install is a failure naming the package to
// install, never a skip: the tests that need a server must run.
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
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	// The MySQL protocol driver, registered as "mysql".
	_ "github.com/go-sql-driver/mysql"
)

// InstallHint is the fix named in the error when MariaDB is not installed.
const InstallHint = "apt-get install mariadb-server"

// Server is a running private mariadbd. Its methods are safe for concurrent use.
type Server struct {
	// Dir is the server's data directory (removed by Stop).
	Dir string
	// Port is the 127.0.0.1 TCP port the server listens on.
	Port int

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	waitErr  error
	stderr   *bytes.Buffer
	stopOnce sync.Once
	db       *sql.DB
	keep     bool // the data directory outlives the server (DataDir)
}

type options struct {
	binlog  bool
	flags   []string
	dataDir string
	port    int
}

// DataDir keeps the server's data in dir: initialised there on first use, reused on later launches, and
// left in place by Stop, so that an application's private server keeps its rows across restarts.
func DataDir(dir string) Option {
	return func(o *options) { o.dataDir = dir }
}

// Port makes the server listen on port instead of a free one, e.g. to restart a server given DataDir on
// the port its clients' DSNs name: Launch(DataDir(d), Port(old.Port)) after old.Stop().
func Port(port int) Option {
	return func(o *options) { o.port = port }
}

// Option changes how Launch and Start run mariadbd.
type Option func(*options)

// Flags appends extra mariadbd command-line flags after the defaults (a later flag overrides an earlier
// one), e.g. Flags("--binlog-format=STATEMENT").
func Flags(flags ...string) Option {
	return func(o *options) { o.flags = append(o.flags, flags...) }
}

// WithoutBinlog starts the server without --log-bin and the binlog row flags, as a server never set up for
// replication is.
func WithoutBinlog() Option {
	return func(o *options) { o.binlog = false }
}

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

// Launch starts a server and waits until it accepts connections. The caller must call Stop. It is meant for
// TestMain, where there is no testing.TB; tests use Start.
func Launch(opts ...Option) (*Server, error) {
	o := options{binlog: true}
	for _, opt := range opts {
		opt(&o)
	}
	installDB, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		return nil, fmt.Errorf("mariadbtest: mariadb-install-db not found (%v): %s", err, InstallHint)
	}
	mariadbd, err := findMariadbd()
	if err != nil {
		return nil, err
	}
	keep := o.dataDir != ""
	dir := o.dataDir
	if keep {
		// mariadb-install-db resolves a relative datadir against its own basedir (/usr), not the working
		// directory.
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("mariadbtest: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("mariadbtest: %w", err)
		}
	} else if dir, err = os.MkdirTemp("", "mariadbtest-"); err != nil {
		return nil, fmt.Errorf("mariadbtest: %w", err)
	}
	remove := func() {
		if !keep {
			os.RemoveAll(dir)
			os.RemoveAll(tmpDirFor(dir))
		}
	}
	// A private tmpdir beside the datadir (inside it, it would show up as a database): servers and
	// bootstraps of test binaries running side by side collide on temporary-table files in a shared /tmp
	// (seen: "Could not remove temporary table: '/tmp/#sql-temptable-...'", then "Installation of system
	// tables failed").
	tmp := tmpDirFor(dir)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		remove()
		return nil, fmt.Errorf("mariadbtest: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mysql")); err != nil { // not initialised yet
		out, err := exec.Command(installDB, "--no-defaults", "--user=root", "--datadir="+dir,
			"--auth-root-authentication-method=normal", "--skip-test-db", "--tmpdir="+tmp).CombinedOutput()
		if err != nil {
			remove()
			return nil, fmt.Errorf("mariadbtest: mariadb-install-db: %v\n%s", err, out)
		}
	}
	// The free port may be taken between looking and binding: try a few.
	var lastErr error
	for range 3 {
		s, err := launch(mariadbd, dir, o)
		if err == nil {
			s.keep = keep
			return s, nil
		}
		lastErr = err
	}
	remove()
	return nil, lastErr
}

func findMariadbd() (string, error) {
	if p, err := exec.LookPath("mariadbd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mariadbd", "/usr/local/sbin/mariadbd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("mariadbtest: mariadbd not found in PATH, /usr/sbin or /usr/local/sbin: %s", InstallHint)
}

// tmpDirFor is the private tmpdir of the server whose datadir is dir.
func tmpDirFor(dir string) string { return dir + "-tmp" }

func launch(mariadbd, dir string, o options) (*Server, error) {
	port := o.port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	tmp := tmpDirFor(dir) // private, see Launch
	args := []string{"--no-defaults", "--user=root", "--datadir=" + dir, "--socket=" + filepath.Join(dir, "sock"),
		"--tmpdir=" + tmp, fmt.Sprintf("--port=%d", port), "--bind-address=127.0.0.1", "--server-id=1"}
	if o.binlog {
		args = append(args, "--log-bin="+filepath.Join(dir, "bin"), "--binlog-format=ROW",
			"--binlog-row-image=FULL", "--binlog-row-metadata=FULL")
	}
	args = append(args, "--character-set-server=utf8mb4")
	args = append(args, o.flags...)
	cmd := exec.Command(mariadbd, args...)
	stderr := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// If the test binary dies, the kernel stops the server rather than leaking it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mariadbtest: start mariadbd: %w", err)
	}
	s := &Server{Dir: dir, Port: port, cmd: cmd, exited: make(chan struct{}), stderr: stderr}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		s.kill()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-s.exited:
			db.Close()
			return nil, fmt.Errorf("mariadbtest: mariadbd %s exited before accepting connections: %v\n%s",
				strings.Join(args, " "), s.waitErr, lastLines(stderr.String(), 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			db.Close()
			s.kill()
			return nil, fmt.Errorf("mariadbtest: mariadbd on port %d not accepting connections after 30s: %v\n%s",
				port, err, lastLines(stderr.String(), 20))
		}
	}
	s.db = db
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mariadbtest: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// DSN returns a go-sql-driver/mysql DSN for root over TCP, with database db ("" for none), parseTime off
// and the utf8mb4 character set.
func (s *Server) DSN(db string) string {
	return s.UserDSN("root", "", db)
}

// UserDSN is DSN for another user.
func (s *Server) UserDSN(user, password, db string) string {
	return fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/%s?charset=utf8mb4", user, password, s.Port, db)
}

// DB returns a connection pool for root with no default database, shared by all callers and closed by Stop.
func (s *Server) DB() *sql.DB { return s.db }

// Exec runs each statement as root, in order, failing tb at the first error.
func (s *Server) Exec(tb testing.TB, statements ...string) {
	tb.Helper()
	for _, q := range statements {
		if _, err := s.db.Exec(q); err != nil {
			tb.Fatalf("mariadbtest: %s: %v", q, err)
		}
	}
}

// CreateDatabase creates a fresh, empty database called name (dropping one that exists) and returns its DSN.
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	s.Exec(tb, "DROP DATABASE IF EXISTS `"+name+"`", "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
	return s.DSN(name)
}

// Stop shuts the server down (SIGTERM, then waits for it to exit; SIGKILL after 30 seconds) and removes its
// data directory, unless it was given with DataDir. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.db != nil {
			s.db.Close()
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.kill()
		}
		if !s.keep {
			os.RemoveAll(s.Dir)
			os.RemoveAll(tmpDirFor(s.Dir))
		}
	})
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}
