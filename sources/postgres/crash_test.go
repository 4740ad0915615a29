package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

const crashChildEnv = "SLUICE_POSTGRES_CRASH_CHILD"

// crashChild runs the CDC source of table public.t into Kafka (SLUICE_BROKERS), as a process of its own.
// With SLUICE_KILL_AFTER=N its ETL stage SIGKILLs the process at the N-th streamed change.
func crashChild() int {
	src, err := New(Config{DSN: os.Getenv("SLUICE_POSTGRES_DSN"), Slot: "crash_slot", Tables: []string{"public.t"},
		StatusInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	killAfter, _ := strconv.Atoi(os.Getenv("SLUICE_KILL_AFTER"))
	var streamed atomic.Int64
	killer := stages.Map("kill-switch", func(r stream.Record) (stream.Record, error) {
		if r.Operation != stream.OpRead && killAfter > 0 && streamed.Add(1) == int64(killAfter) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return r, nil
	})
	tp := topology.New("postgres-crash")
	out := tp.Topic(src.Topic("public.t"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	tp.Source("cdc", src).Via(killer).To(out)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = strings.Split(os.Getenv("SLUICE_BROKERS"), ","), "off", quiet
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := tp.RunWith(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// committedTx is a transaction the test committed: its rows' ids and a WAL position at or after its end.
type committedTx struct {
	name    string
	ids     []int
	after   pglogrepl.LSN
	checked bool
}

// Acceptance 2, as a crash: five small transactions and one of 10,000 rows; the process running the
// source is SIGKILLed in the middle of the big transaction's changes and started again; every row
// arrives. Throughout the run the test polls the slot's confirmed_flush_lsn (pg_replication_slots) and,
// each time it passes the end of one of the test's transactions, checks that every row of that
// transaction is already in Kafka: the slot never passes an unacknowledged change.
func TestSIGKILLMidTransaction(t *testing.T) {
	dsn := server.CreateDatabase(t, "crash")
	c := connect(t, dsn)
	execIn(t, c, "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (0, 'snapshot')")
	brokers := testkit.Brokers(t, 1)
	topic := "sluice.public.t"
	child := func(killAfter int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", "SLUICE_KILL_AFTER="+strconv.Itoa(killAfter),
			"SLUICE_POSTGRES_DSN="+dsn, "SLUICE_BROKERS="+strings.Join(brokers, ","))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	var txs []*committedTx
	var confirmedSamples, checks int
	var lastConfirmed pglogrepl.LSN
	// watch samples the slot's confirmed LSN and checks every transaction it now covers.
	watch := func() {
		var text *string
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'crash_slot'").Scan(&text)
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
		confirmedSamples++
		if confirmed < lastConfirmed {
			t.Errorf("the slot's confirmed LSN went back from %s to %s", lastConfirmed, confirmed)
		}
		lastConfirmed = confirmed
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
		for deadline := time.Now().Add(timeout); !cond(); time.Sleep(100 * time.Millisecond) {
			watch()
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, timeout)
			}
		}
		watch()
	}
	walLSN := func() pglogrepl.LSN {
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
	commit := func(name string, from, to int) {
		execIn(t, c, fmt.Sprintf("INSERT INTO t SELECT i, 'v' || i FROM generate_series(%d, %d) i", from, to))
		tx := &committedTx{name: name, after: walLSN()}
		for i := from; i <= to; i++ {
			tx.ids = append(tx.ids, i)
		}
		txs = append(txs, tx)
		watch()
	}

	const killAt = 4000
	first := child(killAt)
	waitFor("the snapshot row in Kafka", 60*time.Second, func() bool { return idsIn(t, brokers, topic)[0] })
	for i := 1; i <= 5; i++ {
		commit(fmt.Sprintf("small-%d", i), 100000+i, 100000+i)
	}
	commit("big", 1, 10000)
	done := make(chan error, 1)
	go func() { done <- first.Wait() }()
	waitFor("the first child's SIGKILL", 90*time.Second, func() bool {
		select {
		case err := <-done:
			if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the child was to SIGKILL itself mid-transaction; it exited with %v", err)
			}
			return true
		default:
			return false
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	saved, err := topology.Positions(ctx, brokers, "postgres-crash", "cdc")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	beforeRestart := len(testkit.ReadTopic(t, brokers, topic))
	t.Logf("killed at streamed change %d: %d records in Kafka, saved position %v", killAt, beforeRestart, saved)

	second := child(0)
	all := 1 + 5 + 10000
	waitFor("every row after the restart", 120*time.Second, func() bool { return len(idsIn(t, brokers, topic)) == all })
	if sent := len(testkit.ReadTopic(t, brokers, topic)) - beforeRestart; sent >= 10000 {
		t.Errorf("the restarted source sent %d records: it started the 10,000-row transaction over instead of resuming inside it", sent)
	}
	// One more transaction, so that the saved position moves past the big one: the running pipeline tells
	// the source (sources.Committer), and the slot passes the big transaction without a restart.
	commit("last", 200000, 200000)
	waitFor("the last row", 60*time.Second, func() bool { return len(idsIn(t, brokers, topic)) == all+1 })
	waitFor("the slot to pass the big transaction while the pipeline runs", 60*time.Second, func() bool {
		for _, tx := range txs {
			if tx.name == "big" {
				return tx.checked
			}
		}
		return false
	})
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Fatalf("restarted child: %v", err)
	}
	total := len(testkit.ReadTopic(t, brokers, topic))
	t.Logf("records in Kafka: %d for %d rows (%d read twice); %d confirmed-LSN samples, %d transactions checked when the slot passed them, final confirmed %s",
		total, all+1, total-all-1, confirmedSamples, checks, lastConfirmed)
	if checks < 6 {
		t.Errorf("only %d of the test's 7 transactions were checked as the slot passed them", checks)
	}
}

// idsIn returns the ids of the rows whose change events are in topic.
func idsIn(t *testing.T, brokers []string, topic string) map[int]bool {
	t.Helper()
	codec, _ := stream.LookupCodec("json-schema")
	ids := map[int]bool{}
	for _, m := range testkit.ReadTopic(t, brokers, topic) {
		if m.Value == nil {
			continue
		}
		_, v, err := codec.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := v.(*stream.Struct).GetStruct("after")
		if after == nil {
			continue
		}
		id, _ := after.GetInt32("id")
		ids[int(id)] = true
	}
	return ids
}
