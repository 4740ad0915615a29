package sqltable

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/sources"
)

// A database that goes away while a task polls fails the next Read with an error marked sources.Transient
// (so the engine reopens the task at its saved position later) that names the task and its position.
func TestServerGoneIsTransient(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			var dsn string
			var db *sql.DB
			var stop func()
			if b.dialect == MySQL {
				srv := mariadbtest.Start(t, mariadbtest.WithoutBinlog())
				dsn, db, stop = srv.CreateDatabase(t, "gone"), srv.DB(), srv.Stop
				execSQL(t, db, "CREATE TABLE gone.t (id INT PRIMARY KEY)", "INSERT INTO gone.t VALUES (1)")
			} else {
				srv := pgtest.Start(t)
				dsn, stop = srv.CreateDatabase(t, "gone"), srv.Stop
				srv.ExecIn(t, "gone", "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
			}
			src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: ModeIncrementing, Tables: []string{"t"},
				IncrementingColumn: "id", PollInterval: 10 * time.Millisecond, ConnectTimeout: 2 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := src.Open(ctx, onlyTask(t, src), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if recs, err := r.Read(ctx); err != nil || len(recs) != 1 {
				t.Fatalf("Read: %d records, %v", len(recs), err)
			}
			stop()
			_, err = r.Read(ctx)
			if !sources.IsTransient(err) {
				t.Fatalf("Read with the server gone: %v, want an error marked transient", err)
			}
			if !strings.Contains(err.Error(), "task sqltable:sluice.t") || !strings.Contains(err.Error(), `{"incrementing":1}`) {
				t.Errorf("%q does not name the task and its position", err)
			}
		})
	}
}

// A poll whose query outlives QueryTimeout fails Read with an error marked transient that names the
// timeout, and Read returns within about the timeout.
func TestQueryTimeout(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn, db := b.database(t, "slow")
			execSQL(t, db, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
			slow := "SELECT * FROM t WHERE SLEEP(5) = 0"
			if b.dialect == PostgreSQL {
				slow = "SELECT * FROM t WHERE id > (SELECT 0 FROM pg_sleep(5))"
			}
			src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: ModeBulk, Query: slow, QueryTimeout: 500 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := src.Open(ctx, onlyTask(t, src), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			start := time.Now()
			_, err = r.Read(ctx)
			if !sources.IsTransient(err) || !strings.Contains(err.Error(), "QueryTimeout 500ms") {
				t.Fatalf("Read of a query slower than QueryTimeout: %v, want a transient error naming QueryTimeout", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Read returned after %s with QueryTimeout 500ms", took)
			}
		})
	}
}
