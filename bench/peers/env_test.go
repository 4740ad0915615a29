package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/mavenjars"
	"github.com/sluicehq/sluice/internal/opensearchtest"
)

// The variables that configure a run (see doc.go).
const (
	gateEnv          = "SLUICE_BENCH_PEERS"
	toolsEnv         = "PEERS_TOOLS"
	snapshotRowsEnv  = "PEERS_SNAPSHOT_ROWS"
	streamChangesEnv = "PEERS_STREAM_CHANGES"
	e2eSecondsEnv    = "PEERS_E2E_SECONDS"
	e2eRateEnv       = "PEERS_E2E_RATE"
	roundsEnv        = "PEERS_ROUNDS"
	phasesEnv        = "PEERS_PHASES"
	resultsEnv       = "PEERS_RESULTS"
)

// allPhases is every phase in the order a round runs them.
var allPhases = []Phase{PhaseSnapshot, PhaseStreaming, PhaseEndToEnd}

// benchSettings is a run's configuration, read from the PEERS_* variables.
type benchSettings struct {
	Tools         []string `json:"tools,omitempty"` // empty: every registered tool
	SnapshotRows  int      `json:"snapshot_rows"`
	StreamChanges int      `json:"stream_changes"`
	E2ESeconds    int      `json:"e2e_seconds"`
	E2ERate       int      `json:"e2e_rate"`
	E2EWarmup     int      `json:"e2e_warmup_seconds"`
	Rounds        int      `json:"rounds"`
	Phases        []Phase  `json:"phases"`
	Results       string   `json:"-"`
	// InRepo: Results is the default dated directory under bench/peers/results, whose pointer is rewritten.
	InRepo bool `json:"-"`
}

// loadBenchSettings reads the PEERS_* variables; a value that does not parse is an error naming it.
func loadBenchSettings(repoRoot string, now time.Time) (benchSettings, error) {
	s := benchSettings{SnapshotRows: 1_000_000, StreamChanges: 200_000, E2ESeconds: 30, E2ERate: 200, E2EWarmup: 5,
		Rounds: 2, Phases: allPhases}
	for _, v := range []struct {
		name string
		dst  *int
		min  int
	}{{snapshotRowsEnv, &s.SnapshotRows, 1}, {streamChangesEnv, &s.StreamChanges, 1}, {e2eSecondsEnv, &s.E2ESeconds, 1},
		{e2eRateEnv, &s.E2ERate, 1}, {roundsEnv, &s.Rounds, 1}} {
		raw := strings.TrimSpace(os.Getenv(v.name))
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(raw, "_", ""))
		if err != nil || n < v.min {
			return s, fmt.Errorf("%s=%q: want a whole number of at least %d", v.name, raw, v.min)
		}
		*v.dst = n
	}
	s.Tools = splitList(os.Getenv(toolsEnv))
	if raw := splitList(os.Getenv(phasesEnv)); len(raw) > 0 {
		s.Phases = nil
		for _, p := range allPhases { // keep the round's order whatever the variable's order
			if slices.Contains(raw, string(p)) {
				s.Phases = append(s.Phases, p)
			}
		}
		for _, r := range raw {
			if !slices.Contains(allPhases, Phase(r)) {
				return s, fmt.Errorf("%s: unknown phase %q (phases: snapshot, streaming, end-to-end)", phasesEnv, r)
			}
		}
	}
	s.Results = os.Getenv(resultsEnv)
	if s.Results == "" {
		s.Results = filepath.Join(repoRoot, "bench", "peers", "results", now.UTC().Format("2006-01-02"))
		s.InRepo = true
	}
	return s, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// selectTools returns the registered tools that names lists (every one when names is empty), in name order;
