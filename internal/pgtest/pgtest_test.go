package pgtest_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
)

// TestStart starts a server, checks the settings logical replication relies on, creates a database and
// writes to it, and starts a second server with other settings.
func TestStart(t *testing.T) {
	srv := pgtest.Start(t)
	var walLevel, slots, senders string
	if err := srv.DB().QueryRow("SELECT current_setting('wal_level'), current_setting('max_replication_slots'), current_setting('max_wal_senders')").
		Scan(&walLevel, &slots, &senders); err != nil {
		t.Fatal(err)
	}
	if walLevel != "logical" || slots == "0" || senders == "0" {
		t.Errorf("wal_level=%s max_replication_slots=%s max_wal_senders=%s", walLevel, slots, senders)
	}
	var super, repl bool
	if err := srv.DB().QueryRow("SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user").Scan(&super, &repl); err != nil {
		t.Fatal(err)
	}
	if !super || !repl {
		t.Errorf("superuser=%v replication=%v, want both", super, repl)
	}
	dsn := srv.CreateDatabase(t, "shop")
	if !strings.Contains(dsn, "/shop?") {
		t.Errorf("DSN %q does not name the database", dsn)
	}
	srv.ExecIn(t, "shop", "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in shop.t: %d, %v", n, err)
	}
	srv.CreateDatabase(t, "shop") // again: drops the old one, open sessions and all
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err == nil {
		t.Error("shop.t survived CreateDatabase")
	}

	other := pgtest.Start(t, pgtest.Settings("wal_level=replica"))
	if err := other.DB().QueryRow("SELECT current_setting('wal_level')").Scan(&walLevel); err != nil {
		t.Fatal(err)
	}
	if walLevel != "replica" {
		t.Errorf("wal_level = %s, want replica", walLevel)
	}
	other.Stop()
	other.Stop() // idempotent
}
