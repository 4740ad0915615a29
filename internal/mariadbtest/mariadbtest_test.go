package mariadbtest_test

import (
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
