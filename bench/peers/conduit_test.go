package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/mariadbtest"
)

// Conduit v0.14.0 (Apache-2.0, the last version the Go module proxy serves), built from
// bench/peers/tools/conduit (its own module), with conduit-connector-mysql (conduitio-labs, Apache-2.0; not
// on the Go module proxy) vendored at bench/peers/tools/conduit/connector-mysql and run as a standalone
// connector plugin. The connector is upstream's commit bb8aa54, whose conduit-commons v0.6.0, connector SDK
// v0.14.1 and protocol v0.9.4 are exactly Conduit v0.14.0's, plus a small patch (the directory's README):
// canal is told the server is MariaDB (its replication dialect; and a MariaDB reporting a version >= 8.4.0
// would be sent MySQL 8.4's SHOW BINARY LOG STATUS), the replication client id is a setting
// (RunSpec.ServerID), and the plugin dies with Conduit.
const (
	conduitVersion = "Conduit v0.14.0 (pipeline architecture v2) with conduit-connector-mysql bb8aa54 " +
		"(standalone plugin, patched for MariaDB) and the built-in kafka connector v0.12.3"
	conduitModuleDir    = "bench/peers/tools/conduit"
	conduitConnectorDir = "bench/peers/tools/conduit/connector-mysql"
	conduitConfig       = "bench/peers/config/conduit/pipeline.yaml"
	conduitNoSearch     = "Conduit has no OpenSearch or Elasticsearch destination among its built-in connectors " +
		"(file, generator, kafka, log, postgres, s3); the standalone one was not built for this benchmark"
)

// Deadlines of the adapter's calls outside the process.
const (
	conduitBuildTimeout = 20 * time.Minute // go build of Conduit and the connector on a cold module cache
	conduitAdminTimeout = 30 * time.Second // creating the target topics
	conduitStopTimeout  = 60 * time.Second // SIGINT to exit: Conduit stops the pipeline and flushes positions
)

type conduitTool struct {
	logLevel   string // Conduit's --log.level; "" is info (the smoke test asks for debug: plugin output)
	mu         sync.Mutex
	bin        string // the conduit binary Prepare built
	connectors string // the directory holding the standalone connector Prepare built
}

func init() { register(&conduitTool{}) }

func (*conduitTool) Name() string { return "conduit" }

func (*conduitTool) Describe() Description {
	return Description{
		Version: conduitVersion,
		Config: []string{conduitConfig, conduitModuleDir + "/go.mod", conduitModuleDir + "/main.go",
			conduitConnectorDir + "/README.md"},
		Guarantee: "at-least-once (a source record is acknowledged after Kafka acknowledged its batch), acks=all " +
			"(the kafka connector's default), no transactions",
		Format: "OpenCDC record as JSON (opencdc/json, Conduit's default): operation, metadata, key, payload " +
			"before/after; the Avro schema is in Conduit's built-in schema registry, referenced from the metadata",
		Notes: "Run with --preview.pipeline-arch-v2 and source batches of 10000 records (1s delay), as Conduit's " +
			"batching docs recommend; the MySQL connector runs as a gRPC plugin process (its CPU and memory count). " +
			"Snappy compression (the kafka connector's default). Topics created by the adapter (1 partition, 1 replica).",
	}
}

func (*conduitTool) Supports(phase Phase) (bool, string) {
	if phase == PhaseEndToEnd {
		return false, conduitNoSearch
	}
	return true, ""
}

// Prepare builds Conduit and the MySQL connector into WorkDir with the go command of PATH, each from its own
// module (verified against its go.sum).
func (c *conduitTool) Prepare(ctx context.Context, env *Env) error {
	bin := filepath.Join(env.WorkDir, "bin", "conduit")
	connectors := filepath.Join(env.WorkDir, "connectors")
	plugin := filepath.Join(connectors, "conduit-connector-mysql")
	for _, b := range []struct{ dir, pkg, out string }{
		{conduitModuleDir, ".", bin},
		{conduitConnectorDir, "./cmd/connector", plugin},
	} {
		began := time.Now()
		if err := conduitGoBuild(ctx, filepath.Join(env.RepoRoot, b.dir), b.pkg, b.out); err != nil {
			return err
		}
		size := int64(-1)
		if fi, err := os.Stat(b.out); err == nil {
			size = fi.Size()
		}
		env.Logf("conduit: built %s in %s (%.1f MB)", b.out, time.Since(began).Round(time.Millisecond), float64(size)/1e6)
	}
	c.mu.Lock()
	c.bin, c.connectors = bin, connectors
	c.mu.Unlock()
	return nil
}

