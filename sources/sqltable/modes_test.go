package sqltable

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Acceptance 1: on each database and in each incremental mode, rows inserted and updated while the task
// polls all arrive, once: every inserted row (incrementing, which does not see updates), every version
// (id, v) of a row that was still current at a poll, and the last version of every row (timestamp modes).
// No version arrives twice, and a row's versions arrive in order.
func TestPollingWhileWriting(t *testing.T) {
	for _, b := range backends {
		for _, mode := range []Mode{ModeIncrementing, ModeTimestamp, ModeTimestampIncrementing} {
			t.Run(b.name+"/"+string(mode), func(t *testing.T) {
				name := "poll_" + strings.NewReplacer("+", "_").Replace(string(mode))
				dsn, db := b.database(t, name)
				execSQL(t, db, "CREATE TABLE items (id "+b.serial+", v INT NOT NULL, updated "+b.ts+" NOT NULL)",
					"CREATE INDEX items_updated ON items (updated)")
				cfg := Config{DSN: dsn, Dialect: b.dialect, Mode: mode, Tables: []string{"items"}, BatchSize: 10,
					PollInterval: 20 * time.Millisecond, TimestampDelay: 300 * time.Millisecond}
				if mode != ModeIncrementing {
					cfg.TimestampColumn = "updated"
				}
				src := newSource(t, cfg)
				task := onlyTask(t, src)
				if task.Key != "sqltable:sluice.items" {
					t.Errorf("task key %q", task.Key)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				r, err := src.Open(ctx, task, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()

				// The writer: 400 statements at 200/s, inserts and (except for incrementing) updates of random
				// rows, so that rows are updated after the task read them.
				const ops = 400
				done := make(chan error, 1)
				go func() {
					rng := rand.New(rand.NewPCG(1, 2))
					rows := 0
					pace := time.NewTicker(5 * time.Millisecond)
					defer pace.Stop()
					for i := range ops {
						<-pace.C
						q := "INSERT INTO items (v, updated) VALUES (0, " + b.now + ")"
						if mode != ModeIncrementing && rows > 0 && i%3 != 0 {
							q = fmt.Sprintf("UPDATE items SET v = v + 1, updated = %s WHERE id = %d", b.now, 1+rng.IntN(rows))
						} else {
							rows++
						}
						qctx, qcancel := context.WithTimeout(ctx, 30*time.Second)
						_, err := db.ExecContext(qctx, q)
						qcancel()
						if err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()

				seen := map[string]int{}
				lastV := map[int64]int32{}
				var final map[int64]int32
				reads := 0
				for {
					if final == nil {
						select {
						case err := <-done:
							if err != nil {
								t.Fatal(err)
							}
							final = finalVersions(t, db)
						default:
						}
					} else if caughtUp(seen, final) {
						break
					}
					rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
					recs, err := r.Read(rctx)
					rcancel()
					if err != nil && rctx.Err() != nil && ctx.Err() == nil {
						continue
					}
					if err != nil {
						t.Fatalf("Read after %d reads: %v", reads, err)
					}
					reads++
					for _, rec := range recs {
						id := keyID(t, rec)
						v := field(t, rec, "v").(int32)
						seen[fmt.Sprintf("%d/%d", id, v)]++
						if prev, ok := lastV[id]; ok && v <= prev {
							t.Errorf("row %d: version %d after version %d", id, v, prev)
						}
						lastV[id] = v
						wantOp := stream.OpUpdate
						if mode == ModeIncrementing {
							wantOp = stream.OpCreate
						}
						if rec.Operation != wantOp || rec.Topic != "sluice.items" || rec.Position == nil {
							t.Fatalf("record op %v topic %q position %s", rec.Operation, rec.Topic, rec.Position)
						}
					}
				}
				dups := 0
				for k, n := range seen {
					if n > 1 {
						dups++
						t.Errorf("version %s arrived %d times", k, n)
					}
				}
				updates := 0
				for k := range seen {
					if !strings.HasSuffix(k, "/0") {
						updates++
					}
				}
				t.Logf("%d rows, %d versions arrived (%d of them updates) in %d reads, %d duplicates", len(final), len(seen), updates, reads, dups)
				if mode != ModeIncrementing && updates == 0 {
					t.Error("no update arrived: the test did not exercise updates")
				}
			})
		}
	}
}

// finalVersions returns each row's current version.
func finalVersions(t *testing.T, db *sql.DB) map[int64]int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT id, v FROM items")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int32{}
	for rows.Next() {
		var id int64
		var v int32
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		out[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// caughtUp reports whether every row's current version arrived.
func caughtUp(seen map[string]int, final map[int64]int32) bool {
	for id, v := range final {
		if seen[fmt.Sprintf("%d/%d", id, v)] == 0 {
			return false
		}
	}
	return true
}
