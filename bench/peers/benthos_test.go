package peers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/mariadbtest"
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
	benthosAdminTimeout = 30 * time.Second // creating the target topic
	benthosStopTimeout  = 30 * time.Second // SIGTERM to exit (Benthos' shutdown_timeout is 30s too)
)

type benthosTool struct {
	mu  sync.Mutex
	bin string // the binary Prepare built
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
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(env.RepoRoot, benthosModuleDir)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("benthos: go build in %s: %w\n%s", cmd.Dir, err, out)
	}
	size := int64(-1)
	if fi, err := os.Stat(bin); err == nil {
		size = fi.Size()
	}
	if env.Logf != nil {
		env.Logf("benthos: built %s in %s (%.1f MB)", bin, time.Since(began).Round(time.Millisecond), float64(size)/1e6)
	}
	b.mu.Lock()
	b.bin = bin
	b.mu.Unlock()
	return nil
}

// Start runs one Benthos process per table (the configuration copies one table), each after creating its
// target topic. The processes stay alive after the copy (shutdown_delay) until Stop.
func (b *benthosTool) Start(ctx context.Context, env *Env, spec RunSpec) (Running, error) {
	b.mu.Lock()
	bin := b.bin
	b.mu.Unlock()
	if bin == "" {
		return nil, errors.New("benthos: Start before Prepare")
	}
	if len(spec.Tables) == 0 {
		return nil, errors.New("benthos: RunSpec.Tables is empty")
	}
	if !spec.Snapshot || spec.Resume || spec.Index != "" {
		return nil, fmt.Errorf("benthos: %s: only a snapshot start is supported (%s)", spec.Name, benthosNoCDC)
	}
	r := &benthosRunning{spec: spec}
	for _, table := range spec.Tables {
		if err := benthosCreateTopic(ctx, env.Brokers, r.Topic(table)); err != nil {
			return nil, errors.Join(err, r.stopAll())
		}
		p, err := benthosStartProcess(env, bin, spec.Name, table, r.Topic(table))
		if err != nil {
			return nil, errors.Join(err, r.stopAll())
		}
		r.procs = append(r.procs, p)
	}
	return r, nil
}

// benthosStartProcess starts `benthos -c snapshot.yaml` for one table in its own process group, killed with
// the test process, its output appended to a log in WorkDir.
func benthosStartProcess(env *Env, bin, name, table, topic string) (*benthosProcess, error) {
	logPath := filepath.Join(env.WorkDir, "benthos-"+name+"-"+table+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	config := filepath.Join(env.RepoRoot, benthosConfig)
	fmt.Fprintf(logFile, "=== %s start %s -c %s (table %s, topic %s)\n", time.Now().UTC().Format(time.RFC3339Nano), bin, config, table, topic)
	cmd := exec.Command(bin, "-c", config)
	cmd.Env = append(os.Environ(),
		"BENTHOS_MYSQL_DSN="+benthosDSN(env.MySQL),
		"BENTHOS_TABLE="+table,
		"BENTHOS_TOPIC="+topic,
		"BENTHOS_BROKERS="+strings.Join(env.Brokers, ","),
	)
	cmd.Dir = env.WorkDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("benthos: start %s: %w", bin, err)
	}
	p := &benthosProcess{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	if env.Logf != nil {
		env.Logf("benthos: started %s table %s pid %d (log %s)", name, table, cmd.Process.Pid, logPath)
	}
	return p, nil
}

// benthosDSN is the go-sql-driver/mysql DSN of the benchmark database, as a user writes it.
func benthosDSN(m MySQL) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", m.User, m.Password, benthosHostPort(m.Host, m.Port), m.Database)
}

func benthosHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// benthosCreateTopic creates topic with one partition and one replica, as Debezium's configuration does (the
// benchmark's broker does not create topics on demand); an existing topic is left as it is.
func benthosCreateTopic(ctx context.Context, brokers []string, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, benthosAdminTimeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { // sarama's admin calls take no context: its timeouts (benthosSaramaConfig) bound them
		admin, err := sarama.NewClusterAdmin(brokers, benthosSaramaConfig())
		if err != nil {
			errc <- err
			return
		}
		defer admin.Close()
		err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
		if errors.Is(err, sarama.ErrTopicAlreadyExists) {
			err = nil
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("benthos: create topic %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("benthos: create topic %s: %w", topic, ctx.Err())
	}
}

// benthosSaramaConfig is a client configuration whose every request has a deadline.
func benthosSaramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V3_0_0_0
	c.Net.DialTimeout, c.Net.ReadTimeout, c.Net.WriteTimeout = 5*time.Second, 10*time.Second, 10*time.Second
	c.Admin.Timeout = 10 * time.Second
	c.Metadata.Retry.Max = 1
	c.Metadata.AllowAutoTopicCreation = false
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	return c
}

type benthosRunning struct {
	spec  RunSpec
	procs []*benthosProcess
}

type benthosProcess struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error // set before done closes
}

