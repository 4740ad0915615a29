package sqltable

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Rows sharing a timestamp (ties), across page boundaries (BatchSize 7): timestamp+incrementing reads each
// once, in (timestamp, id) order, and resumes exactly at any record; timestamp reads each once, and a
// restart in the middle of a group reads the group again (never skips its rest).
func TestTies(t *testing.T) {
	for _, b := range timestampBackends {
		t.Run(b.name, func(t *testing.T) {
			dsn, db := b.database(t, "ties")
			execSQL(t, db, "CREATE TABLE items (id "+b.serial+", updated "+b.ts+" NOT NULL)")
			groups := []int{10, 25, 5} // rows per timestamp
			var want []int64
			id := int64(0)
			for g, n := range groups {
				ts := time.Date(2021, 1, 1, 0, 0, g, 0, time.UTC).Format("2006-01-02 15:04:05")
				for range n {
					execSQL(t, db, fmt.Sprintf("INSERT INTO items (updated) VALUES ('%s')", ts))
					id++
					want = append(want, id)
				}
			}
			ids := func(recs []stream.Record) []int64 {
				out := make([]int64, len(recs))
				for i, r := range recs {
					out[i] = keyID(t, r)
				}
				return out
			}

			t.Run("timestamp+incrementing", func(t *testing.T) {
				src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: ModeTimestampIncrementing, Tables: []string{"items"},
					TimestampColumn: "updated", BatchSize: 7, StopAtEnd: true})
				task := onlyTask(t, src)
				all := readToEnd(t, src, task, nil)
				if got := ids(all); !slices.Equal(got, want) {
					t.Fatalf("ids %v, want %v", got, want)
				}
				for i, rec := range all {
					if got := ids(readToEnd(t, src, task, rec.Position)); !slices.Equal(got, want[i+1:]) {
						t.Fatalf("reopened at record %d (%s): ids %v, want %v", i, rec.Position, got, want[i+1:])
					}
				}
			})

			t.Run("timestamp", func(t *testing.T) {
				src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: ModeTimestamp, Tables: []string{"items"},
					TimestampColumn: "updated", BatchSize: 7, StopAtEnd: true})
				task := onlyTask(t, src)
				all := readToEnd(t, src, task, nil)
				got := ids(all)
				slices.Sort(got) // inside a group the order is the database's
				if !slices.Equal(got, want) {
					t.Fatalf("ids %v, want each of %v once", got, want)
				}
				// Reopened at a record, the task reads at least every row after it; at a group's last record,
				// exactly the later groups.
				groupEnd := map[int]bool{groups[0] - 1: true, groups[0] + groups[1] - 1: true, len(want) - 1: true}
				for i, rec := range all {
					again := ids(readToEnd(t, src, task, rec.Position))
					for _, later := range ids(all[i+1:]) {
						if !slices.Contains(again, later) {
							t.Fatalf("reopened at record %d (%s): row %d is missing (got %v)", i, rec.Position, later, again)
						}
					}
					if groupEnd[i] && len(again) != len(all)-i-1 {
						t.Fatalf("reopened at the last record %d of a group (%s): %d rows, want the %d after it", i, rec.Position, len(again), len(all)-i-1)
					}
				}
			})
		})
	}
}

// TimestampDelay keeps rows younger than the delay (transactions still in flight may commit older ones) for
// a later poll.
func TestTimestampDelay(t *testing.T) {
	for _, b := range timestampBackends {
		t.Run(b.name, func(t *testing.T) {
			dsn, db := b.database(t, "delay")
			execSQL(t, db, "CREATE TABLE items (id "+b.serial+", updated "+b.ts+" NOT NULL)",
				"INSERT INTO items (updated) VALUES ('2020-01-01 00:00:00')",
				"INSERT INTO items (updated) VALUES ("+b.now+")")
			for _, c := range []struct {
				delay time.Duration
				want  []int64
			}{{time.Hour, []int64{1}}, {0, []int64{1, 2}}} {
				src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: ModeTimestampIncrementing, Tables: []string{"items"},
					TimestampColumn: "updated", TimestampDelay: c.delay, StopAtEnd: true})
				var got []int64
				for _, rec := range readToEnd(t, src, onlyTask(t, src), nil) {
					got = append(got, keyID(t, rec))
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("TimestampDelay %s: ids %v, want %v", c.delay, got, c.want)
				}
			}
		})
	}
}
