package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// startFlagship runs the example binary against MySQL DSN dsn, with everything else embedded on free ports
// in a private data dir (Kafka is the test's real cluster with SLUICE_TEST_KAFKA=real); the returned channel
// yields its exit error once.
func startFlagship(t *testing.T, bin, dsn string) (*exec.Cmd, *lockedLog, <-chan error) {
	t.Helper()
	cmd := exec.Command(bin, "-progress", "0")
	cmd.Env = append(os.Environ(), "SLUICE_MYSQL_DSN="+dsn, "SLUICE_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"SLUICE_BROKER_ADDR="+testkit.FreeAddr(t), "SLUICE_HTTP_ADDR="+testkit.FreeAddr(t), "SLUICE_ES_ADDR="+testkit.FreeAddr(t))
	cmd.Env = append(cmd.Env, testkit.KafkaEnv(t, 1)...) // real Kafka with SLUICE_TEST_KAFKA=real
	out := &lockedLog{}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	followed := make(chan struct{})
	go func() { out.follow(pr); close(followed) }()
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		<-followed
		exited <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- output of mysql-to-es ---\n%s", out.String())
		}
	})
	return cmd, out, exited
}

// Degraded dependencies: the flagship given a MySQL address that accepts TCP and never answers. Start-up
// fails within 30s with status 1, naming the address; a SIGTERM while it waits exits within 2s with
// status 0 (a stop is not a failure).
func TestBlackHoleMySQL(t *testing.T) {
	bin := buildBinary(t, t.TempDir(), "mysql-to-es", ".")
	hole := testkit.StartBlackHole(t)
	dsn := "root@tcp(" + hole.Addr() + ")/"

	t.Run("start-up fails within 30s naming the address", func(t *testing.T) {
		_, out, exited := startFlagship(t, bin, dsn) // starts the test's real Kafka first, when there is one
		began := time.Now()
		var err error
		select {
		case err = <-exited:
		case <-time.After(40 * time.Second):
			t.Fatalf("still running 40s after start against a black-hole MySQL at %s", hole.Addr())
		}
		took := time.Since(began)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1", err)
		}
		if took > 30*time.Second {
			t.Errorf("failed after %v, want within 30s", took.Round(time.Millisecond))
		}
		line := out.find("mysql-to-es:", hole.Addr())
		if line == "" {
			t.Errorf("no error line naming %s", hole.Addr())
		}
		t.Logf("failed after %v: %s", took.Round(time.Millisecond), line)
	})

	t.Run("SIGTERM while it waits exits 0 within 2s", func(t *testing.T) {
		before := hole.Accepted()
		cmd, out, exited := startFlagship(t, bin, dsn)
		poll(t, 20*time.Second, "the example connects to the black hole", func() bool { return hole.Accepted() > before })
		if line := out.find("mysql-to-es:"); line != "" {
			t.Fatalf("failed before the SIGTERM: %s", line)
		}
		sent := time.Now()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-exited:
		case <-time.After(10 * time.Second):
			t.Fatal("still running 10s after SIGTERM")
		}
		took := time.Since(sent)
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", err)
		}
		if took > 2*time.Second {
			t.Errorf("exited %v after SIGTERM, want within 2s", took.Round(time.Millisecond))
		}
		t.Logf("exited %v after SIGTERM: %v", took.Round(time.Millisecond), err)
	})
}
