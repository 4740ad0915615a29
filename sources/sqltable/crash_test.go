package sqltable

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

const crashChildEnv = "SLUICE_SQLTABLE_CRASH_CHILD"

// crashChild runs a pipeline reading table items (timestamp+incrementing, SLUICE_SQLTABLE_DIALECT and
// SLUICE_SQLTABLE_DSN) into Kafka (SLUICE_BROKERS), as a process of its own. With SLUICE_KILL_AFTER=N its
// ETL stage takes 20ms per record and SIGKILLs the process at the N-th, so that the kill lands while pages
// are being read, after the earlier records were acknowledged and their positions saved.
func crashChild() int {
	src, err := New(Config{DSN: os.Getenv("SLUICE_SQLTABLE_DSN"), Dialect: Dialect(os.Getenv("SLUICE_SQLTABLE_DIALECT")),
		Mode: ModeTimestampIncrementing, Tables: []string{"items"}, TimestampColumn: "updated", BatchSize: 10,
		PollInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	killAfter, _ := strconv.Atoi(os.Getenv("SLUICE_KILL_AFTER"))
	var seen atomic.Int64
	killer := stages.Map("kill-switch", func(r stream.Record) (stream.Record, error) {
		if killAfter > 0 {
			time.Sleep(20 * time.Millisecond) // a slow stage: the records before the kill are acknowledged
			if seen.Add(1) == int64(killAfter) {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		return r, nil
	})
	tp := topology.New("sqltable-crash")
	items := tp.Topic(src.Topic("items"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	tp.Source("table", src).Via(killer).To(items)
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

// Acceptance 1, resume after a kill: a pipeline process reading a table in timestamp+incrementing mode is
// SIGKILLed in the middle of 100 rows (groups of 20 sharing a timestamp, pages of 10); while it is down, 50
// rows are inserted and 10 of the first rows updated; the restarted process resumes at the saved position.
// Every row and every update arrives (lost = 0); records acknowledged after the last saved position may
// arrive twice (counted).
func TestSIGKILLResume(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn, db := b.database(t, "crash")
			execSQL(t, db, "CREATE TABLE items (id "+b.serial+", v INT NOT NULL, updated "+b.ts+" NOT NULL)",
				"CREATE INDEX items_updated ON items (updated)")
			insert := func(from, to int, group func(i int) int) {
				for i := from; i <= to; i++ {
					execSQL(t, db, fmt.Sprintf("INSERT INTO items (v, updated) VALUES (0, '2020-01-01 00:00:%02d')", group(i)))
				}
			}
			insert(1, 100, func(i int) int { return (i - 1) / 20 })
			brokers := testkit.Brokers(t, 1)
			child := func(killAfter int) *exec.Cmd {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), crashChildEnv+"=1", "SLUICE_KILL_AFTER="+strconv.Itoa(killAfter),
					"SLUICE_SQLTABLE_DSN="+dsn, "SLUICE_SQLTABLE_DIALECT="+string(b.dialect), "SLUICE_BROKERS="+strings.Join(brokers, ","))
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				return cmd
			}
			first := child(45)
			err := first.Wait()
			if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the child was to SIGKILL itself at its 45th record; it exited with %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			saved, err := topology.Positions(ctx, brokers, "sqltable-crash", "table")
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			beforeRestart := len(versions(t, brokers))
			// While no process runs: 50 new rows (ties too) and updates of 10 rows read before the kill.
			insert(101, 150, func(i int) int { return 10 + (i-101)/25 })
			for id := 1; id <= 10; id++ {
				execSQL(t, db, fmt.Sprintf("UPDATE items SET v = 1, updated = '2020-01-01 00:00:30' WHERE id = %d", id))
			}
			want := map[string]bool{}
			for id := 1; id <= 150; id++ {
				want[fmt.Sprintf("%d/0", id)] = true
				if id <= 10 {
					want[fmt.Sprintf("%d/1", id)] = true
				}
			}

			second := child(0)
			var got []string
			for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				got = versions(t, brokers)
				if missing(want, got) == 0 {
					break
				}
				if time.Now().After(deadline) {
					second.Process.Kill()
					second.Wait()
					t.Fatalf("after the restart %d of %d versions arrived", len(want)-missing(want, got), len(want))
				}
			}
			second.Process.Signal(syscall.SIGTERM)
			if err := second.Wait(); err != nil {
				t.Fatalf("restarted child: %v", err)
			}
			got = versions(t, brokers)
			t.Logf("killed at the 45th record: %d records in Kafka before the restart (saved position %v), %d after; lost 0, duplicates %d",
				beforeRestart, saved, len(got)-beforeRestart, len(got)-len(want))
			for _, v := range got {
				if !want[v] {
					t.Errorf("unexpected version %s", v)
				}
			}
		})
	}
}

// versions reads topic sluice.items and returns "id/v" for every record.
func versions(t *testing.T, brokers []string) []string {
	t.Helper()
	codec, _ := stream.LookupCodec("json-schema")
	var out []string
	for _, m := range testkit.ReadTopic(t, brokers, "sluice.items") {
		_, v, err := codec.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		row := v.(*stream.Struct)
		id, _ := row.GetInt64("id")
		ver, _ := row.GetInt32("v")
		out = append(out, fmt.Sprintf("%d/%d", id, ver))
	}
	return out
}

func missing(want map[string]bool, got []string) int {
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	n := 0
	for w := range want {
		if !seen[w] {
			n++
		}
	}
	return n
}