func (r *benthosRunning) Topic(table string) string { return r.spec.Name + ".bench." + table }

// Processes are the Benthos processes, alive until Stop: after the copy, shutdown_delay keeps each one
// around so that its CPU time and peak memory can still be read.
func (r *benthosRunning) Processes() []int {
	pids := make([]int, len(r.procs))
	for i, p := range r.procs {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

func (r *benthosRunning) DocID(id int64) string { return strconv.FormatInt(id, 10) }

// Stop sends SIGTERM to every process (ending the shutdown delay after a finished copy, or stopping a copy
// under way) and waits for them to exit; a process that had already exited with status 0 is fine.
func (r *benthosRunning) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, benthosStopTimeout)
		defer cancel()
	}
	var errs []error
	for _, p := range r.procs {
		errs = append(errs, p.stop(ctx, r.spec.Name))
	}
	return errors.Join(errs...)
}

// stopAll stops the processes started so far (a failed Start).
func (r *benthosRunning) stopAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), benthosStopTimeout)
	defer cancel()
	return r.Stop(ctx)
}

func (p *benthosProcess) stop(ctx context.Context, name string) error {
	pid := p.cmd.Process.Pid
	select {
	case <-p.done:
		return p.exitError(name)
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("benthos: SIGTERM pid %d: %w", pid, err)
	}
	select {
	case <-p.done:
		return p.exitError(name)
	case <-ctx.Done():
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("benthos: %s (pid %d) did not stop within the deadline after SIGTERM; killed (log %s)\n%s",
			name, pid, p.logPath, benthosLogTail(p.logPath, 20))
	}
}

// exitError is nil after an exit with status 0, else the exit status with the log's tail.
func (p *benthosProcess) exitError(name string) error {
	if p.waitErr == nil {
		return nil
	}
	return fmt.Errorf("benthos: %s (pid %d) exited: %v (log %s)\n%s", name, p.cmd.Process.Pid, p.waitErr, p.logPath, benthosLogTail(p.logPath, 20))
}

// benthosLogTail is the last lines of the log at path.
func benthosLogTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// benthosCountValues counts topic's records with a non-null value, reading every partition up to the end
// offsets it finds first (0 when the topic does not exist).
func benthosCountValues(ctx context.Context, brokers []string, topic string) (int, error) {
	n, _, err := benthosReadValues(ctx, brokers, topic)
	return n, err
}

// benthosReadValues is benthosCountValues that also returns the first record with a value (nil when none).
func benthosReadValues(ctx context.Context, brokers []string, topic string) (int, *sarama.ConsumerMessage, error) {
	client, err := sarama.NewClient(brokers, benthosSaramaConfig())
	if err != nil {
		return 0, nil, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, nil, err
	}
	defer consumer.Close()
	n := 0
	var first *sarama.ConsumerMessage
	for _, part := range parts {
		start, err := client.GetOffset(topic, part, sarama.OffsetOldest)
		if err != nil {
			return 0, nil, err
		}
		end, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			return 0, nil, err
		}
		if end <= start {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, start)
		if err != nil {
			return 0, nil, err
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				if m.Value != nil {
					n++
					if first == nil {
						first = m
					}
				}
				done = m.Offset >= end-1
			case err := <-pc.Errors():
				pc.Close()
				return 0, nil, err
			case <-ctx.Done():
				pc.Close()
				return 0, nil, ctx.Err()
			}
		}
		pc.Close()
	}
	return n, first, nil
}

// benthosTableDDL creates the benchmark's 11-column table layout (the harness's createTable is the reference).
func benthosTableDDL(db, table string) string {
	return "CREATE TABLE `" + db + "`.`" + table + "` (id BIGINT PRIMARY KEY, c_int INT NOT NULL, c_bigint BIGINT, " +
		"c_small SMALLINT, c_varchar VARCHAR(255), c_varchar2 VARCHAR(64), c_decimal DECIMAL(12,2), " +
		"c_decimal2 DECIMAL(18,6), c_datetime DATETIME(6), c_datetime2 DATETIME(6), c_text TEXT)"
}

// benthosInsertRows is one INSERT of the rows with ids from..to (inclusive), every column set.
func benthosInsertRows(db, table string, from, to int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO `" + db + "`.`" + table + "` VALUES ")
	for id := from; id <= to; id++ {
		if id > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d,%d,%d,%d,'name %d','v%d',%d.%02d,%d.%06d,'2026-01-02 03:04:05.%06d','2026-06-07 08:09:10.%06d','text of row %d')",
			id, id%1000, int64(id)*1000003, id%30000, id, id%97, id%1000000, id%100, id, id%1000000, id%1000000, (id*7)%1000000, id)
	}
	return b.String()
}

