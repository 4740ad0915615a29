package readme

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin holds the programs the README runs, built once from this tree: the examples (built rather than
// `go run`, since the tests signal them) and sluice (the operator CLI, as
// `go install ./cmd/sluice` would put it on PATH).
var bin struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// binaries builds the programs once and returns the directory that holds them.
func binaries(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "sluice-readme-bin")
		if bin.err != nil {
			return
		}
		for _, pkg := range []string{"./examples/mysql-to-es", "./examples/file-to-file", "./examples/postgres-to-es", "./cmd/sluice"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin.dir, filepath.Base(pkg)), pkg)
			cmd.Dir = repoRoot(t)
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				bin.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.dir
}

// needTools fails the test naming the programs the README's commands need and this machine lacks.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the README's commands need %s, not in PATH: run make deps (test/deps.sh)", strings.Join(missing, ", "))
	}
}

// baseEnv is this process's environment without SLUICE_* variables: the programs run on the README's
// defaults plus what each test sets, whatever the shell that runs the tests exports.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a program the test started, in its own process group, with its output kept line by line.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the program exited and its output is read
	err  error         // Wait's result, once done

	mu     sync.Mutex
	lines  []string
	notify chan struct{} // closed and replaced at each new line
}

// start runs the program argv[0] with args in dir, with env added to this process's environment. It is
// SIGKILLed (with its process group) when the test ends, if still running.
func start(t *testing.T, name, dir string, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{}), notify: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(baseEnv(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Logf("%s: started %s (pid %d)", name, strings.Join(argv, " "), p.cmd.Process.Pid)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.notify)
			p.notify = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		p.err = p.cmd.Wait()
		w.Close()
		<-read
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, p.output())
		}
	})
	return p
}

// kill sends sig to the program's process group (the program and what it started), if it still runs.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// signal sends sig to the program alone, as Ctrl-C or kill would.
func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine waits up to timeout for an output line (from line number from on) that re matches, and returns
// its submatches and the number of the line after it. The program exiting first fails the test.
func (p *proc) waitLine(from int, re *regexp.Regexp, timeout time.Duration) ([]string, int) {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if m := re.FindStringSubmatch(p.lines[i]); m != nil {
				p.mu.Unlock()
				return m, i + 1
			}
		}
		from = len(p.lines)
		notify := p.notify
		p.mu.Unlock()
		select {
		case <-notify:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if from == n {
				p.t.Fatalf("%s exited (%v) before printing a line matching %q", p.name, p.err, re)
			}
		case <-deadline.C:
			p.t.Fatalf("%s printed no line matching %q within %v", p.name, re, timeout)
		}
	}
}

// wait waits up to timeout for the program to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running %v after it was asked to stop", p.name, timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	p.t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

// shell runs one README command line with bash in dir, with env added and the built programs first in
// PATH, within timeout; it returns the combined output and the error.
func shell(t *testing.T, dir string, env []string, timeout time.Duration, command string) (string, error) {
	t.Helper()
	stdout, stderr, err := shellSplit(t, dir, env, timeout, command)
	return stdout + stderr, err
}

// shellSplit is shell with the standard output and error apart.
func shellSplit(t *testing.T, dir string, env []string, timeout time.Duration, command string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), append([]string{"PATH=" + binaries(t) + string(os.PathListSeparator) + os.Getenv("PATH")}, env...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no end within %v: %w", timeout, ctx.Err())
	}
	return out.String(), errOut.String(), err
}

// eventually runs command until check accepts its output, for at most timeout; the last output and
// error fail the test otherwise. It returns the accepted output.
func eventually(t *testing.T, dir string, env []string, timeout time.Duration, command string, what string, check func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := shell(t, dir, env, 10*time.Second, command)
		if err == nil && check(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %v; last run of\n  %s\nerror %v, output:\n%s", what, timeout, command, err, out)
		}
		time.Sleep(250 * time.Millisecond) // the poll interval of a condition, not a synchronisation
	}
}