// conduitGoBuild runs `go build -o out pkg` in dir in its own process group, killed with the test process.
// The conduitio modules' checksums are in the go.sum files; GONOSUMDB spares a cold cache the checksum
// database lookup, which answers 404 for them through the proxy.
func conduitGoBuild(ctx context.Context, dir, pkg, out string) error {
	ctx, cancel := context.WithTimeout(ctx, conduitBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GONOSUMDB=github.com/conduitio,github.com/conduitio-labs")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("conduit: go build %s in %s: %w\n%s", pkg, dir, err, out)
	}
	return nil
}

// conduitPipeline is what the pipeline template is rendered with.
type conduitPipeline struct {
	Name     string
	DSN      string
	Tables   string // the connector's table filter: comma-separated, anchored regular expressions
	Snapshot bool
	ServerID uint32
	Brokers  string
}

// Start creates the run's topics and runs Conduit with its state (badger) in WorkDir/<Name>, so that a start
// with Resume continues from the stored position. A resumed start renders the pipeline with the snapshot off:
// the connector would otherwise snapshot again whenever its stored position is a binlog one (it snapshots
// whenever snapshot.enabled is true and the position is not a snapshot position), and a changed setting is
// an update of the stored connector that keeps its position.
func (c *conduitTool) Start(ctx context.Context, env *Env, spec RunSpec) (Running, error) {
	c.mu.Lock()
	bin, connectors := c.bin, c.connectors
	c.mu.Unlock()
	logLevel := c.logLevel
	if logLevel == "" {
		logLevel = "info"
	}
	if bin == "" {
		return nil, errors.New("conduit: Start before Prepare")
	}
	if len(spec.Tables) == 0 {
		return nil, errors.New("conduit: RunSpec.Tables is empty")
	}
	if spec.Index != "" {
		return nil, fmt.Errorf("conduit: %s: %s", spec.Name, conduitNoSearch)
	}
	r := &conduitRunning{spec: spec, exited: make(chan struct{})}
	for _, table := range spec.Tables {
		if err := conduitCreateTopic(ctx, env.Brokers, r.Topic(table)); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(env.WorkDir, spec.Name)
	pipelines := filepath.Join(dir, "pipelines")
	if err := os.MkdirAll(pipelines, 0o755); err != nil {
		return nil, err
	}
	tables := make([]string, len(spec.Tables))
	for i, t := range spec.Tables {
		tables[i] = "^" + regexp.QuoteMeta(t) + "$"
	}
	m := env.MySQL
	data := conduitPipeline{
		Name:     spec.Name,
		DSN:      fmt.Sprintf("%s:%s@tcp(%s)/%s", m.User, m.Password, conduitHostPort(m.Host, m.Port), m.Database),
		Tables:   strings.Join(tables, ","),
		Snapshot: spec.Snapshot && !spec.Resume,
		ServerID: spec.ServerID,
		Brokers:  strings.Join(env.Brokers, ","),
	}
	if err := conduitRender(filepath.Join(env.RepoRoot, conduitConfig), filepath.Join(pipelines, "pipeline.yaml"), data); err != nil {
		return nil, err
	}
	r.log = filepath.Join(dir, "conduit.log")
	logFile, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	r.cmd = exec.Command(bin, "run",
		"--db.type=badger", "--db.badger.path="+filepath.Join(dir, "conduit.db"),
		"--pipelines.path="+pipelines,
		"--connectors.path="+connectors,
		"--processors.path="+filepath.Join(dir, "processors"),
		"--config.path="+filepath.Join(dir, "conduit.yaml"), // absent: defaults and flags only
		"--api.enabled=false",
		"--preview.pipeline-arch-v2",
		// A pipeline that fails is not restarted with back-off for ever: Conduit exits, and Stop reports it.
		"--pipelines.error-recovery.max-retries=0", "--pipelines.exit-on-degraded",
		"--log.level="+logLevel, "--log.format=cli")
	r.cmd.Dir = dir
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("conduit: start %s: %w", bin, err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	env.Logf("conduit: %s started (pid %d, snapshot %t, resume %t), log %s", spec.Name, r.cmd.Process.Pid,
		data.Snapshot, spec.Resume, r.log)
	return r, nil
}

func conduitHostPort(host string, port int) string {
	if host == "" {
		host = "127.0.0.1"
	}
	return host + ":" + strconv.Itoa(port)
}

// conduitRender executes the pipeline template at src (actions in [[ ]], Conduit's own {{ }} left alone)
// into dst.
func conduitRender(src, dst string, data conduitPipeline) error {
	text, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmpl, err := template.New(filepath.Base(src)).Delims("[[", "]]").Option("missingkey=error").Parse(string(text))
	if err != nil {
		return fmt.Errorf("conduit: %s: %w", src, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return fmt.Errorf("conduit: %s: %w", src, err)
	}
	return os.WriteFile(dst, []byte(b.String()), 0o644)
}

// conduitCreateTopic creates topic with one partition and one replica (an existing one is kept: a resumed
// start writes on).
func conduitCreateTopic(ctx context.Context, brokers []string, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, conduitAdminTimeout)
	defer cancel()
	admin, err := sarama.NewClusterAdmin(brokers, conduitSaramaConfig())
	if err != nil {
		return fmt.Errorf("conduit: Kafka admin client of %v: %w", brokers, err)
	}
	done := make(chan error, 1)
	go func() {
		err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
		if errors.Is(err, sarama.ErrTopicAlreadyExists) {
			err = nil
		}
		done <- errors.Join(err, admin.Close())
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("conduit: create topic %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("conduit: create topic %s: %w", topic, ctx.Err())
	}
}

func conduitSaramaConfig() *sarama.Config {
	conf := sarama.NewConfig()
	conf.Version = sarama.V4_0_0_0
	conf.ClientID = "peers-conduit"
	conf.Net.DialTimeout = 5 * time.Second
	conf.Net.ReadTimeout = 30 * time.Second
	conf.Net.WriteTimeout = 10 * time.Second
	conf.Metadata.Retry.Max = 1
	conf.Metadata.Timeout = 10 * time.Second
	conf.Admin.Timeout = 20 * time.Second
	conf.Consumer.Return.Errors = true
	return conf
}

// conduitRunning is one Conduit process; its standalone connector plugins are its children (same process
// group).
type conduitRunning struct {
	spec    RunSpec
	cmd     *exec.Cmd
	log     string
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

func (r *conduitRunning) Topic(table string) string { return r.spec.Name + ".bench." + table }

// Processes is Conduit's PID and those of its children alive now (the connector plugins, started once the
// pipeline starts); the harness sums the process tree anyway.
func (r *conduitRunning) Processes() []int {
	pid := r.cmd.Process.Pid
	return append([]int{pid}, conduitChildren(pid)...)
}

// conduitChildren lists the PIDs whose parent is pid, from /proc.
func conduitChildren(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses, so parse after the last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func (r *conduitRunning) DocID(id int64) string { return strconv.FormatInt(id, 10) }

// Stop sends SIGINT to Conduit, its graceful stop (SIGTERM kills it: pkg/conduit/entrypoint.go listens for
// os.Interrupt only): it stops the pipeline, which acknowledges what Kafka took and stores the position,
// then the plugins. Stop waits for it; past the deadline the process group is killed and Stop fails. A
// Conduit that exited before Stop (a failed pipeline: exit-on-degraded) is an error.
func (r *conduitRunning) Stop(ctx context.Context) error {
	select {
	case <-r.exited:
		return r.exitError("exited before Stop")
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, conduitStopTimeout)
	defer cancel()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("conduit: SIGINT: %w", err)
	}
	select {
	case <-r.exited:
		// Plugins Conduit did not reap (it kills them on shutdown) die with the group.
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		if r.waitErr != nil {
			return r.exitError("stopped")
		}
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
		return fmt.Errorf("conduit: %s did not stop within %s (killed): %w\n%s", r.spec.Name, conduitStopTimeout,
			ctx.Err(), conduitLogTail(r.log, 30))
	}
}

// dumpStacks makes Conduit and its plugins (Go programs) write every goroutine's stack into the log
// (SIGQUIT to the process group; they exit) and waits for Conduit to exit: a diagnosis of a stalled run.
func (r *conduitRunning) dumpStacks() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGQUIT)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
	}
}

func (r *conduitRunning) exitError(what string) error {
	return fmt.Errorf("conduit: %s %s (%v); log %s:\n%s", r.spec.Name, what, r.waitErr, r.log, conduitLogTail(r.log, 30))
}

func conduitLogTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// conduitCountValues counts the records of topic (one partition) with a non-null value, up to its end offset
// now.
func conduitCountValues(ctx context.Context, brokers []string, topic string) (int, error) {
	return conduitScanValues(ctx, brokers, topic, nil)
}

// conduitScanValues reads topic (one partition) up to its end offset now, calls each (when not nil) with
// every non-null value and returns their number.
func conduitScanValues(ctx context.Context, brokers []string, topic string, each func([]byte)) (int, error) {
	client, err := sarama.NewClient(brokers, conduitSaramaConfig())
	if err != nil {
		return 0, err
	}
	defer client.Close()
	end, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		return 0, err
	}
	if end == 0 {
		return 0, nil
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return 0, err
	}
	// Close waits for the partition consumer's goroutines, which may be blocked handing over fetched
	// messages nobody reads any more: drain them until the channel closes.
	defer func() {
		pc.AsyncClose()
		for range pc.Messages() {
		}
	}()
	n := 0
	for {
		select {
		case m := <-pc.Messages():
			if m.Value != nil {
				n++
				if each != nil {
					each(m.Value)
				}
			}
			if m.Offset+1 >= end {
				return n, nil
			}
		case err := <-pc.Errors():
			return n, err
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

// conduitAwaitCount polls topic until it holds want non-null records (more is an error at once), within ctx.
func conduitAwaitCount(ctx context.Context, r *conduitRunning, brokers []string, topic string, want int) (int, error) {
	for {
		n, err := conduitCountValues(ctx, brokers, topic)
		if err == nil && n == want {
			return n, nil
		}
		if err == nil && n > want {
			return n, fmt.Errorf("%d records on %s, want %d", n, topic, want)
		}
		select {
		case <-r.exited:
			return n, r.exitError("exited")
		case <-ctx.Done():
			return n, fmt.Errorf("%d records on %s, want %d: %w (last error %v)", n, topic, want, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestConduitAdapterSmoke runs the adapter on a private MariaDB and a one-node real Kafka: a snapshot of 1000
// rows, one marker row streamed (so that the stored position is a binlog position: the connector's snapshot
// position does not carry the binlog position to resume from), Stop, 500 changes, a resumed start that must
// deliver exactly those 500 records more.
func TestConduitAdapterSmoke(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_PEERS") != "1" {
		t.Skip("the peer benchmark's adapters run with SLUICE_BENCH_PEERS=1 (make bench-peers)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	db := mariadbtest.Start(t)
	const database = "conduit_smoke"
	db.CreateDatabase(t, database)
	kafka := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
	env := &Env{
		MySQL:    MySQL{Host: "127.0.0.1", Port: db.Port, User: "root", Database: database},
		Brokers:  kafka.Addrs(),
		RepoRoot: root,
		Logf:     t.Logf,
	}
	// The work directory (builds, pipeline configuration, Conduit's state and logs) is kept when the test fails.
	if env.WorkDir, err = os.MkdirTemp("", "conduit-smoke-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("conduit: work directory (logs, configuration, state) kept in %s", env.WorkDir)
			return
		}
		os.RemoveAll(env.WorkDir)
	})
	const table = "smoke"
	db.Exec(t, "CREATE TABLE `"+database+"`.`"+table+"` (id BIGINT PRIMARY KEY, c_int INT NOT NULL, c_bigint BIGINT, "+
		"c_small SMALLINT, c_varchar VARCHAR(255), c_varchar2 VARCHAR(64), c_decimal DECIMAL(12,2), "+
		"c_decimal2 DECIMAL(18,6), c_datetime DATETIME(6), c_datetime2 DATETIME(6), c_text TEXT) ENGINE=InnoDB")
	db.Exec(t, conduitInsertRows(database, table, 1, 1000))

	tool := &conduitTool{logLevel: "debug"}
	began := time.Now()
	if err := tool.Prepare(ctx, env); err != nil {
		t.Fatal(err)
	}
	t.Logf("conduit: Prepare took %s", time.Since(began).Round(time.Millisecond))

	spec := RunSpec{Name: "smoke-conduit", Tables: []string{table}, Snapshot: true, ServerID: 4242}
	began = time.Now()
	run, err := tool.Start(ctx, env, spec)
	if err != nil {
		t.Fatal(err)
	}
	r := run.(*conduitRunning)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = r.Stop(context.Background())
		}
	})
	topic := run.Topic(table)
	if _, err := conduitAwaitCount(ctx, r, env.Brokers, topic, 1000); err != nil {
		t.Fatalf("snapshot: %v\n%s", err, conduitLogTail(r.log, 40))
	}
	t.Logf("conduit: snapshot of 1000 rows on %s %s after Start (processes %v)", topic,
		time.Since(began).Round(time.Millisecond), run.Processes())
	db.Exec(t, conduitInsertRows(database, table, 1001, 1001))
	if _, err := conduitAwaitCount(ctx, r, env.Brokers, topic, 1001); err != nil {
		t.Fatalf("streaming the marker row: %v\n%s", err, conduitLogTail(r.log, 40))
	}
	began = time.Now()
	stopped = true
	if err := run.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("conduit: Stop took %s", time.Since(began).Round(time.Millisecond))

	// 500 changes while stopped: 300 inserts, 100 updates, 100 deletes.
	db.Exec(t, conduitInsertRows(database, table, 2001, 2300),
		"UPDATE `"+database+"`.`"+table+"` SET c_int = c_int + 1, c_varchar = 'updated' WHERE id BETWEEN 1 AND 100",
		"DELETE FROM `"+database+"`.`"+table+"` WHERE id BETWEEN 101 AND 200")

	spec.Resume = true
	began = time.Now()
	run, err = tool.Start(ctx, env, spec)
	if err != nil {
		t.Fatal(err)
	}
	r = run.(*conduitRunning)
	stopped = false
	if _, err := conduitAwaitCount(ctx, r, env.Brokers, topic, 1501); err != nil {
		t.Fatalf("resume: %v\n%s", err, conduitLogTail(r.log, 40))
	}
	t.Logf("conduit: resumed, the 500 changes on %s %s after Start", topic, time.Since(began).Round(time.Millisecond))
	stopped = true
	if err := run.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing more may arrive late (e.g. a second snapshot).
	if n, err := conduitCountValues(ctx, env.Brokers, topic); err != nil || n != 1501 {
		t.Fatalf("after Stop: %d records on %s (%v), want 1501", n, topic, err)
	}

	// The benchmark's streaming phase: an empty table, a start without snapshot, marker rows until one arrives,
	// Stop, 500 changes, a resumed start that must deliver exactly those.
	const streamTable = "smoke_stream"
	db.Exec(t, "CREATE TABLE `"+database+"`.`"+streamTable+"` LIKE `"+database+"`.`"+table+"`")
	spec = RunSpec{Name: "smoke-conduit-stream", Tables: []string{streamTable}, ServerID: 4243}
	began = time.Now()
	if run, err = tool.Start(ctx, env, spec); err != nil {
		t.Fatal(err)
	}
	r = run.(*conduitRunning)
	stopped = false
	topic = run.Topic(streamTable)
	markers := 0
	for n := 0; n == 0; {
		markers++
		db.Exec(t, conduitInsertRows(database, streamTable, 1_000_000+markers, 1_000_000+markers))
		waitCtx, waitCancel := context.WithTimeout(ctx, 2*time.Second)
		n, err = conduitAwaitCount(waitCtx, r, env.Brokers, topic, 1)
		waitCancel()
		if err != nil && time.Since(began) > 2*time.Minute {
			r.dumpStacks()
			t.Fatalf("streaming start: %v\n%s", err, conduitLogTail(r.log, 40))
		}
	}
	// Every marker that will arrive has arrived once the last one has.
	markers++
	db.Exec(t, conduitInsertRows(database, streamTable, 1_000_000+markers, 1_000_000+markers))
	waitCtx, waitCancel := context.WithTimeout(ctx, 2*time.Minute)
	err = conduitAwaitNeedle(waitCtx, r, env.Brokers, topic, fmt.Sprintf("%q", fmt.Sprintf("varchar %d", 1_000_000+markers)))
	waitCancel()
	if err != nil {
		r.dumpStacks()
		t.Fatalf("the last marker: %v\n%s", err, conduitLogTail(r.log, 40))
	}
	base, err := conduitCountValues(ctx, env.Brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conduit: streaming start: %d of %d marker rows on %s %s after Start", base, markers, topic,
		time.Since(began).Round(time.Millisecond))
	stopped = true
	if err := run.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, conduitInsertRows(database, streamTable, 1, 300),
		"UPDATE `"+database+"`.`"+streamTable+"` SET c_int = c_int + 1 WHERE id BETWEEN 1 AND 100",
		"DELETE FROM `"+database+"`.`"+streamTable+"` WHERE id BETWEEN 101 AND 200")
	spec.Resume, spec.ServerID = true, 4244
	began = time.Now()
	if run, err = tool.Start(ctx, env, spec); err != nil {
		t.Fatal(err)
	}
	r = run.(*conduitRunning)
	stopped = false
	if _, err := conduitAwaitCount(ctx, r, env.Brokers, topic, base+500); err != nil {
		t.Fatalf("streaming resume: %v\n%s", err, conduitLogTail(r.log, 40))
	}
	t.Logf("conduit: streaming resume: the 500 changes on %s %s after Start", topic, time.Since(began).Round(time.Millisecond))
	stopped = true
	if err := run.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// conduitAwaitNeedle polls topic until a record's value contains needle, within ctx. (Marker rows committed
// before the source read the binlog's end never arrive, so markers are waited for by content, not count.)
func conduitAwaitNeedle(ctx context.Context, r *conduitRunning, brokers []string, topic, needle string) error {
	for {
		found := false
		_, err := conduitScanValues(ctx, brokers, topic, func(v []byte) { found = found || bytes.Contains(v, []byte(needle)) })
		if err == nil && found {
			return nil
		}
		select {
		case <-r.exited:
			return r.exitError("exited")
		case <-ctx.Done():
			return fmt.Errorf("no record with %s on %s: %w (last error %v)", needle, topic, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// conduitInsertRows is one INSERT of rows from..to (inclusive) in the benchmark's 11-column layout.
func conduitInsertRows(db, table string, from, to int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO `%s`.`%s` VALUES ", db, table)
	for id := from; id <= to; id++ {
		if id > from {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%d, %d, %d, %d, 'varchar %d', 'v2-%d', %d.25, %d.123456, '2024-01-02 03:04:05.%06d', "+
			"'2025-06-07 08:09:10.000001', 'text of row %d')", id, id, int64(id)*1000, id%30000, id, id, id, id, id%1000000, id)
	}
	return b.String()
}