// a name nobody registered is an error listing the registered ones.
func selectTools(names []string) ([]Tool, error) {
	all := registered()
	if len(names) == 0 {
		out := all[:0:0]
		for _, t := range all {
			if t.Name() != selftestName { // the harness's own test tool runs only when named
				out = append(out, t)
			}
		}
		return out, nil
	}
	var out []Tool
	for _, n := range names {
		i := slices.IndexFunc(all, func(t Tool) bool { return t.Name() == n })
		if i < 0 {
			var have []string
			for _, t := range all {
				have = append(have, t.Name())
			}
			return nil, fmt.Errorf("%s: no tool %q is registered (registered: %s)", toolsEnv, n, strings.Join(have, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// benchEnvironment is the run's shared servers and the harness's own clients of them.
type benchEnvironment struct {
	db        *mariadbtest.Server
	kafka     *kafkatest.Cluster
	client    sarama.Client // the harness's Kafka client: end offsets, counting consumers
	admin     sarama.ClusterAdmin
	searchURL string
	mysql     MySQL
	repoRoot  string
	runDir    string // per-tool work directories; removed when the run passes
	done      atomic.Bool
}

// startBenchEnvironment starts MariaDB (database bench), a one-node Kafka and, when search is set, OpenSearch.
func startBenchEnvironment(t *testing.T, repoRoot string, search bool) *benchEnvironment {
	t.Helper()
	e := &benchEnvironment{repoRoot: repoRoot}
	t.Cleanup(func() { e.done.Store(true) })
	// A buffer pool that holds the snapshot table, so that every tool's snapshot reads it from memory and the
	// figures measure the tool rather than the disk; a larger redo log for the load.
	e.db = mariadbtest.Start(t, mariadbtest.Flags("--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M",
		"--max-allowed-packet=64M"))
	e.db.CreateDatabase(t, benchDatabase)
	e.mysql = MySQL{Host: "127.0.0.1", Port: e.db.Port, User: "root", Database: benchDatabase,
		DSN: fmt.Sprintf("root:@tcp(127.0.0.1:%d)/", e.db.Port)}
	e.kafka = kafkatest.Start(t, kafkatest.Options{Nodes: 1})
	conf := saramaConfig("peers-harness")
	conf.Consumer.Fetch.Default = 16 << 20
	var err error
	if e.client, err = sarama.NewClient(e.kafka.Addrs(), conf); err != nil {
		t.Fatalf("peers: a Kafka client of %v: %v", e.kafka.Addrs(), err)
	}
	t.Cleanup(func() { e.client.Close() })
	if e.admin, err = sarama.NewClusterAdminFromClient(e.client); err != nil {
		t.Fatalf("peers: a Kafka admin client: %v", err)
	}
	if search {
		t.Setenv(opensearchtest.InteropEnv, "1") // opensearchtest starts a node only in interop runs
		e.searchURL = opensearchtest.Start(t)
		t.Cleanup(opensearchtest.Stop)
	}
	if e.runDir, err = os.MkdirTemp("", "peers-run-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("peers: tool work directories (logs, generated configuration) kept in %s", e.runDir)
			return
		}
		os.RemoveAll(e.runDir)
	})
	return e
}

// toolEnv is the Env handed to one tool: its own work directory and a log prefixed with its name.
func (e *benchEnvironment) toolEnv(t *testing.T, name string) (*Env, error) {
	dir := filepath.Join(e.runDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Env{MySQL: e.mysql, Brokers: e.kafka.Addrs(), SearchURL: e.searchURL, RepoRoot: e.repoRoot, WorkDir: dir,
		Logf: e.logger(t, name)}, nil
}

// logger logs through t prefixed with name; after the test ended (a tool's goroutine logging late) to stderr,
// as t.Logf would panic.
func (e *benchEnvironment) logger(t *testing.T, name string) func(string, ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf("[%s] "+format, append([]any{name}, args...)...)
		if e.done.Load() {
			fmt.Fprintln(os.Stderr, msg)
			return
		}
		t.Log(msg)
	}
}

// machineInfo describes where a run ran.
type machineInfo struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	MemoryGB   string `json:"memory_gb"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	Java       string `json:"java"`
	MariaDB    string `json:"mariadb"`
	Kafka      string `json:"kafka"`
	OpenSearch string `json:"opensearch,omitempty"`
	Date       string `json:"date"`
}

// describeMachine gathers machineInfo; what cannot be read says why instead of failing the run.
func (e *benchEnvironment) describeMachine(ctx context.Context, now time.Time) machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), Go: runtime.Version(), Date: now.UTC().Format("2006-01-02 15:04 MST")}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGB = fmt.Sprintf("%.1f", kb/(1<<20))
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(data))
	}
	m.Java = "unknown"
	if java, err := mavenjars.Java(); err == nil {
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(jctx, java, "-version").CombinedOutput()
		cancel()
		if err == nil {
			m.Java = strings.Join(strings.Fields(strings.Join(firstLines(string(out), 2), " ")), " ")
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := e.db.DB().QueryRowContext(qctx, "SELECT VERSION()").Scan(&m.MariaDB); err != nil {
		m.MariaDB = "unknown: " + err.Error()
	}
	cancel()
	m.MariaDB = "MariaDB " + m.MariaDB
	m.Kafka = "Apache Kafka " + kafkaVersion(e.repoRoot) + " (1 KRaft node, internal/kafkatest: 384 MB heap, SerialGC, C1 JIT)"
	if e.searchURL != "" {
		m.OpenSearch = "OpenSearch " + openSearchVersion(ctx, e.searchURL) + " (1 node, internal/opensearchtest: 512 MB heap)"
	}
	return m
}

func firstLines(s string, n int) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return lines
}

// kafkaVersion reads the broker's version from the name of its jar in test/kafka/lib.
func kafkaVersion(repoRoot string) string {
	jars, _ := filepath.Glob(filepath.Join(repoRoot, "test", "kafka", "lib", "kafka_2.13-*.jar"))
	for _, j := range jars {
		return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(j), "kafka_2.13-"), ".jar")
	}
	return "unknown"
}

// openSearchVersion asks the node (GET /).
func openSearchVersion(ctx context.Context, url string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		return "unknown"
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "unknown: " + err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	data, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(data, &body) != nil || body.Version.Number == "" {
		return "unknown"
	}
	return body.Version.Number
}
