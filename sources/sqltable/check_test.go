package sqltable

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
)

// The start-up checks (Tasks) name the table and column at fault, on both databases.
func TestStartupChecks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn, db := b.database(t, "checks")
			execSQL(t, db, "CREATE TABLE orders (id "+b.serial+", n INT NOT NULL, updated "+b.ts+" NOT NULL, touched "+b.ts+")",
				"CREATE TABLE plain (id INT PRIMARY KEY, updated "+b.ts+" NOT NULL)",
				"CREATE INDEX orders_updated ON orders (updated)")
			tasks := func(cfg Config, log *slog.Logger) error {
				cfg.DSN, cfg.Dialect, cfg.Logger = dsn, b.dialect, log
				src := newSource(t, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := src.Tasks(ctx)
				return err
			}
			for _, c := range []struct {
				name string
				cfg  Config
				is   error
				says []string
			}{
				{"missing table", Config{Mode: ModeBulk, Tables: []string{"orders", "nosuch"}}, ErrUnknownTable, []string{"nosuch", "Tables"}},
				{"missing timestamp column", Config{Mode: ModeTimestamp, Tables: []string{"orders"}, TimestampColumn: "changed"},
					ErrUnknownColumn, []string{`"changed"`, "TimestampColumn", "orders", "updated"}},
				{"missing incrementing column", Config{Mode: ModeIncrementing, Tables: []string{"orders"}, IncrementingColumn: "seq"},
					ErrUnknownColumn, []string{`"seq"`, "IncrementingColumn"}},
				{"no auto-increment column", Config{Mode: ModeIncrementing, Tables: []string{"plain"}},
					ErrUnknownColumn, []string{"plain", "set IncrementingColumn"}},
				{"nullable timestamp", Config{Mode: ModeTimestampIncrementing, Tables: []string{"orders"}, TimestampColumn: "touched"},
					ErrNullableColumn, []string{`"touched"`, "nullable", "AllowNullable"}},
				{"missing key column", Config{Mode: ModeBulk, Tables: []string{"orders"}, KeyColumns: []string{"sku"}},
					ErrUnknownColumn, []string{`"sku"`, "KeyColumns"}},
				{"bad query column", Config{Mode: ModeIncrementing, Query: "SELECT id AS oid, n FROM orders", IncrementingColumn: "id"},
					nil, []string{"Query"}},
			} {
				err := tasks(c.cfg, quiet)
				if err == nil || (c.is != nil && !errors.Is(err, c.is)) {
					t.Errorf("%s: %v, want %v", c.name, err, c.is)
					continue
				}
				for _, s := range c.says {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s: %q does not say %q", c.name, err, s)
					}
				}
			}
			// Accepted: a nullable column with AllowNullable; the auto-increment column found by itself; a
			// column without an index, with a warning naming it.
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			if err := tasks(Config{Mode: ModeTimestampIncrementing, Tables: []string{"orders"}, TimestampColumn: "touched", AllowNullable: true}, log); err != nil {
				t.Errorf("AllowNullable: %v", err)
			}
			if !strings.Contains(logs.String(), "column=touched") || strings.Contains(logs.String(), "column=updated") {
				t.Errorf("want a warning for the unindexed column touched only; logs:\n%s", logs.String())
			}
			if err := tasks(Config{Mode: ModeTimestampIncrementing, Tables: []string{"orders"}, TimestampColumn: "updated"}, quiet); err != nil {
				t.Errorf("timestamp+incrementing with the identity column: %v", err)
			}
			qualified := "checks.orders" // MySQL: database.table
			if b.dialect == PostgreSQL {
				qualified = "public.orders" // PostgreSQL: schema.table
			}
			if err := tasks(Config{Mode: ModeIncrementing, Tables: []string{qualified}}, quiet); err != nil {
				t.Errorf("qualified table %s: %v", qualified, err)
			}
		})
	}
}

// A database that cannot be reached fails Tasks with an error marked transient, naming the database.
func TestUnreachable(t *testing.T) {
	for _, c := range []struct {
		dialect Dialect
		dsn     string
	}{{MySQL, "root@tcp(127.0.0.1:1)/x"}, {PostgreSQL, "postgres://postgres@127.0.0.1:1/x?sslmode=disable"}} {
		src := newSource(t, Config{DSN: c.dsn, Mode: ModeBulk, Tables: []string{"t"}, ConnectTimeout: 2 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := src.Tasks(ctx)
		cancel()
		if !sources.IsTransient(err) || !strings.Contains(err.Error(), "cannot reach the "+string(c.dialect)) {
			t.Errorf("%s: %v, want a transient error naming the database", c.dialect, err)
		}
	}
}

// New checks the configuration without connecting, naming the field at fault.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		says string
	}{
		{Config{Mode: ModeBulk, Tables: []string{"t"}}, "DSN is empty"},
		{Config{DSN: "not a dsn", Mode: ModeBulk, Tables: []string{"t"}}, "DSN is not a MySQL DSN"},
		{Config{DSN: "postgres://h:notaport/db", Mode: ModeBulk, Tables: []string{"t"}}, "DSN is not a PostgreSQL"},
		{Config{DSN: "u@tcp(h:1)/db", Tables: []string{"t"}}, "Mode is empty"},
		{Config{DSN: "u@tcp(h:1)/db", Mode: "snapshot", Tables: []string{"t"}}, `Mode "snapshot"`},
		{Config{DSN: "u@tcp(h:1)/db", Mode: ModeTimestamp, Tables: []string{"t"}}, "TimestampColumn is empty"},
		{Config{DSN: "u@tcp(h:1)/db", Mode: ModeIncrementing, Query: "SELECT 1"}, "IncrementingColumn is empty"},
		{Config{DSN: "u@tcp(h:1)/db", Mode: ModeBulk}, "exactly one of Tables and Query"},
		{Config{DSN: "u@tcp(h:1)/db", Mode: ModeBulk, Tables: []string{"a.b.c"}}, "Tables[0]"},
		{Config{DSN: "u@tcp(h:1)/db", Mode: ModeBulk, Tables: []string{"t"}, BatchSize: -1}, "BatchSize"},
		{Config{DSN: "u@tcp(h:1)/db", Dialect: "oracle", Mode: ModeBulk, Tables: []string{"t"}}, "Dialect"},
	} {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want an error saying %q", c.cfg, err, c.says)
		}
	}
}
