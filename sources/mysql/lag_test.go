package mysql

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
)

// The task's lag is the seconds from the binlog time of the last transaction read to now while events are
// pending, and 0 once the stream caught up. Transactions written with SET TIMESTAMP 100 s in the past carry
// that time in their binlog events (and in the records' Timestamp).
func TestLagIsSecondsBehindTheBinlog(t *testing.T) {
	server.CreateDatabase(t, "lagdb")
	server.Exec(t, "CREATE TABLE lagdb.t (id INT PRIMARY KEY)")
	src := newStreamSource(t, SnapshotNever, 10, "lagdb.t")
	r := openTask(t, src, nil)
	defer r.Close()
	lagger, ok := r.(sources.Lagger)
	if !ok {
		t.Fatal("the mysql source's reader does not implement sources.Lagger")
	}
	if v, unit, ok := lagger.Lag(); ok || unit != "seconds" {
		t.Fatalf("Lag() before the stream read a transaction = %v, %q, %v; want not ok, in seconds", v, unit, ok)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := server.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	past := time.Now().Add(-100 * time.Second).Unix()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET TIMESTAMP = %d", past)); err != nil {
		t.Fatal(err)
	}
	const rows = 50
	for i := 1; i <= rows; i++ { // one transaction each
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO lagdb.t VALUES (%d)", i)); err != nil {
			t.Fatal(err)
		}
	}

	first, err := r.Read(ctx) // at most ChunkSize (10) of the 50: the rest is pending
	if err != nil || len(first) == 0 {
		t.Fatalf("Read: %d records, %v", len(first), err)
	}
	if got := first[0].Timestamp.Unix(); got != past {
		t.Errorf("record Timestamp %d, want the binlog event's %d", got, past)
	}
	v, unit, ok := lagger.Lag()
	if !ok || unit != "seconds" || math.Abs(v-float64(time.Now().Unix()-past)) > 2 {
		t.Fatalf("Lag() with %d of %d rows read = %v, %q, %v; want about %d seconds", len(first), rows, v, unit, ok, time.Now().Unix()-past)
	}
	readUntil(t, r, isRow("lagdb.t", fmt.Sprint(rows)))

	// Caught up: the next Read waits for an event that does not come.
	waitCtx, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if recs, err := r.Read(waitCtx); err == nil {
		t.Fatalf("Read with nothing left returned %d records", len(recs))
	}
	if v, unit, ok := lagger.Lag(); !ok || unit != "seconds" || v != 0 {
		t.Fatalf("Lag() once caught up = %v, %q, %v; want 0 seconds", v, unit, ok)
	}
}
