package sqltable

import (
	"context"
	"testing"
	"time"
)

// Bulk mode re-reads the whole table every PollInterval, in key order, pages of BatchSize: the second pass
// has the rows inserted and the values updated after the first.
func TestBulkPasses(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn, db := b.database(t, "bulk")
			execSQL(t, db, "CREATE TABLE kv (k INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO kv VALUES (3, 30), (1, 10), (2, 20)")
			src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: ModeBulk, Tables: []string{"kv"}, BatchSize: 2,
				PollInterval: 200 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := src.Open(ctx, onlyTask(t, src), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			pass := func(n int) []int32 {
				var out []int32
				for len(out) < n {
					recs, err := r.Read(ctx)
					if err != nil {
						t.Fatal(err)
					}
					for _, rec := range recs {
						out = append(out, field(t, rec, "v").(int32))
					}
				}
				return out
			}
			if got := pass(3); len(got) != 3 || got[0] != 10 || got[1] != 20 || got[2] != 30 {
				t.Fatalf("first pass %v, want [10 20 30]", got)
			}
			execSQL(t, db, "INSERT INTO kv VALUES (4, 40)", "UPDATE kv SET v = 11 WHERE k = 1")
			start := time.Now()
			got := pass(4)
			if len(got) != 4 || got[0] != 11 || got[3] != 40 {
				t.Fatalf("second pass %v, want [11 20 30 40]", got)
			}
			if waited := time.Since(start); waited < 100*time.Millisecond {
				t.Errorf("the second pass started after %s, before PollInterval", waited)
			}
		})
	}
}
