package peers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/dbserver"
)

// What the tool adapters share: their child processes (start, stop, kill, the log's tail), go builds, the
// Kafka client configuration, topic creation and the MySQL DSN a user writes.

// childProc is one process an adapter started: in its own process group (a kill reaches its children too),
// killed with the test binary (Pdeathsig), stdout and stderr appended to a log file.
type childProc struct {
	tool, name string // for messages: the tool and the RunSpec.Name
	cmd        *exec.Cmd
	log        string
	// tail is the log's tail for errors: the log's last procTailLines lines unless the adapter knows better.
	tail    func() string
	logf    func(string, ...any)
	done    chan struct{} // closed once the process has exited; waitErr is set then
	waitErr error
}

// procTailLines is how many of a log's last lines an error quotes.
const procTailLines = 30

// procSpec is a child process to start.
type procSpec struct {
	Tool, Name string
	Bin        string
	Args       []string
	Env        []string // added to the test process's environment
	Dir        string
	Log        string // appended to; the start writes a "=== <time> start ..." line first
	// AwaitFirstLine: stdout goes through a pipe into the log, and startProc returns once its first line is
	// there (the process says that it is up), or fails when the process exits first or ctx ends.
	AwaitFirstLine bool
}

// startProc starts s. logf (may be nil) says that it started.
func startProc(ctx context.Context, s procSpec, logf func(string, ...any)) (*childProc, error) {
	logFile, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Tool, err)
	}
	fmt.Fprintf(logFile, "=== %s start %s %s (%s)\n", time.Now().UTC().Format(time.RFC3339Nano), s.Bin, strings.Join(s.Args, " "), s.Name)
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	cmd.Stderr = logFile
	var stdout *bufio.Scanner
	if s.AwaitFirstLine {
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			logFile.Close()
			return nil, err
		}
		stdout = bufio.NewScanner(pipe)
	} else {
		cmd.Stdout = logFile
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: start %s: %w", s.Tool, s.Bin, err)
	}
	p := &childProc{tool: s.Tool, name: s.Name, cmd: cmd, log: s.Log, logf: logf, done: make(chan struct{})}
	ready, copied := make(chan struct{}), make(chan struct{})
	if stdout == nil {
		close(copied)
	} else {
		go func() { // stdout into the log
			defer close(copied)
			first := true
			for stdout.Scan() {
				if first {
					close(ready)
					first = false
				}
				fmt.Fprintln(logFile, stdout.Text())
			}
		}()
	}
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	if s.AwaitFirstLine {
		select {
		case <-ready:
		case <-p.done:
			return nil, p.exitError("exited at start-up")
		case <-ctx.Done():
			p.kill()
			return nil, fmt.Errorf("%s: %s did not start: %w", s.Tool, s.Name, ctx.Err())
		}
	}
	if logf != nil {
		logf("%s: started %s pid %d (log %s)", s.Tool, s.Name, cmd.Process.Pid, s.Log)
	}
	return p, nil
}

func (p *childProc) pid() int { return p.cmd.Process.Pid }

