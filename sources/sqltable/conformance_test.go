package sqltable

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/sourcetest"
	"github.com/sluicehq/sluice/stream"
)

// Acceptance 4: the sources conformance suite, on two tables (two tasks), in every mode, on MariaDB and
// PostgreSQL. Bulk runs bounded (StopAtEnd: one pass) and polling; the incremental modes poll.
func TestConformance(t *testing.T) {
	type variant struct {
		mode      Mode
		stopAtEnd bool
	}
	variants := []variant{{ModeBulk, true}, {ModeBulk, false}, {ModeIncrementing, false}, {ModeTimestamp, false},
		{ModeTimestampIncrementing, false}}
	for _, b := range backends {
		for _, v := range variants {
			name := fmt.Sprintf("%s/%s/StopAtEnd=%v", b.name, v.mode, v.stopAtEnd)
			t.Run(name, func(t *testing.T) {
				dbName := strings.NewReplacer("/", "_", "+", "_", "=", "_").Replace(strings.ToLower("conf_" + name))
				dsn, db := b.database(t, dbName)
				for _, table := range []string{"a", "b"} {
					execSQL(t, db, "CREATE TABLE "+table+" (id "+b.serial+", v VARCHAR(20) NOT NULL, updated "+b.ts+" NOT NULL)")
				}
				poll := 50 * time.Millisecond
				if v.mode == ModeBulk {
					poll = time.Second // longer than the suite's Quiet: a new pass must not look like new input
				}
				cfg := Config{DSN: dsn, Dialect: b.dialect, Mode: v.mode, Tables: []string{"a", "b"}, BatchSize: 7,
					PollInterval: poll, StopAtEnd: v.stopAtEnd, Logger: quiet}
				if v.mode == ModeTimestamp || v.mode == ModeTimestampIncrementing {
					cfg.TimestampColumn = "updated"
				}
				var next atomic.Int64
				sourcetest.Run(t, sourcetest.Config{
					NewSource: func(t *testing.T) sources.Source {
						src, err := New(cfg)
						if err != nil {
							t.Fatal(err)
						}
						return src
					},
					Generate: func(t *testing.T, n int) {
						for range n {
							// Distinct timestamps in the past: timestamp mode re-reads a group of rows sharing a
							// timestamp after a restart inside it, which the suite's exact Resume check forbids.
							i := next.Add(1)
							ts := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond).Format("2006-01-02 15:04:05.000000")
							for _, table := range []string{"a", "b"} {
								execSQL(t, db, fmt.Sprintf("INSERT INTO %s (v, updated) VALUES ('%s%d', '%s')", table, table, i, ts))
							}
						}
					},
					Bounded: v.stopAtEnd,
					ID: func(r stream.Record) string {
						k, err := stream.KeyString(r.Key)
						if err != nil {
							t.Fatal(err)
						}
						return r.Topic + "/" + k
					},
				})
			})
		}
	}
}
