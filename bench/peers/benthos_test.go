package peers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benthos 4.27.0 (MIT, the last release before the rename to Redpanda Connect), built from the Go module
// proxy as a custom distribution with only the sql (MySQL driver), kafka and pure components
// (bench/peers/tools/benthos, its own module). It has no MySQL change-data-capture input, so it takes part
// in the snapshot phase only: sql_select copies the table into Kafka with kafka_franz.
const (
	benthosVersion   = "Benthos 4.27.0 (MIT; sql_select -> kafka_franz, custom build with sql/base + MySQL driver, kafka, pure)"
	benthosModuleDir = "bench/peers/tools/benthos"
	benthosConfig    = "bench/peers/config/benthos/snapshot.yaml"
	benthosNoCDC     = "no MySQL change-data-capture input in the MIT-licensed Benthos 4.27; Redpanda Connect's mysql_cdc is not under an open-source licence"
)

// Deadlines of the adapter's calls outside the process.
const (
	benthosBuildTimeout = 15 * time.Minute // go build of the custom distribution on a cold cache
	benthosStopTimeout  = 60 * time.Second // SIGTERM to exit (Benthos' shutdown_timeout is 30s)
)

type benthosTool struct {
	bin builtBin
}

func init() { register(&benthosTool{}) }

func (*benthosTool) Name() string { return "benthos" }

func (*benthosTool) Describe() Description {
	return Description{
		Version: benthosVersion,
		Config:  []string{benthosConfig, benthosModuleDir + "/main.go", benthosModuleDir + "/go.mod"},
		Guarantee: "at-least-once (the input is acknowledged after Kafka acknowledged the batch), acks=all " +
			"(franz-go's default; kafka_franz has no acks field), idempotent producer (Benthos' default), no transactions",
		Format: "JSON object of the row without schema (sql_select: column name -> value; every value a string, as " +
			"go-sql-driver/mysql 1.7.1's text protocol returns it), key = the id",
		Notes: "A one-shot copy (one SELECT over one connection), not a snapshot followed by streaming; " +
			"batches of 100 rows or 100ms, 16 in flight, snappy (the default); target topic created by the adapter (1 partition, 1 replica).",
	}
}

func (*benthosTool) Supports(phase Phase) (bool, string) {
	if phase == PhaseSnapshot {
		return true, ""
	}
	return false, benthosNoCDC
}

// Prepare builds the custom distribution into WorkDir with the go command of PATH, verifying the modules
// against bench/peers/tools/benthos/go.sum.
func (b *benthosTool) Prepare(ctx context.Context, env *Env) error {
	ctx, cancel := context.WithTimeout(ctx, benthosBuildTimeout)
	defer cancel()
	bin := filepath.Join(env.WorkDir, "benthos")
	if err := goBuild(ctx, env.Logf, filepath.Join(env.RepoRoot, benthosModuleDir), ".", bin, "GOWORK=off"); err != nil {
		return fmt.Errorf("benthos: %w", err)
	}
	b.bin.set(bin)
	return nil
}

// Start runs one Benthos process per table (the configuration copies one table), each after creating its
// target topic. The processes stay alive after the copy (shutdown_delay) until Stop.
func (b *benthosTool) Start(ctx context.Context, env *Env, spec RunSpec) (Running, error) {
	bin, err := b.bin.forStart("benthos", spec)
	if err != nil {
		return nil, err
	}
	if !spec.Snapshot || spec.Resume || spec.Index != "" {
		return nil, fmt.Errorf("benthos: %s: only a snapshot start is supported (%s)", spec.Name, benthosNoCDC)
	}
	r := &benthosRunning{spec: spec}
	for _, table := range spec.Tables {
		if err := createTopic(ctx, env.Brokers, r.Topic(table)); err != nil {
			return nil, errors.Join(fmt.Errorf("benthos: %w", err), r.stopAll())
		}
		p, err := benthosStartProcess(ctx, env, bin, spec.Name, table, r.Topic(table))
		if err != nil {
			return nil, errors.Join(err, r.stopAll())
		}
		r.procs = append(r.procs, p)
	}
	return r, nil
}

// benthosStartProcess starts `benthos -c snapshot.yaml` for one table.
func benthosStartProcess(ctx context.Context, env *Env, bin, name, table, topic string) (*childProc, error) {
	return startProc(ctx, procSpec{Tool: "benthos", Name: name + " table " + table, Bin: bin,
		Args: []string{"-c", filepath.Join(env.RepoRoot, benthosConfig)},
		Env: []string{
			"BENTHOS_MYSQL_DSN=" + mysqlDSN(env.MySQL),
			"BENTHOS_TABLE=" + table,
			"BENTHOS_TOPIC=" + topic,
			"BENTHOS_BROKERS=" + strings.Join(env.Brokers, ","),
		},
		Dir: env.WorkDir, Log: filepath.Join(env.WorkDir, "benthos-"+name+"-"+table+".log")}, env.Logf)
}

