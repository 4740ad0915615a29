package mariadb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mariadb"
)

// With DataDir the server's rows outlive it: a second launch on the same directory finds them.
func TestDataDirKeepsRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "db")
	t.Chdir(filepath.Dir(dir))
	dir = "db" // relative, as an application passes it
	first, err := mariadb.Launch(ctx, mariadb.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE DATABASE kept", "CREATE TABLE kept.t (id INT PRIMARY KEY)", "INSERT INTO kept.t VALUES (7)"} {
		if _, err := first.DB().ExecContext(ctx, q); err != nil {
			first.Stop()
			t.Fatalf("%s: %v", q, err)
		}
	}
	first.Stop()
	second, err := mariadb.Launch(ctx, mariadb.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	var id int
	if err := second.DB().QueryRowContext(ctx, "SELECT id FROM kept.t").Scan(&id); err != nil || id != 7 {
		t.Fatalf("row after relaunch: %d, %v", id, err)
	}
}

// A launch whose context has ended returns the context's error and leaves no temporary directory behind.
func TestLaunchHonoursContext(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := mariadb.Launch(ctx)
	if err == nil {
		srv.Stop()
		t.Fatal("Launch with an ended context started a server")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Launch with an ended context: %v, want context.Canceled", err)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
}
