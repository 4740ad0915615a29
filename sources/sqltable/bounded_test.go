package sqltable

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// TestBoundedReadsToTheEndAndEnds: the source a batch run reads (sources.Bounded) reads from the saved
// position until it caught up and then ends with ErrEndOfInput, without waiting for new rows: in
// incrementing mode the next bounded read goes on after the last row read; in bulk mode each bounded read
// is a whole pass, even right after a pass ended.
func TestBoundedReadsToTheEndAndEnds(t *testing.T) {
	for _, b := range backends {
		for _, mode := range []Mode{ModeIncrementing, ModeBulk} {
			t.Run(b.name+"/"+string(mode), func(t *testing.T) {
				dsn, db := b.database(t, "bounded_"+string(mode))
				execSQL(t, db, "CREATE TABLE items (id "+b.serial+", v INT NOT NULL)")
				insert := func(n int) {
					for i := 0; i < n; i++ {
						execSQL(t, db, fmt.Sprintf("INSERT INTO items (v) VALUES (%d)", i))
					}
				}
				insert(25)
				// An hour between polls: a read that waited for new rows instead of ending would time out.
				src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: mode, Tables: []string{"items"}, BatchSize: 10,
					PollInterval: time.Hour})
				bounded, ok := any(src).(sources.Bounded)
				if !ok {
					t.Fatal("the sqltable source is not a sources.Bounded")
				}
				task := onlyTask(t, src)
				read := func(pos stream.Position) (int, stream.Position) {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					r, err := bounded.Bounded().Open(ctx, task, pos)
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					n := 0
					for {
						recs, err := r.Read(ctx)
						for _, rec := range recs {
							n++
							pos = rec.Position
						}
						if errors.Is(err, sources.ErrEndOfInput) {
							return n, pos
						}
						if err != nil {
							t.Fatalf("after %d rows: %v", n, err)
						}
					}
				}
				n, pos := read(nil)
				if n != 25 {
					t.Fatalf("first bounded read: %d rows, want 25", n)
				}
				insert(5)
				n, _ = read(pos)
				want := 5
				if mode == ModeBulk {
					want = 30 // a new pass over the whole table
				}
				if n != want {
					t.Fatalf("second bounded read from %s: %d rows, want %d", pos, n, want)
				}
			})
		}
	}
}
