package mariadbtest_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/mariadbtest"
)

// TestStart starts a binlog server and one without binlog, and checks the variables the MySQL source relies on.
func TestStart(t *testing.T) {
	srv := mariadbtest.Start(t)
	var format, image, meta, charset string
	if err := srv.DB().QueryRow("SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@character_set_server").
		Scan(&format, &image, &meta, &charset); err != nil {
		t.Fatal(err)
	}
	if format != "ROW" || image != "FULL" || meta != "FULL" || charset != "utf8mb4" {
		t.Errorf("binlog_format=%s binlog_row_image=%s binlog_row_metadata=%s character_set_server=%s", format, image, meta, charset)
	}
	var logBin int
	if err := srv.DB().QueryRow("SELECT @@log_bin").Scan(&logBin); err != nil || logBin != 1 {
		t.Errorf("log_bin = %d (%v), want 1", logBin, err)
	}
	dsn := srv.CreateDatabase(t, "shop")
	if !strings.Contains(dsn, "/shop?") {
		t.Errorf("DSN %q does not name the database", dsn)
	}
	srv.Exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY)", "INSERT INTO shop.t VALUES (1)")

	plain := mariadbtest.Start(t, mariadbtest.WithoutBinlog(), mariadbtest.Flags("--binlog-format=STATEMENT"))
	if err := plain.DB().QueryRow("SELECT @@log_bin, @@binlog_format").Scan(&logBin, &format); err != nil {
		t.Fatal(err)
	}
	if logBin != 0 || format != "STATEMENT" {
		t.Errorf("log_bin=%d binlog_format=%s, want 0 and STATEMENT", logBin, format)
	}
	plain.Stop()
	plain.Stop() // idempotent
}

// With DataDir the server's rows outlive it: a second launch on the same directory finds them.
func TestDataDirKeepsRows(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	t.Chdir(filepath.Dir(dir))
	dir = "db" // relative, as an application passes it
	first, err := mariadbtest.Launch(mariadbtest.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	first.Exec(t, "CREATE DATABASE kept", "CREATE TABLE kept.t (id INT PRIMARY KEY)", "INSERT INTO kept.t VALUES (7)")
	first.Stop()
	second, err := mariadbtest.Launch(mariadbtest.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	var id int
	if err := second.DB().QueryRow("SELECT id FROM kept.t").Scan(&id); err != nil || id != 7 {
		t.Fatalf("row after relaunch: %d, %v", id, err)
	}
}
