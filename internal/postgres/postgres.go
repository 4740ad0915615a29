// Package postgres launches a private PostgreSQL server with logical replication enabled, from the machine's
// PostgreSQL install (the Debian package postgresql), on a 127.0.0.1 port: in a temporary data directory that
// Stop removes, or in a directory given with DataDir that keeps its rows across launches. The runnable
// examples use it when no PostgreSQL DSN is configured; tests use it through internal/pgtest, which adds
// testing.TB helpers.
//
// The server is started as
//
//	initdb -D D -U postgres --auth=trust -E UTF8 --locale=C --no-instructions [--no-sync]
//	postgres -D D -p P -c listen_addresses=127.0.0.1 -c unix_socket_directories=D -c wal_level=logical
//	  -c max_replication_slots=20 -c max_wal_senders=20 -c max_connections=200 [-c fsync=off]
//
// (--no-sync and fsync=off only for a temporary data directory, which no one expects to survive a machine
// crash). The superuser postgres has no password, may open replication connections, and connects over TCP;
// the server's unix socket is in its data directory (left out when that path is too long for a socket).
//
// PostgreSQL refuses to run as root. When the caller is root, initdb and postgres run in a user namespace
// whose only user maps to root outside it: inside, the server is an ordinary user that owns the data
// directory; outside, its files belong to root like any other file the caller makes, and nothing is chowned.
// Where user namespaces are not allowed (a container without CAP_SYS_ADMIN), the server runs as the user
// postgres (made by the Debian package) or else nobody, with the data directory chowned to that user; the
// directory's parents must then be searchable by that user. A data directory already owned by another user
// is run as its owner.
//
// The binaries are looked up in PATH, then in /usr/lib/postgresql/<version>/bin (the newest version), where
// Debian installs them. A missing install is an error naming the package to install.
//
//	srv, err := postgres.Launch(ctx, postgres.DataDir("data/postgres"))
//	if err != nil {
//		return err
//	}
//	defer srv.Stop()
//	dsn := srv.DSN("") // postgres://postgres@127.0.0.1:port/postgres?sslmode=disable
//
// The postgres process is a child of the caller: if the calling process dies, the kernel kills the server
// (Linux's parent-death signal, which strictly follows the OS thread that started it; the Go runtime ends a
// thread only when a goroutine that locked it exits) and its backends exit when they see the postmaster
// gone, so a crashed program leaks no server. A server given DataDir recovers its data at the next Launch as
// after any crash, also when that launch comes before the killed postmaster was reaped (its stale
// postmaster.pid is removed).
package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"

	// The PostgreSQL driver for database/sql, registered as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
)

// InstallHint is the fix named in the error when PostgreSQL is not installed.
const InstallHint = "apt-get install postgresql"

// Superuser is the name of the server's superuser, which may also open replication connections.
const Superuser = "postgres"

// Server is a running private PostgreSQL. Its methods are safe for concurrent use.
type Server struct {
	// Dir is the server's data directory (removed by Stop unless given with DataDir).
	Dir string
	// Port is the 127.0.0.1 TCP port the server listens on.
	Port int
	// BinDir is the directory of the initdb and postgres binaries that run the server.
	BinDir string

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	waitErr  error
	output   *tailBuffer
	stopOnce sync.Once
	db       *sql.DB
	keep     bool // the data directory outlives the server (DataDir)
}

type options struct {
	flags   []string
	dataDir string
	port    int
}

// Option changes how Launch runs PostgreSQL.
type Option func(*options)

// DataDir keeps the server's data in dir: initialised there on first use, reused on later launches, and
// left in place by Stop, so that an application's private server keeps its rows across restarts.
func DataDir(dir string) Option {
	return func(o *options) { o.dataDir = dir }
}

// Port makes the server listen on port instead of a free one, e.g. to restart a server given DataDir on
// the port its clients' DSNs name: Launch(ctx, DataDir(d), Port(old.Port)) after old.Stop().
func Port(port int) Option {
	return func(o *options) { o.port = port }
}

// Settings appends server settings (name=value, as in postgresql.conf) after the defaults; a later setting
// overrides an earlier one, e.g. Settings("wal_level=replica").
func Settings(settings ...string) Option {
	return func(o *options) {
		for _, s := range settings {
			o.flags = append(o.flags, "-c", s)
		}
	}
}