// exited says whether the process has exited.
func (p *childProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process group and waits for the process to exit.
func (p *childProc) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// logTail is the tail of the process's log.
func (p *childProc) logTail() string {
	if p.tail != nil {
		return p.tail()
	}
	return logTail(p.log, procTailLines)
}

// exitError is nil after an exit with status 0 when what is empty, else the exit status with the log's tail.
func (p *childProc) exitError(what string) error {
	if p.waitErr == nil && what == "" {
		return nil
	}
	if what == "" {
		what = "exited with an error"
	}
	return fmt.Errorf("%s: %s (pid %d) %s: %v (log %s)\n%s", p.tool, p.name, p.pid(), what, p.waitErr, p.log, p.logTail())
}

// stopHow is how a tool's process stops gracefully.
type stopHow struct {
	Signal syscall.Signal // SIGTERM when 0
	Group  bool           // signal the process group (a JVM and its children), not the process alone
	// Timeout bounds the wait for the exit after the signal (ctx's end too); then the group is killed and
	// stop fails.
	Timeout time.Duration
	// ExitedOK: a process that exited with status 0 before the stop is fine (one that copies and ends);
	// otherwise an exit before the stop is an error.
	ExitedOK bool
	// AnyStatus: any exit after the signal is a clean stop (a JVM exits with status 143 on SIGTERM).
	AnyStatus bool
	// Before runs before the signal (Debezium stops its connector through REST). Its error is logged when
	// the process then exits cleanly, and part of the error when it has to be killed.
	Before func(ctx context.Context) error
}

// stop stops the process as how says and waits for it to exit. After the exit the process group is killed:
// children the process did not reap (Conduit's plugins) end with it.
func (p *childProc) stop(ctx context.Context, how stopHow) error {
	if p.exited() {
		if how.ExitedOK {
			return p.exitError("")
		}
		return p.exitError("had exited before Stop")
	}
	began := time.Now()
	var beforeErr error
	if how.Before != nil {
		beforeErr = how.Before(ctx)
	}
	sig, target := how.Signal, p.pid()
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if how.Group {
		target = -target
	}
	signalled := time.Now()
	if err := syscall.Kill(target, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.kill()
		return fmt.Errorf("%s: %s: %v to pid %d: %w", p.tool, p.name, sig, p.pid(), err)
	}
	timer := time.NewTimer(how.Timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		if p.logf != nil {
			p.logf("%s: %s (pid %d) exited %s after %v (%s in all)", p.tool, p.name, p.pid(),
				time.Since(signalled).Round(time.Millisecond), sig, time.Since(began).Round(time.Millisecond))
			if beforeErr != nil {
				p.logf("%s: %s: before the signal: %v; the process then exited", p.tool, p.name, beforeErr)
			}
		}
		if how.AnyStatus {
			return nil
		}
		return p.exitError("")
	case <-timer.C:
	case <-ctx.Done():
	}
	p.kill()
	before := ""
	if beforeErr != nil {
		before = fmt.Sprintf(" (before the signal: %v)", beforeErr)
	}
	return fmt.Errorf("%s: %s (pid %d) did not exit within %s of %v: killed%s (log %s)\n%s", p.tool, p.name, p.pid(),
		time.Since(signalled).Round(time.Millisecond), sig, before, p.log, p.logTail())
}

// builtBin is the program an adapter's Prepare built; Start reads it.
type builtBin struct {
	mu   sync.Mutex
	path string
}

func (b *builtBin) set(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.path = path
}

func (b *builtBin) get() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.path
}

// forStart returns the built program, or checkStart's error.
func (b *builtBin) forStart(tool string, spec RunSpec) (string, error) {
	path := b.get()
	return path, checkStart(tool, path, spec)
}

// checkStart is what every adapter's Start checks first: Prepare ran (bin is what it built) and spec names
// tables.
func checkStart(tool, bin string, spec RunSpec) error {
	if bin == "" {
		return fmt.Errorf("%s: Start before Prepare", tool)
	}
	if len(spec.Tables) == 0 {
		return fmt.Errorf("%s: RunSpec.Tables is empty", tool)
	}
	return nil
}

// renderTemplate executes the configuration template at path with data, its actions between delims ("{{",
// "}}" when none are given); a name the template does not know is an error.
func renderTemplate(path string, data any, delims ...string) (string, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tmpl := template.New(filepath.Base(path)).Option("missingkey=error")
	if len(delims) == 2 {
		tmpl = tmpl.Delims(delims[0], delims[1])
	}
	if tmpl, err = tmpl.Parse(string(text)); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return b.String(), nil
}

// logTail is the last lines of the log at path.
func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return dbserver.LastLines(string(b), lines)
}

// goBuild runs `go build -o out pkg` in dir (with env added to the environment) in its own process group,
// killed with the test process or at ctx's end, and logs what it built.
func goBuild(ctx context.Context, logf func(string, ...any), dir, pkg, out string, env ...string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	began := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, b)
	}
	if logf != nil {
		size := int64(-1)
		if fi, err := os.Stat(out); err == nil {
			size = fi.Size()
		}
		logf("built %s in %s (%.1f MB)", out, time.Since(began).Round(time.Millisecond), float64(size)/1e6)
	}
	return nil
}

// saramaConfig is a Kafka client configuration whose every request has a deadline and that never creates a
// topic by asking for it.
func saramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = clientID
	c.Net.DialTimeout, c.Net.ReadTimeout, c.Net.WriteTimeout = 5*time.Second, 30*time.Second, 10*time.Second
	c.Metadata.Retry.Max = 1
	c.Metadata.Timeout = 10 * time.Second
	c.Metadata.AllowAutoTopicCreation = false
	c.Admin.Timeout = 30 * time.Second
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	return c
}

