package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// TestBoundedReadsToTheServersPositionAndEnds: the source a batch run reads (sources.Bounded) takes the
// snapshot, streams the binlog up to the GTID position the server had when the task opened and ends with
// ErrEndOfInput; the next bounded read goes on from the saved position and ends again, also while a writer
// keeps committing: it returns every row committed before it opened, and then ends instead of following.
func TestBoundedReadsToTheServersPositionAndEnds(t *testing.T) {
	server.CreateDatabase(t, "bounded")
	server.Exec(t, "CREATE TABLE bounded.items (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL)")
	insert := func(from, to int) { // one transaction per row
		for i := from; i <= to; i++ {
			server.Exec(t, fmt.Sprintf("INSERT INTO bounded.items VALUES (%d, 'row')", i))
		}
	}
	insert(1, 50)
	off := false
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"bounded.items"},
		SnapshotMode: SnapshotInitial, SchemaChanges: &off, ChunkSize: 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bounded := src.Bounded()
	read := func(pos stream.Position) (map[int]bool, stream.Position) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := bounded.Open(ctx, sources.Task{Key: src.TaskKey()}, pos)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ids := map[int]bool{}
		for {
			recs, err := r.Read(ctx)
			for _, rec := range recs {
				id, err := after(t, rec).GetInt32("id")
				if err != nil {
					t.Fatal(err)
				}
				ids[int(id)] = true
				pos = rec.Position
			}
			if errors.Is(err, sources.ErrEndOfInput) {
				return ids, pos
			}
			if err != nil {
				t.Fatalf("after %d rows: %v", len(ids), err)
			}
		}
	}
	ids, pos := read(nil)
	if len(ids) != 50 {
		t.Fatalf("first bounded read (snapshot): %d rows, want 50", len(ids))
	}
	insert(51, 80)
	ids, pos = read(pos)
	if len(ids) != 30 || !ids[51] || !ids[80] {
		t.Fatalf("second bounded read (binlog): %d rows, want rows 51..80", len(ids))
	}

	// A writer that keeps committing during the third read: the read ends all the same.
	insert(81, 90)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1000; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			server.Exec(t, fmt.Sprintf("INSERT INTO bounded.items VALUES (%d, 'during')", i))
		}
	}()
	ids, _ = read(pos)
	close(stop)
	wg.Wait()
	var missing []string
	for i := 81; i <= 90; i++ {
		if !ids[i] {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("third bounded read misses rows committed before it opened: %s", strings.Join(missing, ", "))
	}
	t.Logf("third bounded read: %d rows (10 before it opened, the rest from the writer before the end position)", len(ids))
}