// Launch initialises the data directory if it is new, starts postgres and waits until it accepts
// connections (at most 30 seconds). The caller must call Stop. ctx bounds the whole launch: when it ends
// first, the half-started server is killed, its temporary directory removed, and ctx's error returned.
// ctx does not bound the running server's life: only Stop (or the calling process's death) ends it.
func Launch(ctx context.Context, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: launch: %w", err)
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	keep := o.dataDir != ""
	dir := o.dataDir
	if keep {
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	} else {
		parent, err := os.MkdirTemp("", "postgres-")
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		// initdb makes the data directory itself, with the permissions postgres insists on.
		dir = filepath.Join(parent, "data")
	}
	remove := func() {
		if !keep {
			os.RemoveAll(filepath.Dir(dir))
		}
	}
	as, err := chooseRunAs(bin, dir, !keep)
	if err != nil {
		remove()
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil { // not initialised yet
		args := []string{"-D", dir, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"}
		if !keep {
			args = append(args, "--no-sync")
		}
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
		cmd.SysProcAttr = as.attr()
		if out, err := cmd.CombinedOutput(); err != nil {
			remove()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("postgres: initialise %s: %w", dir, ctx.Err())
			}
			return nil, fmt.Errorf("postgres: initdb %s: %v\n%s", dir, err, dbserver.LastLines(string(out), 20))
		}
	}
	removeZombieLock(ctx, dir)
	// The free port may be taken between looking and binding: try a few.
	var lastErr error
	for range 3 {
		s, err := launch(ctx, bin, dir, as, keep, o)
		if err == nil {
			s.keep = keep
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil || o.port != 0 {
			break
		}
	}
	remove()
	return nil, lastErr
}

// FindBinDir returns the directory holding both initdb and postgres: the one of initdb in PATH (symbolic
// links resolved), else the newest /usr/lib/postgresql/<version>/bin.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		_, errInit := os.Stat(filepath.Join(dir, "initdb"))
		_, errPG := os.Stat(filepath.Join(dir, "postgres"))
		if errInit == nil && errPG == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("postgres: initdb and postgres not found in PATH or /usr/lib/postgresql/*/bin: %s", InstallHint)
}

// versionOf is the major version in /usr/lib/postgresql/<version>/bin, 0 if it is not a number.
func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// runAs says which user initdb and postgres run as; the zero value is the caller itself.
type runAs struct {
	userns   bool // in a user namespace whose one user is the caller (root) outside
	uid, gid uint32
	cred     bool // as uid/gid
}

func (r runAs) attr() *syscall.SysProcAttr {
	// If the caller dies, the kernel stops the process rather than leaking it.
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	switch {
	case r.userns:
		a.Cloneflags = syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: nsUser, HostID: 0, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: nsUser, HostID: 0, Size: 1}}
		a.GidMappingsEnableSetgroups = false
	case r.cred:
		a.Credential = &syscall.Credential{Uid: r.uid, Gid: r.gid}
	}
	return a
}

// nsUser is the server's user id inside its user namespace (any id but 0).
const nsUser = 1000

var (
	// useUserns is false in tests of the other way of running as root.
	useUserns  = true
	usernsOnce sync.Once
	usernsErr  error
)

// usernsWorks reports whether this process may start a child in a new user namespace, trying it once
// with postgres --version from bin.
func usernsWorks(bin string) error {
	usernsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--version")
		cmd.SysProcAttr = runAs{userns: true}.attr()
		usernsErr = cmd.Run()
	})
	return usernsErr
}

// chooseRunAs picks the user initdb and postgres run as for data directory dir (see the package doc).
// fresh says dir's parent is a new temporary directory, chowned too when the server runs as another user.
func chooseRunAs(bin, dir string, fresh bool) (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{}, nil
	}
	if fi, err := os.Stat(dir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			return runAs{cred: true, uid: st.Uid, gid: st.Gid}, nil
		}
	}
	if err := usernsWorks(bin); err == nil && useUserns {
		return runAs{userns: true}, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return runAs{}, fmt.Errorf("postgres: PostgreSQL refuses to run as root, user namespaces are not allowed (%v), and there is no user postgres or nobody to run it as: %s", usernsErr, InstallHint)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	as := runAs{cred: true, uid: uint32(uid), gid: uint32(gid)}
	// initdb makes dir; it needs to write in dir's parent.
	parent := filepath.Dir(dir)
	if fresh {
		if err := os.Chown(parent, int(uid), int(gid)); err != nil {
			return runAs{}, fmt.Errorf("postgres: give %s to user %s: %w", parent, u.Username, err)
		}
	} else if err := os.Mkdir(dir, 0o700); err == nil || errors.Is(err, os.ErrExist) {
		if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(uid), int(gid))
		}); err != nil {
			return runAs{}, fmt.Errorf("postgres: give %s to user %s: %w", dir, u.Username, err)
		}
	} else {
		return runAs{}, fmt.Errorf("postgres: %w", err)
	}
	return as, nil
}

