//go:build linux

package parentdeath_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/parentdeath"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER (linux/prctl.h), which package syscall does not name.
const prSetChildSubreaper = 36

// The test binary plays three parts: the test, a parent (as `go run` is: it starts the child and waits),
// and the child (an example: it arms parentdeath and runs until SIGTERM).
func TestMain(m *testing.M) {
	switch os.Getenv("PARENTDEATH_ROLE") {
	case "parent":
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), "PARENTDEATH_ROLE=child")
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		if err := child.Start(); err != nil {
			fmt.Println("parent:", err)
			os.Exit(2)
		}
		_ = child.Wait()
		os.Exit(0)
	case "child":
		terms := make(chan os.Signal, 1)
		signal.Notify(terms, syscall.SIGTERM)
		if err := parentdeath.Arm(syscall.SIGTERM); err != nil {
			fmt.Println("child:", err)
			os.Exit(2)
		}
		fmt.Printf("armed %d\n", os.Getpid())
		select {
		case <-terms:
		case <-time.After(time.Minute):
			os.Exit(3)
		}
		// One signal, as one Ctrl-C: the examples' signal context takes a second one for "exit at once".
		select {
		case <-terms:
			os.Exit(4) // (its stdout, the dead parent's pipe, has no reader any more)
		case <-time.After(time.Second):
			os.Exit(0) // a clean stop
		}
	}
	os.Exit(m.Run())
}

// TestChildStopsWhenParentIsKilled: SIGKILL the parent of an armed child (as `kill -9` of `go run`) and the
// child gets one SIGTERM, not one per thread of its multi-threaded parent, and exits with status 0. The test process is the subreaper, so it can wait for the
// orphaned child.
func TestChildStopsWhenParentIsKilled(t *testing.T) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", errno)
	}
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "PARENTDEATH_ROLE=parent")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "armed ") {
		_ = parent.Process.Kill()
		t.Fatalf("child said %q, %v", line, err)
	}
	childPID, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "armed ")))
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	killed := time.Now()

	done := make(chan syscall.WaitStatus, 1)
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(childPID, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		done <- ws
	}()
	select {
	case ws := <-done:
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Fatalf("child ended with %v, want exit status 0 after one SIGTERM (4: two)", ws)
		}
		t.Logf("child exited %v after its parent was killed", time.Since(killed).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(childPID, syscall.SIGKILL)
		t.Fatal("child still running 10 s after its parent was killed")
	}
}