// TestBenthosAdapterSmoke is the Benthos adapter's own test: Prepare (the build), a snapshot start that
// copies a 5000-row table of the benchmark's layout into its topic, the process still alive after the copy
// (so the harness can read its CPU time), and a clean Stop.
func TestBenthosAdapterSmoke(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_PEERS") != "1" {
		t.Skip("the peer benchmark's adapters run with SLUICE_BENCH_PEERS=1: `make bench-peers`")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	const (
		db    = "peers_benthos"
		table = "snap_smoke"
		rows  = 5000
	)
	srv := mariadbtest.Start(t)
	srv.CreateDatabase(t, db)
	srv.Exec(t, benthosTableDDL(db, table))
	for from := 1; from <= rows; from += 1000 {
		srv.Exec(t, benthosInsertRows(db, table, from, min(from+999, rows)))
	}
	cluster := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
	env := &Env{
		MySQL:    MySQL{Host: "127.0.0.1", Port: srv.Port, User: "root", Database: db, DSN: srv.DSN("")},
		Brokers:  cluster.Addrs(),
		RepoRoot: repo,
		WorkDir:  t.TempDir(),
		Logf:     t.Logf,
	}
	tool := &benthosTool{}
	for _, phase := range []Phase{PhaseStreaming, PhaseEndToEnd} {
		if ok, why := tool.Supports(phase); ok || why == "" {
			t.Fatalf("Supports(%s) = %v, %q; want false with a reason", phase, ok, why)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	began := time.Now()
	if err := tool.Prepare(ctx, env); err != nil {
		t.Fatal(err)
	}
	t.Logf("prepared in %s", time.Since(began).Round(time.Millisecond))

	began = time.Now()
	r, err := tool.Start(ctx, env, RunSpec{Name: "smoke-snapshot-benthos", Tables: []string{table}, Snapshot: true, ServerID: 4401})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a failed test leaves nothing running
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = r.Stop(sctx)
	})
	t.Logf("started in %s, pids %v", time.Since(began).Round(time.Millisecond), r.Processes())

	topic := r.Topic(table)
	actx, acancel := context.WithTimeout(ctx, 3*time.Minute)
	defer acancel()
	n := -1
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for n < rows {
		c, err := benthosCountValues(actx, env.Brokers, topic)
		if err == nil {
			n = c
		}
		if n >= rows {
			break
		}
		select {
		case <-actx.Done():
			t.Fatalf("topic %s: %d of %d records with a value after %s (last error %v)\n%s", topic, n, rows,
				time.Since(began).Round(time.Millisecond), err, benthosLogTail(r.(*benthosRunning).procs[0].logPath, 20))
		case <-tick.C:
		}
	}
	t.Logf("%d records on %s %s after the start", n, topic, time.Since(began).Round(time.Millisecond))
	if n != rows {
		t.Fatalf("topic %s has %d records with a value, want exactly %d", topic, n, rows)
	}

	// The copy is over; the process must still be there for the harness to read /proc/<pid>/stat.
	p := r.(*benthosRunning).procs[0]
	select {
	case <-p.done:
		t.Fatalf("benthos exited after the copy (want it alive until Stop): %v\n%s", p.waitErr, benthosLogTail(p.logPath, 20))
	default:
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}

	// One record: key = the id, value = the row as JSON with the 11 columns.
	_, first, err := benthosReadValues(ctx, env.Brokers, topic)
	if err != nil || first == nil {
		t.Fatalf("reading %s: %v (first record %v)", topic, err, first)
	}
	var row map[string]any
	if err := json.Unmarshal(first.Value, &row); err != nil {
		t.Fatalf("record at offset %d of %s is not a JSON object: %v\n%s", first.Offset, topic, err, first.Value)
	}
	if len(row) != 11 || fmt.Sprint(row["id"]) != string(first.Key) {
		t.Fatalf("record at offset %d of %s: key %q, value %s; want 11 columns and key = id", first.Offset, topic, first.Key, first.Value)
	}
	t.Logf("first record: key %s value %s", first.Key, first.Value)

	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	began = time.Now()
	if err := r.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s; log:\n%s", time.Since(began).Round(time.Millisecond), benthosLogTail(p.logPath, 12))
	if n, err := benthosCountValues(ctx, env.Brokers, topic); err != nil || n != rows {
		t.Fatalf("after Stop topic %s has %d records with a value (err %v), want exactly %d", topic, n, err, rows)
	}

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
		penv := *env
		penv.RepoRoot = root
		p, err := benthosStartProcess(&penv, tool.bin, "smoke-exited", table, topic)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		return (&benthosRunning{spec: RunSpec{Name: "smoke-exited"}, procs: []*benthosProcess{p}}).Stop(ctx)
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