type benthosRunning struct {
	spec  RunSpec
	procs []*childProc
}

func (r *benthosRunning) Topic(table string) string { return r.spec.Name + ".bench." + table }

// Processes are the Benthos processes, alive until Stop: after the copy, shutdown_delay keeps each one
// around so that its CPU time and peak memory can still be read.
func (r *benthosRunning) Processes() []int {
	pids := make([]int, len(r.procs))
	for i, p := range r.procs {
		pids[i] = p.pid()
	}
	return pids
}

func (r *benthosRunning) DocID(id int64) string { return strconv.FormatInt(id, 10) }

// Stop sends SIGTERM to every process (ending the shutdown delay after a finished copy, or stopping a copy
// under way) and waits for them to exit; a process that had already exited with status 0 is fine.
func (r *benthosRunning) Stop(ctx context.Context) error {
	var errs []error
	for _, p := range r.procs {
		errs = append(errs, p.stop(ctx, stopHow{Timeout: benthosStopTimeout, ExitedOK: true}))
	}
	return errors.Join(errs...)
}

// stopAll stops the processes started so far (a failed Start).
func (r *benthosRunning) stopAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), benthosStopTimeout)
	defer cancel()
	return r.Stop(ctx)
}

// TestBenthosAdapterSmoke is the Benthos adapter's own test: Prepare (the build), a snapshot start that
// copies a 5000-row table of the benchmark's layout into its topic, the process still alive after the copy
// (so the harness can read its CPU time), and a clean Stop.
func TestBenthosAdapterSmoke(t *testing.T) {
	const (
		table = "snap_smoke"
		rows  = 5000
	)
	s := startSmoke(t, "peers_benthos", 20*time.Minute)
	s.createTable(table)
	s.insertRows(table, 1, rows)
	tool := &benthosTool{}
	for _, phase := range []Phase{PhaseStreaming, PhaseEndToEnd} {
		if ok, why := tool.Supports(phase); ok || why == "" {
			t.Fatalf("Supports(%s) = %v, %q; want false with a reason", phase, ok, why)
		}
	}
	s.prepare(tool)

	r := s.start(tool, RunSpec{Name: "smoke-snapshot-benthos", Tables: []string{table}, Snapshot: true, ServerID: 4401})
	topic := r.Topic(table)
	s.awaitRecords(topic, rows, "copy")

	// The copy is over; the process must still be there for the harness to read /proc/<pid>/stat.
	p := r.(*benthosRunning).procs[0]
	if p.exited() {
		t.Fatalf("benthos exited after the copy (want it alive until Stop): %v\n%s", p.waitErr, p.logTail())
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", p.pid())); err != nil {
		t.Fatal(err)
	}

	// One record: key = the id, value = the row as JSON with the 11 columns.
	first := s.firstRecord(topic)
	var row map[string]any
	if err := json.Unmarshal(first.Value, &row); err != nil {
		t.Fatalf("record at offset %d of %s is not a JSON object: %v\n%s", first.Offset, topic, err, first.Value)
	}
	if len(row) != 11 || fmt.Sprint(row["id"]) != string(first.Key) {
		t.Fatalf("record at offset %d of %s: key %q, value %s; want 11 columns and key = id", first.Offset, topic, first.Key, first.Value)
	}
	t.Logf("first record: key %s value %s", first.Key, first.Value)

	s.stop(r)
	t.Logf("log:\n%s", logTail(p.log, 12))
	s.expectCount(topic, rows)

	// Stop after the process exited by itself: nil after status 0, the status and the log's tail otherwise.
	exited := func(t *testing.T, config string) error {
		t.Helper()
		root := t.TempDir()
		if config != "" {
			path := filepath.Join(root, benthosConfig)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		penv := *s.env
		penv.RepoRoot = root
		p, err := benthosStartProcess(s.ctx, &penv, tool.bin.get(), "smoke-exited", table, topic)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-s.ctx.Done():
			t.Fatal(s.ctx.Err())
		}
		return (&benthosRunning{spec: RunSpec{Name: "smoke-exited"}, procs: []*childProc{p}}).Stop(s.ctx)
	}
	t.Run("exited 0", func(t *testing.T) {
		if err := exited(t, "input: {generate: {count: 1, mapping: 'root = {}'}}\noutput: {drop: {}}\n"); err != nil {
			t.Fatalf("Stop after exit status 0 = %v, want nil", err)
		}
	})
	t.Run("exited 1", func(t *testing.T) {
		err := exited(t, "") // no configuration file
		if err == nil || !strings.Contains(err.Error(), "exit status") || !strings.Contains(err.Error(), "=== ") {
			t.Fatalf("Stop after a failed start = %v, want the exit status and the log's tail", err)
		}
		t.Logf("Stop after a failed start: %v", err)
	})
}
