// Package mariadb launches a private, binlog-enabled MariaDB server from the machine's MariaDB install (the
// Debian package mariadb-server) on a 127.0.0.1 port: in a temporary data directory that Stop removes, or in
// a directory given with DataDir that keeps its rows, and its port when free, across launches. The runnable examples use it when no
// MySQL DSN is configured; tests use it through internal/mariadbtest, which adds testing.TB helpers.
//
// The server is started exactly as ../shared/DESIGN.md measured it (about one second):
//
//	mariadb-install-db --no-defaults --user=root --datadir=D --auth-root-authentication-method=normal --skip-test-db
//	mariadbd --no-defaults --user=root --datadir=D --socket=D/sock --port=P --bind-address=127.0.0.1
//	  --server-id=1 --log-bin=D/bin --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL
//	  --character-set-server=utf8mb4
//
// root has no password and connects over TCP. A missing MariaDB install is an error naming the package to
// install.
//
//	srv, err := mariadb.Launch(ctx, mariadb.DataDir("data/mariadb"))
//	if err != nil {
//		return err
//	}
//	defer srv.Stop()
//	dsn := srv.DSN("") // root@tcp(127.0.0.1:port)/
//
// The mariadbd process is a child of the caller: if the calling process dies, the kernel kills the server
// (Linux's parent-death signal, which strictly follows the OS thread that started it; the Go runtime ends a
// thread only when a goroutine that locked it exits), so a crashed program leaks no server; a server given
// DataDir recovers its data at the next Launch as after any crash.
package mariadb

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"

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

// Port makes the server listen on port instead of a free one. Without it, a server given DataDir listens
// on the port it had at its last launch (kept in PortFile inside the directory) when that port is free,
// else on a free one.
func Port(port int) Option {
	return func(o *options) { o.port = port }
}

// Option changes how Launch runs mariadbd.
type Option func(*options)

// Flags appends extra mariadbd command-line flags after the defaults (a later flag overrides an earlier
// one), e.g. Flags("--binlog-format=STATEMENT").
func Flags(flags ...string) Option {
	return func(o *options) { o.flags = append(o.flags, flags...) }
}

// TLS makes the server offer TLS with the PEM files given (--ssl-ca, --ssl-cert, --ssl-key): clients may
// then connect encrypted, and users created REQUIRE SSL or REQUIRE X509 must. Plaintext clients (root's DSN,
// the launcher's own readiness check) still connect.
func TLS(caFile, certFile, keyFile string) Option {
	return Flags("--ssl-ca="+caFile, "--ssl-cert="+certFile, "--ssl-key="+keyFile)
}

// WithoutBinlog starts the server without --log-bin and the binlog row flags, as a server never set up for
// replication is.
func WithoutBinlog() Option {
	return func(o *options) { o.binlog = false }
}

// Launch initialises the data directory if it is new, starts mariadbd and waits until it accepts
// connections (at most 30 seconds). The caller must call Stop. ctx bounds the whole launch: when it ends
// first, the half-started server is killed, its temporary directory removed, and ctx's error returned.
// ctx does not bound the running server's life: only Stop (or the calling process's death) ends it.
func Launch(ctx context.Context, opts ...Option) (*Server, error) {
	o := options{binlog: true}
	for _, opt := range opts {
		opt(&o)
	}
	installDB, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		return nil, fmt.Errorf("mariadb: mariadb-install-db not found (%v): %s", err, InstallHint)
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
			return nil, fmt.Errorf("mariadb: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("mariadb: %w", err)
		}
	} else if dir, err = os.MkdirTemp("", "mariadb-"); err != nil {
		return nil, fmt.Errorf("mariadb: %w", err)
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
		return nil, fmt.Errorf("mariadb: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mysql")); err != nil { // not initialised yet
		out, err := exec.CommandContext(ctx, installDB, "--no-defaults", "--user=root", "--datadir="+dir,
			"--auth-root-authentication-method=normal", "--skip-test-db", "--tmpdir="+tmp).CombinedOutput()
		if err != nil {
			remove()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("mariadb: initialise %s: %w", dir, ctx.Err())
			}
			return nil, fmt.Errorf("mariadb: mariadb-install-db: %v\n%s", err, out)
		}
	}
	// A server given DataDir and no Port takes the port it had last time when that is free, so that the
	// client commands and DSNs it printed stay true across restarts.
	stored := 0
	if keep && o.port == 0 {
		stored = storedPort(dir)
		o.port = stored
	}
	// The free port may be taken between looking and binding: try a few.
	var lastErr error
	for range 3 {
		s, err := launch(ctx, mariadbd, dir, o)
		if err == nil {
			s.keep = keep
			if keep {
				// Best effort: without the file the next launch takes a free port, as before.
				_ = os.WriteFile(filepath.Join(dir, PortFile), []byte(strconv.Itoa(s.Port)+"\n"), 0o644)
			}
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		if stored != 0 && o.port == stored {
			o.port = 0 // the stored port was taken meanwhile: a free one
		}
	}
	remove()
	return nil, lastErr
}

// PortFile is the file in a DataDir that holds the port its server last listened on.
const PortFile = "sluice-mariadb.port"

// storedPort is the port dir's server last listened on when it is free now, else 0.
func storedPort(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, PortFile))
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || port <= 0 || port > 65535 {
		return 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0 // taken by someone else: a free port instead
	}
	ln.Close()
	return port
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
	return "", fmt.Errorf("mariadb: mariadbd not found in PATH, /usr/sbin or /usr/local/sbin: %s", InstallHint)
}

// tmpDirFor is the private tmpdir of the server whose datadir is dir.
func tmpDirFor(dir string) string { return dir + "-tmp" }

func launch(ctx context.Context, mariadbd, dir string, o options) (*Server, error) {
	port := o.port
	if port == 0 {
		var err error
		if port, err = dbserver.FreePort("mariadb"); err != nil {
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
		return nil, fmt.Errorf("mariadb: start mariadbd: %w", err)
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
	proc := dbserver.Process{Name: "mariadb: mariadbd", Args: args, Port: port, Exited: s.exited,
		WaitErr: func() error { return s.waitErr }, Output: stderr.String, Kill: s.kill}
	if err := proc.WaitAccepting(ctx, db); err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

// DSN returns a go-sql-driver/mysql DSN for root over TCP, with database db ("" for none), parseTime off
// and the utf8mb4 character set.
func (s *Server) DSN(db string) string {
	return s.UserDSN("root", "", db)
}

// ClientCommand is the mariadb command line that opens a session on the server as root with database db
// ("" for none), ready to copy: mariadb -h 127.0.0.1 -P PORT -u root shop.
func (s *Server) ClientCommand(db string) string {
	cmd := fmt.Sprintf("mariadb -h 127.0.0.1 -P %d -u root", s.Port)
	if db != "" {
		cmd += " " + db
	}
	return cmd
}

// UserDSN is DSN for another user.
func (s *Server) UserDSN(user, password, db string) string {
	return fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/%s?charset=utf8mb4", user, password, s.Port, db)
}

// DB returns a connection pool for root with no default database, shared by all callers and closed by Stop.
func (s *Server) DB() *sql.DB { return s.db }

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
