package mysql

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

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

const crashChildEnv = "SLUICE_MYSQL_CRASH_CHILD"

// crashChild runs the CDC source of database "crash" into Kafka (SLUICE_BROKERS), as a process of its own.
// With SLUICE_KILL_AFTER=N its ETL stage takes 30ms per streamed change and SIGKILLs the process at the N-th,
// so the kill lands in the middle of a transaction's events after the earlier ones were acknowledged.
func crashChild() int {
	off := false
	src, err := New(Config{DSN: os.Getenv("SLUICE_MYSQL_DSN"), ServerID: 4242, Tables: []string{"crash.*"},
		SnapshotMode: SnapshotInitial, SchemaChanges: &off, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	killAfter, _ := strconv.Atoi(os.Getenv("SLUICE_KILL_AFTER"))
	var streamed atomic.Int64
	killer := stages.Map("kill-switch", func(r stream.Record) (stream.Record, error) {
		if r.Operation != stream.OpRead && killAfter > 0 {
			// A slow stage: the changes before the kill are acknowledged and their positions saved.
			time.Sleep(30 * time.Millisecond)
			if streamed.Add(1) == int64(killAfter) {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		return r, nil
	})
	tp := topology.New("mysql-crash")
	a := tp.Topic(src.Topic("crash.a"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	tp.Topic(src.Topic("crash.b"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	tp.Source("cdc", src).Via(killer).To(a)
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

// Issue 3, acceptance 3, as a crash: 30 rows x 2 tables in one transaction; the process running the source
// is SIGKILLed in the middle of that transaction's events and started again. Every row arrives, and the
// restarted source resumes inside the transaction at its saved position instead of at the transaction's
// start, sending exactly the missing rows. (Records Kafka acknowledged after the last saved position would be
// produced again, at-least-once; the stage's pace makes the kill land after the last save. Resuming exactly
// at a position is also tested at 12 cut points without a process boundary.)
func TestSIGKILLMidTransaction(t *testing.T) {
	server.CreateDatabase(t, "crash")
	server.Exec(t, "CREATE TABLE crash.a (id INT PRIMARY KEY, v VARCHAR(20))", "CREATE TABLE crash.b (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO crash.a VALUES (0, 'snapshot')") // once this row is in Kafka, the snapshot was taken
	brokers := testkit.Brokers(t, 1)
	child := func(killAfter int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", "SLUICE_KILL_AFTER="+strconv.Itoa(killAfter),
			"SLUICE_MYSQL_DSN="+server.DSN(""), "SLUICE_BROKERS="+strings.Join(brokers, ","))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := child(25)
	for deadline := time.Now().Add(60 * time.Second); distinct(topicRows(t, brokers)) < 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatal("the snapshot row did not reach Kafka within 60s")
		}
	}
	var stmts []string
	for i := 1; i <= 30; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO crash.a VALUES (%d, 'a%d')", i, i), fmt.Sprintf("INSERT INTO crash.b VALUES (%d, 'b%d')", i, i))
	}
	tx, err := server.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	err = first.Wait()
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was to SIGKILL itself mid-transaction; it exited with %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	saved, err := topology.Positions(ctx, brokers, "mysql-crash", "cdc")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	beforeRestart := len(topicRows(t, brokers))

	second := child(0)
	var rows []string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rows = topicRows(t, brokers)
		if distinct(rows) == 61 {
			break
		}
		if time.Now().After(deadline) {
			second.Process.Kill()
			t.Fatalf("after the restart %d of 61 rows arrived", distinct(rows))
		}
	}
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Fatalf("restarted child: %v", err)
	}
	rows = topicRows(t, brokers)
	afterRestart := len(rows) - beforeRestart
	t.Logf("killed after 25 streamed changes: %d records in Kafka before the restart, %d after it; saved position %v; duplicates %d",
		beforeRestart, afterRestart, saved, len(rows)-61)
	if afterRestart >= 60 {
		t.Errorf("the restarted source sent %d records: it started the transaction over instead of resuming inside it", afterRestart)
	}
	// The stage's pace leaves time for every acknowledged change's position to be saved before the kill,
	// so the restart must send exactly the missing rows.
	if dups := len(rows) - 61; dups != 0 {
		t.Errorf("%d rows arrived twice; the restart should have resumed exactly at the saved position", dups)
	}
}

// topicRows reads both change topics and returns "table:id" for every record.
func topicRows(t *testing.T, brokers []string) []string {
	t.Helper()
	codec, _ := stream.LookupCodec("json-schema")
	var rows []string
	for _, table := range []string{"a", "b"} {
		for _, m := range testkit.ReadTopic(t, brokers, "sluice.crash."+table) {
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
			rows = append(rows, fmt.Sprintf("%s:%d", table, id))
		}
	}
	return rows
}

func distinct(rows []string) int {
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r] = true
	}
	return len(seen)
}
