package postgres

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
)

// A PostgreSQL address that accepts connections and never answers fails the start-up within
// ConnectTimeout, naming the address, as a transient error.
func TestBlackHoleServer(t *testing.T) {
	addr := testkit.StartBlackHole(t).Addr()
	src, err := New(Config{DSN: "postgres://u@" + addr + "/db", Tables: []string{"public.t"}, Slot: "s", ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = src.Tasks(ctx)
	took := time.Since(start)
	host, _, _ := strings.Cut(addr, ":")
	if err == nil || !strings.Contains(err.Error(), host) || !sources.IsTransient(err) {
		t.Fatalf("Tasks against a black-hole server: %v after %v; want a transient error naming %s", err, took, addr)
	}
	if took > 10*time.Second {
		t.Errorf("failed after %v, want within ConnectTimeout", took)
	}
}

// The server dies while a reader streams: Read fails with a transient error, so the engine reopens the
// task at its saved position; Open against the dead server is transient too.
func TestServerKilledIsTransient(t *testing.T) {
	own := pgtest.Start(t)
	dsn := own.DSN("postgres")
	c := connect(t, dsn)
	execIn(t, c, "CREATE TABLE k (id int PRIMARY KEY)")
	src, err := New(Config{DSN: dsn, Tables: []string{"public.k"}, Slot: "killed", SnapshotMode: SnapshotNever, Logger: quiet,
		StatusInterval: 100 * time.Millisecond, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := openTask(t, src, nil)
	defer r.Close()
	execIn(t, c, "INSERT INTO k VALUES (1)")
	recs := readN(t, r, 1)
	own.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = r.Read(ctx)
	if err == nil || !sources.IsTransient(err) {
		t.Fatalf("Read after the server died: %v; want a transient error", err)
	}
	_, err = src.Open(ctx, sources.Task{Key: src.TaskKey()}, recs[0].Position)
	if err == nil || !sources.IsTransient(err) {
		t.Fatalf("Open with the server dead: %v; want a transient error", err)
	}
}

// The slot's confirmed LSN never passes the first change a reader returned, however much WAL follows (nothing tells the source what Kafka acknowledged); a reader that returned
// nothing lets a heartbeat query's WAL advance the slot.
func TestSlotProgress(t *testing.T) {
	dsn := server.CreateDatabase(t, "progress")
	c := connect(t, dsn)
	execIn(t, c, "CREATE TABLE p (id int PRIMARY KEY)", "CREATE TABLE heartbeat (id int PRIMARY KEY, ts timestamptz)",
		"INSERT INTO heartbeat VALUES (1, now())")
	newSrc := func(heartbeat string) *Source {
		src, err := New(Config{DSN: dsn, Tables: []string{"public.p"}, Slot: "progress", SnapshotMode: SnapshotNever, Logger: quiet,
			StatusInterval: 50 * time.Millisecond, HeartbeatQuery: heartbeat, HeartbeatInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	confirmed := func() pglogrepl.LSN {
		var text string
		if err := c.QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'progress'").Scan(&text); err != nil {
			t.Fatal(err)
		}
		lsn, _ := pglogrepl.ParseLSN(text)
		return lsn
	}
	r := openTask(t, newSrc(""), nil)
	execIn(t, c, "INSERT INTO p VALUES (1)")
	first, err := parsePosition(readN(t, r, 1)[0].Position)
	if err != nil {
		t.Fatal(err)
	}
	// More changes and WAL: the reader receives them, keeps them unreturned or returns them; Kafka has
	// acknowledged nothing the source knows of.
	for i := 2; i <= 20; i++ {
		execIn(t, c, "INSERT INTO p VALUES ("+itoa(i)+")", "UPDATE heartbeat SET ts = now()")
	}
	readN(t, r, 19)
	expectQuiet(t, r) // several status updates go out meanwhile
	if got := confirmed(); got > first.tx {
		t.Errorf("the slot confirmed %s, past the first returned change's transaction (commit %s) that nothing acknowledged", got, first.tx)
	}
	r.Close()

	// A quiet reader (nothing captured changes) with a heartbeat query lets the slot advance.
	var before string
	if err := c.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&before); err != nil {
		t.Fatal(err)
	}
	beforeLSN, _ := pglogrepl.ParseLSN(before)
	// Open at the last record's position: everything is acknowledged up to it.
	last := readAllFrom(t, newSrc(""), 20)
	r2 := openTask(t, newSrc("UPDATE heartbeat SET ts = now()"), last)
	defer r2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for confirmed() <= beforeLSN {
		rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		recs, err := r2.Read(rctx)
		rcancel()
		if len(recs) > 0 {
			t.Fatalf("the quiet reader returned %d records", len(recs))
		}
		if ctx.Err() != nil {
			t.Fatalf("the slot stayed at %s (WAL was at %s before the heartbeats): %v", confirmed(), beforeLSN, err)
		}
	}
}

// readAllFrom opens a reader at the start (slot's confirmed point), reads n records and returns the last
// one's position.
func readAllFrom(t *testing.T, src *Source, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, src.cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var lsn string
	if err := c.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", src.cfg.Slot).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	p, err := Position{Phase: PhaseStream, LSN: lsn}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	r := openTask(t, src, p)
	defer r.Close()
	recs := readN(t, r, n)
	return recs[n-1].Position
}

func itoa(i int) string { return strconv.Itoa(i) }
