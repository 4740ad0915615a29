// Package dbserver holds what the private database launchers (internal/mariadb, internal/postgres) and their
// test wrappers share: a free port, the wait until a started server accepts connections, the tail of its
// output for errors, and running a list of statements.
package dbserver

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strings"
	"time"
)

// AcceptTimeout is how long WaitAccepting waits for a started server to accept connections.
const AcceptTimeout = 30 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago; who prefixes the error.
func FreePort(who string) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("%s: find a free port: %w", who, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ExecEach runs each statement on db, in order, each within timeout (and ctx), and stops at the first
// error, which names the statement ("<statement>: <error>"). The Exec helpers of mariadbtest, dolttest and
// pgtest fail their test with it.
func ExecEach(ctx context.Context, db *sql.DB, timeout time.Duration, statements ...string) error {
	for _, q := range statements {
		stmtCtx, cancel := context.WithTimeout(ctx, timeout)
		_, err := db.ExecContext(stmtCtx, q)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// LastLines returns the last n lines of s.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Process is a started server process, as WaitAccepting sees it.
type Process struct {
	Name    string          // for errors, e.g. "mariadb: mariadbd"
	Args    []string        // its command-line arguments, for errors
	Port    int             // the port it listens on
	Exited  <-chan struct{} // closed when the process has exited
	WaitErr func() error    // the process's exit error, once Exited is closed
	Output  func() string   // what it wrote so far
	Kill    func()          // kills it and waits for it to exit
}

// WaitAccepting pings db every 50ms (each ping bounded by 1s) until the server answers. It fails, after closing
// db, when the process exits first (with its last 20 lines of output), when ctx ends or after AcceptTimeout; in
// the last two cases it kills the process too.
func (p Process) WaitAccepting(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(AcceptTimeout)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := db.PingContext(pingCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.Exited:
			db.Close()
			return fmt.Errorf("%s %s exited before accepting connections: %v\n%s",
				p.Name, strings.Join(p.Args, " "), p.WaitErr(), LastLines(p.Output(), 20))
		case <-ctx.Done():
			db.Close()
			p.Kill()
			return fmt.Errorf("%s on port %d: %w", p.Name, p.Port, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			db.Close()
			p.Kill()
			return fmt.Errorf("%s on port %d not accepting connections after %v: %v\n%s",
				p.Name, p.Port, AcceptTimeout, err, LastLines(p.Output(), 20))
		}
	}
}
