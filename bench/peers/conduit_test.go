package peers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
// module (verified against its go.sum). The conduitio modules' checksums are in the go.sum files; GONOSUMDB
// spares a cold cache the checksum database lookup, which answers 404 for them through the proxy.
func (c *conduitTool) Prepare(ctx context.Context, env *Env) error {
	ctx, cancel := context.WithTimeout(ctx, conduitBuildTimeout)
	defer cancel()
	bin := filepath.Join(env.WorkDir, "bin", "conduit")
	connectors := filepath.Join(env.WorkDir, "connectors")
	plugin := filepath.Join(connectors, "conduit-connector-mysql")
	for _, b := range []struct{ dir, pkg, out string }{
		{conduitModuleDir, ".", bin},
		{conduitConnectorDir, "./cmd/connector", plugin},
	} {
		err := goBuild(ctx, env.Logf, filepath.Join(env.RepoRoot, b.dir), b.pkg, b.out,
			"GOWORK=off", "GONOSUMDB=github.com/conduitio,github.com/conduitio-labs")
		if err != nil {
			return fmt.Errorf("conduit: %w", err)
		}
	}
	c.mu.Lock()
	c.bin, c.connectors = bin, connectors
	c.mu.Unlock()
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
	if err := checkStart("conduit", bin, spec); err != nil {
		return nil, err
	}
	if spec.Index != "" {
		return nil, fmt.Errorf("conduit: %s: %s", spec.Name, conduitNoSearch)
	}
	r := &conduitRunning{spec: spec}
	for _, table := range spec.Tables {
		if err := createTopic(ctx, env.Brokers, r.Topic(table)); err != nil {
			return nil, fmt.Errorf("conduit: %w", err)
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
	data := conduitPipeline{
		Name:     spec.Name,
		DSN:      mysqlDSN(env.MySQL),
		Tables:   strings.Join(tables, ","),
		Snapshot: spec.Snapshot && !spec.Resume,
		ServerID: spec.ServerID,
		Brokers:  strings.Join(env.Brokers, ","),
	}
	// Actions in [[ ]]: Conduit's own {{ }} are left alone.
	pipeline, err := renderTemplate(filepath.Join(env.RepoRoot, conduitConfig), data, "[[", "]]")
	if err != nil {
		return nil, fmt.Errorf("conduit: %w", err)
	}
	if err := os.WriteFile(filepath.Join(pipelines, "pipeline.yaml"), []byte(pipeline), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc(ctx, procSpec{Tool: "conduit", Name: spec.Name, Bin: bin, Args: []string{"run",
		"--db.type=badger", "--db.badger.path=" + filepath.Join(dir, "conduit.db"),
		"--pipelines.path=" + pipelines,
		"--connectors.path=" + connectors,
		"--processors.path=" + filepath.Join(dir, "processors"),
		"--config.path=" + filepath.Join(dir, "conduit.yaml"), // absent: defaults and flags only
		"--api.enabled=false",
		"--preview.pipeline-arch-v2",
		// A pipeline that fails is not restarted with back-off for ever: Conduit exits, and Stop reports it.
		"--pipelines.error-recovery.max-retries=0", "--pipelines.exit-on-degraded",
		"--log.level=" + logLevel, "--log.format=cli"},
		Dir: dir, Log: filepath.Join(dir, "conduit.log")}, env.Logf)
	if err != nil {
		return nil, err
	}
	r.proc = p
	env.Logf("conduit: %s: snapshot %t, resume %t", spec.Name, data.Snapshot, spec.Resume)
	return r, nil
}

// conduitRunning is one Conduit process; its standalone connector plugins are its children (same process
// group).
type conduitRunning struct {
	spec RunSpec
	proc *childProc
}

func (r *conduitRunning) Topic(table string) string { return r.spec.Name + ".bench." + table }

// Processes is Conduit's PID and those of its children alive now (the connector plugins, started once the
// pipeline starts); the harness sums the process tree anyway.
func (r *conduitRunning) Processes() []int {
	pid := r.proc.pid()
	pids := []int{pid}
	for _, st := range readAllProcStats() {
		if st.PPID == pid {
			pids = append(pids, st.PID)
		}
	}
	return pids
}

func (r *conduitRunning) DocID(id int64) string { return strconv.FormatInt(id, 10) }

// Stop sends SIGINT to Conduit, its graceful stop (SIGTERM kills it: pkg/conduit/entrypoint.go listens for
// os.Interrupt only): it stops the pipeline, which acknowledges what Kafka took and stores the position,
// then the plugins. Stop waits for it; past the deadline the process group is killed and Stop fails. A
// Conduit that exited before Stop (a failed pipeline: exit-on-degraded) is an error.
func (r *conduitRunning) Stop(ctx context.Context) error {
	return r.proc.stop(ctx, stopHow{Signal: syscall.SIGINT, Timeout: conduitStopTimeout})
}

// dumpStacks makes Conduit and its plugins (Go programs) write every goroutine's stack into the log
// (SIGQUIT to the process group; they exit) and waits for Conduit to exit: a diagnosis of a stalled run.
func (r *conduitRunning) dumpStacks() {
	_ = syscall.Kill(-r.proc.pid(), syscall.SIGQUIT)
	select {
	case <-r.proc.done:
	case <-time.After(10 * time.Second):
	}
}

// TestConduitAdapterSmoke runs the adapter on a private MariaDB and a one-node real Kafka: a snapshot of 1000
// rows, one marker row streamed (so that the stored position is a binlog position: the connector's snapshot
// position does not carry the binlog position to resume from), Stop, 500 changes, a resumed start that must
// deliver exactly those 500 records more; then the benchmark's streaming phase on an empty table.
func TestConduitAdapterSmoke(t *testing.T) {
	s := startSmoke(t, "conduit_smoke", 20*time.Minute)
	const table = "smoke"
	s.createTable(table)
	s.insertRows(table, 1, 1000)
	tool := &conduitTool{logLevel: "debug"}
	s.prepare(tool)

	spec := RunSpec{Name: "smoke-conduit", Tables: []string{table}, Snapshot: true, ServerID: 4242}
	run := s.start(tool, spec)
	topic := run.Topic(table)
	s.awaitRecords(topic, 1000, "snapshot")
	s.insertRows(table, 1_000_001, 1_000_001)
	s.awaitRecords(topic, 1001, "the marker row")
	s.stop(run)
	s.resumeAfterChanges(tool, spec, table, 2001, 1001) // nothing more arrives late (e.g. a second snapshot)

	// The benchmark's streaming phase: an empty table, a start without snapshot, marker rows until one arrives,
	// Stop, 500 changes, a resumed start that must deliver exactly those.
	const streamTable = "smoke_stream"
	s.createTable(streamTable)
	spec = RunSpec{Name: "smoke-conduit-stream", Tables: []string{streamTable}, ServerID: 4243}
	began := time.Now()
	run = s.start(tool, spec)
	r := run.(*conduitRunning)
	topic = run.Topic(streamTable)
	markers := 0
	for n := int64(0); n == 0; {
		markers++
		s.insertRows(streamTable, 1_000_000+markers, 1_000_000+markers)
		waitCtx, waitCancel := context.WithTimeout(s.ctx, 2*time.Second)
		c, err := newTopicCounter(s.client, topic, true, t.Logf)
		if err == nil {
			_, err = c.waitRecords(waitCtx, 1, nil)
			n = c.count
		}
		waitCancel()
		if n == 0 && time.Since(began) > 2*time.Minute {
			r.dumpStacks()
			t.Fatalf("streaming start: %v\n%s", err, r.proc.logTail())
		}
	}
	// Every marker that will arrive has arrived once the last one has.
	markers++
	s.insertRows(streamTable, 1_000_000+markers, 1_000_000+markers)
	waitCtx, waitCancel := context.WithTimeout(s.ctx, 2*time.Minute)
	defer waitCancel()
	c, err := newTopicCounter(s.client, topic, true, t.Logf)
	if err == nil {
		err = c.waitNeedle(waitCtx, fmt.Sprintf("%q", smokeText(1_000_000+markers)))
	}
	if err != nil {
		r.dumpStacks()
		t.Fatalf("the last marker: %v\n%s", err, r.proc.logTail())
	}
	n, err := s.count(s.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	base := int(n)
	t.Logf("conduit: streaming start: %d of %d marker rows on %s %s after Start", base, markers, topic,
		time.Since(began).Round(time.Millisecond))
	s.stop(run)
	spec.ServerID = 4244
	s.resumeAfterChanges(tool, spec, streamTable, 1, base)
}