// removeZombieLock removes dir's postmaster.pid when the postmaster it names has exited but not been reaped
// yet. A server killed with its parent (the parent-death signal) stays a zombie until init reaps it (about
// two seconds on a Firecracker VM), and postgres takes a lock file whose process exists, zombie or not, for a
// live server: a program restarted at once would otherwise fail with "lock file postmaster.pid already
// exists". A zombie runs nothing and holds no shared memory, so its lock is stale. The kill may still be
// under way when the program restarts, so a process that is neither gone nor a zombie is watched for up to
// lockWait (or until ctx ends); one still running then is left for postgres to judge (another server on
// the same directory, which postgres refuses naming it).
func removeZombieLock(ctx context.Context, dir string) {
	lock := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(lock)
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return
	}
	deadline := time.Now().Add(lockWait)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // gone: postgres removes the stale lock itself
		}
		// The state follows the command name, which is in parentheses and may hold spaces.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			os.Remove(lock)
			return
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lockWait is how long Launch waits for the postmaster named in an existing lock file to finish dying.
const lockWait = 5 * time.Second

// maxSocketPath is the longest unix socket path Linux accepts (sun_path less its terminating zero).
const maxSocketPath = 107

func launch(ctx context.Context, bin, dir string, as runAs, keep bool, o options) (*Server, error) {
	port := o.port
	if port == 0 {
		var err error
		if port, err = dbserver.FreePort("postgres"); err != nil {
			return nil, err
		}
	}
	socketDir := dir
	if len(filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d.lock", port))) > maxSocketPath {
		socketDir = "" // TCP only: postgres would refuse the path
	}
	args := []string{"-D", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + socketDir,
		"-c", "wal_level=logical", "-c", "max_replication_slots=20", "-c", "max_wal_senders=20",
		"-c", "max_connections=200"}
	if !keep {
		args = append(args, "-c", "fsync=off")
	}
	args = append(args, o.flags...)
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	output := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = as.attr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: start postgres: %w", err)
	}
	s := &Server{Dir: dir, Port: port, BinDir: bin, cmd: cmd, exited: make(chan struct{}), output: output}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	db, err := sql.Open("pgx", s.DSN(""))
	if err != nil {
		s.kill()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	proc := dbserver.Process{Name: "postgres: postgres", Args: args, Port: port, Exited: s.exited,
		WaitErr: func() error { return s.waitErr }, Output: output.String, Kill: s.kill}
	if err := proc.WaitAccepting(ctx, db); err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

// tailBuffer keeps the last max bytes written to it: the server's log, for error messages, without growing
// for the life of a long-running server.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// DSN returns a pgx URL for the superuser over TCP to database db ("" for the database postgres), without
// TLS.
func (s *Server) DSN(db string) string {
	return s.UserDSN(Superuser, "", db)
}

// ReplicationDSN is DSN for a logical replication connection (replication=database) to db, as pglogrepl
// needs.
func (s *Server) ReplicationDSN(db string) string {
	return s.DSN(db) + "&replication=database"
}

// UserDSN is DSN for another user (password "" for none).
func (s *Server) UserDSN(user, password, db string) string {
	if db == "" {
		db = "postgres"
	}
	u := user
	if password != "" {
		u += ":" + password
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", u, s.Port, db)
}

// DB returns a connection pool for the superuser on the database postgres, shared by all callers and closed
// by Stop.
func (s *Server) DB() *sql.DB { return s.db }

// Pid returns the process id of the postmaster.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Output returns the end of the server's log (its last 64 KiB), e.g. for a failing test's message.
func (s *Server) Output() string { return s.output.String() }

// Stop shuts the server down (fast shutdown: SIGINT, which ends open sessions, then waits for it to exit;
// SIGKILL after 30 seconds) and removes its data directory, unless it was given with DataDir. It is safe to
// call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.db != nil {
			s.db.Close()
		}
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.kill()
		}
		if !s.keep {
			os.RemoveAll(filepath.Dir(s.Dir))
		}
	})
}

// Kill ends the server at once (SIGKILL), as a crash of the database machine would, without removing its
// data directory; a server given DataDir recovers at the next Launch. Stop is still needed to remove a
// temporary directory. It is safe to call more than once and after Stop.
func (s *Server) Kill() {
	if s.db != nil {
		s.db.Close()
	}
	s.kill()
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}
