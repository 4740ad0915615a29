package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// binary is the example, built once by TestMain (with -race when SLUICE_TEST_RACE is set).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "file-to-file-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "file-to-file")
	args := []string{"build", "-o", binary}
	if os.Getenv("SLUICE_TEST_RACE") != "" { // run the child processes under the race detector
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic(fmt.Sprintf("build example: %v", err))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is one run of the example binary, its output kept for the test to read.
type process struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	out    *testkit.LogBuffer
	exited chan struct{}
	err    error
}

func startExample(t testing.TB, name string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	return startProcess(t, name, cmd)
}

// startProcess starts cmd with its output captured; the test's end kills it and shows the output if the
// test failed.
func startProcess(t testing.TB, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{t: t, name: name, out: &testkit.LogBuffer{}, exited: make(chan struct{}), cmd: cmd}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", p.name, p.out.String())
		}
	})
	return p
}

func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.kill()
		p.t.Fatalf("%s did not stop within 60s of SIGTERM", p.name)
	}
	if p.err != nil {
		p.t.Fatalf("%s exited with %v", p.name, p.err)
	}
}

// waitOutput waits until the process printed something matching re.
func (p *process) waitOutput(re *regexp.Regexp, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !re.MatchString(p.out.String()) {
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, re)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not print %q within %v", p.name, re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var taskEvent = regexp.MustCompile(`msg="source task (started|stopped)".* task=(\S+)`)

// runningTasks replays the process's task log into the set of tasks it runs now.
func (p *process) runningTasks() map[string]bool {
	running := map[string]bool{}
	for _, m := range taskEvent.FindAllStringSubmatch(p.out.String(), -1) {
		if m[1] == "started" {
			running[m[2]] = true
		} else {
			delete(running, m[2])
		}
	}
	return running
}

// appendLines appends lines prefix-<seq> for seq in [from, to) to path.
func appendLines(t testing.TB, path, prefix string, from, to int) {
	t.Helper()
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s-%08d\n", prefix, i)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// lineWriter appends perTick lines to every input each 10ms ("f<i> <n>" lines of appendLines), as a steady
// load for crash and failover tests.
type lineWriter struct {
	written []atomic.Int64
	stop    chan struct{}
	done    sync.WaitGroup
}

func startLineWriter(t *testing.T, inputs []string, perTick int) *lineWriter {
	w := &lineWriter{written: make([]atomic.Int64, len(inputs)), stop: make(chan struct{})}
	w.done.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			for i, in := range inputs {
				n := int(w.written[i].Load())
				appendLines(t, in, fmt.Sprintf("f%d", i), n, n+perTick)
				w.written[i].Store(int64(n + perTick))
			}
		}
	})
	return w
}

// total is the number of lines written so far.
func (w *lineWriter) total() int {
	n := 0
	for i := range w.written {
		n += int(w.written[i].Load())
	}
	return n
}

// finish stops writing and returns how many lines each input ("f<i>") got.
func (w *lineWriter) finish() map[string]int {
	close(w.stop)
	w.done.Wait()
	expected := map[string]int{}
	for i := range w.written {
		expected[fmt.Sprintf("f%d", i)] = int(w.written[i].Load())
	}
	return expected
}