// createTopic creates topic with one partition and one replica (the benchmark's broker does not create
// topics on demand); an existing topic is kept (a resumed start writes on).
func createTopic(ctx context.Context, brokers []string, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() { // sarama's admin calls take no context: saramaConfig's timeouts bound them
		admin, err := sarama.NewClusterAdmin(brokers, saramaConfig("peers-adapter"))
		if err != nil {
			errc <- err
			return
		}
		err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
		if errors.Is(err, sarama.ErrTopicAlreadyExists) {
			err = nil
		}
		errc <- errors.Join(err, admin.Close())
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("create topic %s: %w", topic, ctx.Err())
	}
}

// mysqlDSN is the go-sql-driver/mysql DSN of the benchmark database, as a user writes it.
func mysqlDSN(m MySQL) string {
	host := m.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", m.User, m.Password, net.JoinHostPort(host, strconv.Itoa(m.Port)), m.Database)
}

// TestChildProc runs childProc on sh: a stop by signal, a process that ignores it (killed after the
// timeout), exits before the stop, an exit at start-up, the Before hook and AnyStatus.
func TestChildProc(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	start := func(t *testing.T, script string, await bool) (*childProc, error) {
		t.Helper()
		n++
		return startProc(ctx, procSpec{Tool: "sh", Name: fmt.Sprintf("case-%d", n), Bin: "sh", Args: []string{"-c", script},
			Dir: dir, Log: filepath.Join(dir, fmt.Sprintf("case-%d.log", n)), AwaitFirstLine: await}, t.Logf)
	}
	const loop = "echo up; while :; do sleep 0.05; done"
	t.Run("stop", func(t *testing.T) {
		p, err := start(t, `trap "exit 0" TERM; `+loop, true)
		if err != nil {
			t.Fatal(err)
		}
		called := false
		if err := p.stop(ctx, stopHow{Timeout: 10 * time.Second, Before: func(context.Context) error { called = true; return nil }}); err != nil {
			t.Fatal(err)
		}
		if !called {
			t.Fatal("Before was not called")
		}
		if log := logTail(p.log, 5); !strings.Contains(log, "=== ") || !strings.Contains(log, "up") {
			t.Fatalf("log %q: want the start line and the process's output", log)
		}
		if err := p.stop(ctx, stopHow{Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "before Stop") {
			t.Fatalf("a second stop = %v, want an exit before Stop", err)
		}
	})
	t.Run("status", func(t *testing.T) {
		for _, anyStatus := range []bool{false, true} {
			p, err := start(t, `trap "exit 143" TERM; `+loop, true)
			if err != nil {
				t.Fatal(err)
			}
			err = p.stop(ctx, stopHow{Group: true, Timeout: 10 * time.Second, AnyStatus: anyStatus})
			if (err == nil) != anyStatus {
				t.Fatalf("AnyStatus %v: stop = %v", anyStatus, err)
			}
		}
	})
	t.Run("killed", func(t *testing.T) {
		p, err := start(t, `trap "" INT; `+loop, true)
		if err != nil {
			t.Fatal(err)
		}
		err = p.stop(ctx, stopHow{Signal: syscall.SIGINT, Timeout: 300 * time.Millisecond,
			Before: func(context.Context) error { return errors.New("refused") }})
		if err == nil || !strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), "refused") || !p.exited() {
			t.Fatalf("stop = %v (exited %v), want killed with the Before error", err, p.exited())
		}
	})
	t.Run("exited", func(t *testing.T) {
		for _, c := range []struct {
			script   string
			exitedOK bool
			want     string
		}{{"exit 0", true, ""}, {"exit 3", true, "exit status 3"}, {"exit 0", false, "before Stop"}} {
			p, err := start(t, c.script, false)
			if err != nil {
				t.Fatal(err)
			}
			<-p.done
			err = p.stop(ctx, stopHow{Timeout: time.Second, ExitedOK: c.exitedOK})
			if (c.want == "" && err != nil) || (c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want))) {
				t.Fatalf("%q, ExitedOK %v: stop = %v, want %q", c.script, c.exitedOK, err, c.want)
			}
		}
	})
	t.Run("start-up", func(t *testing.T) {
		_, err := start(t, "echo oops >&2; exit 1", true)
		if err == nil || !strings.Contains(err.Error(), "exited at start-up") || !strings.Contains(err.Error(), "oops") {
			t.Fatalf("start = %v, want an exit at start-up with the log's tail", err)
		}
	})
}
