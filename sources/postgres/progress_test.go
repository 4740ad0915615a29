package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// The slot advances while the pipeline runs (sources.Committer): under a steady load of small transactions
// through a real topology on the embedded broker, the test samples pg_replication_slots'
// confirmed_flush_lsn after every transaction. It must move forward several times during the load, never
// go back, and each time it passes the end of one of the test's transactions every row of that
// transaction must already be in Kafka. Once the load stops, the slot passes the last transaction without
// a restart (everything returned is saved, so the server's sent point is confirmed).
func TestSlotAdvancesWhileRunning(t *testing.T) {
	// Its own database: TestSlotProgress leaves its slot on "progress", which blocks dropping that one.
	dsn := server.CreateDatabase(t, "slotadvance")
	c := connect(t, dsn)
	execIn(t, c, "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (0, 'snapshot')")
	brokers := testkit.Brokers(t, 1)
	src, err := New(Config{DSN: dsn, Slot: "progress_slot", Tables: []string{"public.t"},
		StatusInterval: 100 * time.Millisecond, ChunkSize: 50, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("postgres-progress")
	topic := src.Topic("public.t")
	// Each change spends 2 ms in the pipeline before it is produced, so records the source returned are not
	// all in Kafka at once. This end-to-end check can miss a slot confirmed too far only briefly (the
	// embedded broker acknowledges within milliseconds); TestCommitConfirmsOnlySavedPositions pins down
	// exactly what the reader confirms.
	lag := stages.Map("lag", func(r stream.Record) (stream.Record, error) {
		time.Sleep(2 * time.Millisecond)
		return r, nil
	})
	tp.Source("cdc", src).Via(lag).To(tp.Topic(topic, topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema")))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = brokers, "off", quiet
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- tp.RunWith(ctx, cfg) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()

	var txs []*committedTx
	var samples, advances, checks int
	var first, last pglogrepl.LSN
	// watch samples the slot's confirmed LSN and checks every transaction it now covers.
	watch := func() {
		var text *string
		qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.QueryRow(qctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'progress_slot'").Scan(&text)
		cancel()
		if err == pgx.ErrNoRows || err == nil && text == nil {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		confirmed, err := pglogrepl.ParseLSN(*text)
		if err != nil {
			t.Fatal(err)
		}
		samples++
		switch {
		case first == 0:
			first = confirmed
		case confirmed < last:
			t.Errorf("the slot's confirmed LSN went back from %s to %s", last, confirmed)
		case confirmed > last:
			advances++
		}
		last = confirmed
		var due []*committedTx
		for _, tx := range txs {
			if !tx.checked && tx.after <= confirmed {
				due = append(due, tx)
			}
		}
		if len(due) == 0 {
			return
		}
		inKafka := idsIn(t, brokers, topic)
		for _, tx := range due {
			tx.checked = true
			checks++
			missing := 0
			for _, id := range tx.ids {
				if !inKafka[id] {
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("the slot confirmed %s, past transaction %s (ends before %s), while %d of its %d rows were not in Kafka",
					confirmed, tx.name, tx.after, missing, len(tx.ids))
			}
		}
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
			watch()
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, timeout)
			}
		}
		watch()
	}
	waitFor("the snapshot row in Kafka", 60*time.Second, func() bool { return idsIn(t, brokers, topic)[0] })

	// The load: 60 transactions of 20 rows, one every 50 ms or so (3 s), with a sample after each.
	const txCount, rows = 60, 20
	start := time.Now()
	advancesBefore := advances
	for i := 0; i < txCount; i++ {
		from := 1 + i*rows
		var after string
		execIn(t, c, fmt.Sprintf("INSERT INTO t SELECT g, 'v' || g FROM generate_series(%d, %d) g", from, from+rows-1))
		if err := c.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&after); err != nil {
			t.Fatal(err)
		}
		tx := &committedTx{name: fmt.Sprintf("load-%d", i)}
		if tx.after, err = pglogrepl.ParseLSN(after); err != nil {
			t.Fatal(err)
		}
		for id := from; id < from+rows; id++ {
			tx.ids = append(tx.ids, id)
		}
		txs = append(txs, tx)
		watch()
		time.Sleep(50 * time.Millisecond) // the load's pace, not a synchronisation
	}
	duringLoad, checkedDuringLoad := advances-advancesBefore, checks
	loadTime := time.Since(start)
	waitFor("the slot to pass the last transaction while the pipeline runs", 30*time.Second, func() bool {
		return txs[len(txs)-1].checked
	})
	t.Logf("load of %d transactions in %s: the slot's confirmed LSN advanced %d times during it (%d transactions passed and checked then), %d times in all; %d samples, %d transactions checked; confirmed %s -> %s",
		txCount, loadTime.Round(time.Millisecond), duringLoad, checkedDuringLoad, advances, samples, checks, first, last)
	if duringLoad < 3 {
		t.Errorf("the slot's confirmed LSN advanced %d times during the load; want it to advance while records flow (at least 3)", duringLoad)
	}
	if checkedDuringLoad < txCount/3 {
		t.Errorf("the slot passed %d of the load's %d transactions while it ran; want at least %d", checkedDuringLoad, txCount, txCount/3)
	}
	if checks != txCount {
		t.Errorf("%d of the %d transactions were checked as the slot passed them", checks, txCount)
	}
}

// Commit on the reader itself: the slot's confirmed LSN stays where the reader was opened while nothing
// is committed, moves to a committed position's "lsn" (the end of the transaction before the record's,
// not the record's own transaction, which has records not committed), passes a transaction once its last
// record is committed, and stays behind records returned and not committed even while keepalives report
// WAL beyond them.
func TestCommitConfirmsOnlySavedPositions(t *testing.T) {
	dsn := server.CreateDatabase(t, "commits")
	c := connect(t, dsn)
	execIn(t, c, "CREATE TABLE t (id int PRIMARY KEY)")
	src := newSource(t, "commits", "commits_slot", "public.t")
	r := openTask(t, src, nil)
	defer r.Close()
	committer, ok := r.(sources.Committer)
	if !ok {
		t.Fatalf("the reader (%T) does not implement sources.Committer", r)
	}
	now := func() pglogrepl.LSN {
		t.Helper()
		var text string
		if err := c.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&text); err != nil {
			t.Fatal(err)
		}
		lsn, err := pglogrepl.ParseLSN(text)
		if err != nil {
			t.Fatal(err)
		}
		return lsn
	}
	confirmed := func() pglogrepl.LSN {
		t.Helper()
		var text string
		if err := c.QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'commits_slot'").Scan(&text); err != nil {
			t.Fatal(err)
		}
		lsn, err := pglogrepl.ParseLSN(text)
		if err != nil {
			t.Fatal(err)
		}
		return lsn
	}
	// drive keeps Read running (it sends the status updates, every 200 ms here) for about d.
	drive := func(d time.Duration) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); {
			expectQuiet(t, r)
		}
	}
	// until drives Read until the slot's confirmed LSN reaches at least want.
	until := func(what string, want pglogrepl.LSN) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); confirmed() < want; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the slot's confirmed LSN is %s, not %s within 15s", what, confirmed(), want)
			}
			expectQuiet(t, r)
		}
	}
	commit := func(rec stream.Record) pglogrepl.LSN {
		t.Helper()
		if err := committer.Commit(context.Background(), rec.Position); err != nil {
			t.Fatalf("Commit(%s): %v", rec.Position, err)
		}
		p, err := parsePosition(rec.Position)
		if err != nil {
			t.Fatal(err)
		}
		return p.lsn
	}

	expectQuiet(t, r) // the snapshot (empty) is done; streaming
	beforeA := now()
	execIn(t, c, "INSERT INTO t VALUES (1), (2), (3)")
	execIn(t, c, "INSERT INTO t VALUES (4), (5), (6)")
	endB := now()
	recs := readN(t, r, 6)

	drive(time.Second)
	if got := confirmed(); got > beforeA {
		t.Errorf("nothing committed: the slot confirmed %s, past the start of the first transaction (%s)", got, beforeA)
	}

	mid := commit(recs[4]) // the second transaction's 2nd record: confirms the end of the first
	if mid <= beforeA || mid >= endB {
		t.Fatalf("position %s: lsn %s, want the first transaction's end (after %s, before %s)", recs[4].Position, mid, beforeA, endB)
	}
	until("the committed position's lsn", mid)
	drive(time.Second)
	if got := confirmed(); got != mid {
		t.Errorf("committed %s: the slot confirmed %s, want %s (the end of the transaction before the record's)", recs[4].Position, got, mid)
	}

	commit(recs[5]) // the second transaction's last record: everything returned is saved
	until("the end of the second transaction, its last record committed", endB)

	beforeC := now()
	execIn(t, c, "INSERT INTO t VALUES (7)")
	recC := readN(t, r, 1)[0]
	execIn(t, c, "CREATE TABLE other (id int)", "INSERT INTO other VALUES (1)") // WAL after C, not captured
	endOther := now()
	drive(time.Second)
	if got := confirmed(); got > beforeC {
		t.Errorf("a record returned and not committed: the slot confirmed %s, past its transaction's start (%s)", got, beforeC)
	}
	commit(recC)
	until("WAL after the last committed record's transaction", endOther)
}
