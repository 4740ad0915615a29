package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/postgres"
)

// With DataDir the server's rows outlive it: a second launch on the same directory finds them, also after
// the server was killed rather than stopped.
func TestDataDirKeepsRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "db")
	t.Chdir(filepath.Dir(dir))
	dir = "db" // relative, as an application passes it
	first, err := postgres.Launch(ctx, postgres.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE TABLE kept (id INT PRIMARY KEY)", "INSERT INTO kept VALUES (7)"} {
		if _, err := first.DB().ExecContext(ctx, q); err != nil {
			first.Stop()
			t.Fatalf("%s: %v", q, err)
		}
	}
	first.Stop()
	second, err := postgres.Launch(ctx, postgres.DataDir(dir), postgres.Port(first.Port))
	if err != nil {
		t.Fatal(err)
	}
	var id int
	if err := second.DB().QueryRowContext(ctx, "SELECT id FROM kept").Scan(&id); err != nil || id != 7 {
		second.Stop()
		t.Fatalf("row after relaunch: %d, %v", id, err)
	}
	if second.Port != first.Port {
		t.Errorf("relaunch on port %d, asked for %d", second.Port, first.Port)
	}
	if _, err := second.DB().ExecContext(ctx, "INSERT INTO kept VALUES (8)"); err != nil {
		t.Fatal(err)
	}
	second.Kill()
	third, err := postgres.Launch(ctx, postgres.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer third.Stop()
	var n int
	if err := third.DB().QueryRowContext(ctx, "SELECT count(*) FROM kept").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after a kill and relaunch: %d, %v; want 2", n, err)
	}
}

// A launch whose context has ended returns the context's error and leaves no temporary directory behind.
func TestLaunchHonoursContext(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := postgres.Launch(ctx)
	if err == nil {
		srv.Stop()
		t.Fatal("Launch with an ended context started a server")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Launch with an ended context: %v, want context.Canceled", err)
	}
	assertEmpty(t, tmp)
}

// Stop removes a temporary data directory.
func TestStopRemovesTemporaryDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := postgres.Launch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.Dir, tmp) {
		t.Errorf("data directory %s is not in TMPDIR %s", srv.Dir, tmp)
	}
	var walLevel string
	if err := srv.DB().QueryRowContext(ctx, "SHOW wal_level").Scan(&walLevel); err != nil || walLevel != "logical" {
		t.Errorf("wal_level = %q, %v; want logical", walLevel, err)
	}
	srv.Stop()
	assertEmpty(t, tmp)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}

// A process that dies with its server running leaks no server: the kernel kills postgres with its parent.
// A program restarted at once on the same data directory starts its server again, although the killed
// postmaster may not have been reaped yet, and finds its rows.
func TestKilledParentLeaksNoServer(t *testing.T) {
	if dir := os.Getenv("POSTGRES_TEST_CHILD_DIR"); dir != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, err := postgres.Launch(ctx, postgres.DataDir(dir))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if _, err := srv.DB().ExecContext(ctx, "CREATE TABLE kept (id INT); INSERT INTO kept VALUES (1)"); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("pid", srv.Pid())
		time.Sleep(time.Hour) // the parent test kills this process
		return
	}
	dir := filepath.Join(t.TempDir(), "db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledParentLeaksNoServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "POSTGRES_TEST_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	pid := 0
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 2 && f[0] == "pid" {
			pid, _ = strconv.Atoi(f[1])
			break
		}
		t.Log(lines.Text())
	}
	if pid == 0 {
		t.Fatal("the child process did not start a server")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("server pid %d not running while its parent lives: %v", pid, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	again, err := postgres.Launch(ctx, postgres.DataDir(dir))
	if err != nil {
		t.Fatalf("relaunch right after the parent was killed: %v", err)
	}
	defer again.Stop()
	var n int
	if err := again.DB().QueryRowContext(ctx, "SELECT count(*) FROM kept").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after relaunch: %d, %v; want 1", n, err)
	}

	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil && !zombie(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server pid %d still running 30s after its parent was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombie reports whether pid has exited and waits to be reaped (by init, once its parent is gone).
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}
