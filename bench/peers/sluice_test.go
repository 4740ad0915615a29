package peers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/opensearchtest"
)

// The Sluice adapter: bench/peers/sluicepeer (a Sluice pipeline written as a user writes one) built once
// and run as a child process per start. See sluicepeer's package doc for its flags and environment.

func init() { register(&sluiceTool{}) }

const (
	// sluiceBuildTimeout bounds `go build` of sluicepeer (a cold module cache compiles the whole engine).
	sluiceBuildTimeout = 10 * time.Minute
	// sluiceStopTimeout bounds a graceful stop (the harness's stopTimeout; the caller's context may end it
	// earlier).
	sluiceStopTimeout = 3 * time.Minute
	// sluiceHeartbeatWait bounds how long a fresh streaming start waits for its first heartbeat.
	sluiceHeartbeatWait = 90 * time.Second
	// sluiceHeartbeatTopicPrefix is the mysql source's heartbeat topic prefix (mysql.Source.HeartbeatTopic).
	sluiceHeartbeatTopicPrefix = "__sluice-heartbeat."
	// sluiceProfileEnv names a directory: each start then writes a CPU profile of sluicepeer there
	// (sluice-<name>[-resume].pprof), for finding where the time goes; unset in measured runs.
	sluiceProfileEnv = "PEERS_SLUICE_CPUPROFILE"
)

type sluiceTool struct {
	bin     builtBin // the built sluicepeer
	mu      sync.Mutex
	version string // "Sluice <git describe>", filled by Prepare or Describe
	repo    string
}

func (s *sluiceTool) Name() string { return "sluice" }

func (s *sluiceTool) Describe() Description {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.version == "" {
		s.version = sluiceVersion(s.repo)
	}
	return Description{
		Version: s.version,
		Config:  []string{"bench/peers/sluicepeer/main.go", "bench/peers/sluice_test.go"},
		Guarantee: "at-least-once: idempotent producer, acks=all (WaitForAll), 1 request in flight per broker; " +
			"source position saved only after Kafka acknowledged the records",
		Format: "JSON with schema (json-schema codec: Kafka Connect JsonConverter, schemas.enable=true), Debezium envelope",
		Notes: "Engine defaults (snapshot chunk 1024 rows, producer flush 5ms/256KiB, 1 partition per topic, sink batch 1000/linger 20ms); " +
			"set: Tombstones=false, HeartbeatInterval=1s (so that a streaming start that saw no change yet saves its binlog position), " +
			"Snapshot=false is SnapshotMode never; end-to-end: Unwrap then the OpenSearch sink, document id = the key.",
	}
}

func (s *sluiceTool) Supports(Phase) (bool, string) { return true, "" }

func (s *sluiceTool) Prepare(ctx context.Context, env *Env) error {
	ctx, cancel := context.WithTimeout(ctx, sluiceBuildTimeout)
	defer cancel()
	if err := os.MkdirAll(env.WorkDir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(env.WorkDir, "sluicepeer")
	if err := goBuild(ctx, env.Logf, env.RepoRoot, "./bench/peers/sluicepeer", bin); err != nil {
		return fmt.Errorf("sluice: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bin.set(bin)
	s.repo = env.RepoRoot
	s.version = sluiceVersion(env.RepoRoot)
	return nil
}

// sluiceVersion is "Sluice <git describe --always --dirty>" of repo, or "Sluice (unknown commit)".
func sluiceVersion(repo string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty", "--tags")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		return "Sluice (unknown commit)"
	}
	return "Sluice " + strings.TrimSpace(string(out))
}

func (s *sluiceTool) Start(ctx context.Context, env *Env, spec RunSpec) (Running, error) {
	bin, err := s.bin.forStart("sluice", spec)
	if err != nil {
		return nil, err
	}
	if spec.Index != "" && env.SearchURL == "" {
		return nil, errors.New("sluice: RunSpec.Index is set but Env.SearchURL is empty")
	}
	args := []string{"-name", spec.Name, "-db", env.MySQL.Database, "-tables", strings.Join(spec.Tables, ","),
		"-server-id", strconv.FormatUint(uint64(spec.ServerID), 10)}
	if spec.Snapshot {
		args = append(args, "-snapshot")
	}
	if spec.Index != "" {
		args = append(args, "-index", spec.Index, "-es-url", env.SearchURL)
	}
	if dir := os.Getenv(sluiceProfileEnv); dir != "" {
		suffix := ""
		if spec.Resume {
			suffix = "-resume"
		}
		args = append(args, "-cpuprofile", filepath.Join(dir, "sluice-"+spec.Name+suffix+".pprof"))
	}
	// The first line on stdout says that the process handles SIGTERM.
	p, err := startProc(ctx, procSpec{Tool: "sluice", Name: spec.Name, Bin: bin, Args: args,
		Env: []string{
			"SLUICE_BROKERS=" + strings.Join(env.Brokers, ","),
			"SLUICE_DATA_DIR=" + filepath.Join(env.WorkDir, "sluice-data-"+spec.Name),
			"SLUICE_HTTP_ADDR=off",
			"SLUICE_MYSQL_DSN=" + env.MySQL.DSN,
		},
		Dir: env.WorkDir, Log: filepath.Join(env.WorkDir, "sluice-"+spec.Name+".log"), AwaitFirstLine: true}, env.Logf)
	if err != nil {
		return nil, err
	}
	r := &sluiceRunning{spec: spec, db: env.MySQL.Database, proc: p}
	if !spec.Snapshot && !spec.Resume {
		// SnapshotMode never saves no position until a record is acknowledged; a stop before the first
		// change would make the next start stream from the then current end and miss what was written in
		// between. The heartbeat (1s) carries the position: wait until it is on Kafka.
		if err := r.awaitHeartbeat(ctx, env.Brokers); err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), sluiceStopTimeout)
			defer cancel()
			return nil, errors.Join(err, r.Stop(sctx))
		}
	}
	return r, nil
}

type sluiceRunning struct {
	spec RunSpec
	db   string
	proc *childProc
}

func (r *sluiceRunning) Topic(table string) string { return r.spec.Name + "." + r.db + "." + table }

func (r *sluiceRunning) Processes() []int { return []int{r.proc.pid()} }

// DocID: the sink's default id is the record key; the mysql source keys by the primary key struct, and a
// one-field struct key renders as that field's decimal value (stream.KeyString).
func (r *sluiceRunning) DocID(id int64) string { return strconv.FormatInt(id, 10) }

// Stop: SIGTERM, the pipeline's graceful stop; an exit before Stop is an error.
func (r *sluiceRunning) Stop(ctx context.Context) error {
	return r.proc.stop(ctx, stopHow{Timeout: sluiceStopTimeout})
}

// awaitHeartbeat polls the start's heartbeat topic until it holds a record, the process exits, or the
// deadline.
func (r *sluiceRunning) awaitHeartbeat(ctx context.Context, brokers []string) error {
	ctx, cancel := context.WithTimeout(ctx, sluiceHeartbeatWait)
	defer cancel()
	topic := sluiceHeartbeatTopicPrefix + r.spec.Name
	client, err := sarama.NewClient(brokers, saramaConfig("peers-sluice"))
	if err != nil {
		return fmt.Errorf("sluice: a Kafka client: %w", err)
	}
	defer client.Close()
	heartbeats := &topicCounter{client: client, topic: topic}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ends, err := heartbeats.endOffsets()
		if err == nil && sumOffsets(ends) > 0 {
			return nil
		}
		select {
		case <-r.proc.done:
			return r.proc.exitError("exited while waiting for its first heartbeat")
		case <-ctx.Done():
			return fmt.Errorf("sluice: no heartbeat on %s within %s (last error %v; log %s)\n%s", topic, sluiceHeartbeatWait, err, r.proc.log, r.proc.logTail())
		case <-tick.C:
		}
	}
}

// sluiceProducers describes the producers the broker tracks on partition 0 of topic (those with a
// producer id and sequence numbers: idempotent or transactional ones).
func sluiceProducers(brokers []string, topic string) ([]sarama.ProducerState, error) {
	admin, err := sarama.NewClusterAdmin(brokers, saramaConfig("peers-sluice"))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	ta, ok := admin.(sarama.TransactionClusterAdmin)
	if !ok {
		return nil, errors.New("sarama's ClusterAdmin has no DescribeProducers")
	}
	res, err := ta.DescribeProducers(map[string][]int32{topic: {0}})
	if err != nil {
		return nil, err
	}
	p := res[topic][0]
	if p.ErrorCode != sarama.ErrNoError {
		return nil, fmt.Errorf("describe producers of %s/0: %w", topic, p.ErrorCode)
	}
	return p.ActiveProducers, nil
}

// TestSluiceAdapterSmoke is the Sluice adapter's own test: a snapshot of 1000 rows, a stop, 500 changes and
// a resumed start that delivers exactly those; the streaming phase's start/stop/changes/resume on an empty
// table; and, with SLUICE_TEST_INTEROP=1 (a real OpenSearch node), the end-to-end flow into the index.
func TestSluiceAdapterSmoke(t *testing.T) {
	s := startSmoke(t, "peers_sluice", 15*time.Minute)
	tool := &sluiceTool{}
	s.prepare(tool)
	t.Logf("%+v", tool.Describe())

	t.Run("snapshot-then-resume", func(t *testing.T) {
		s.createTable("snap_smoke")
		s.insertRows("snap_smoke", 1, 1000)
		spec := RunSpec{Name: "smoke-snapshot-sluice", Tables: []string{"snap_smoke"}, Snapshot: true, ServerID: 7101}
		r := s.start(tool, spec)
		topic := r.Topic("snap_smoke")
		s.awaitRecords(topic, 1000, "snapshot")
		// The records came from an idempotent producer (which sarama allows only with acks=all): the broker
		// keeps its producer id and sequence numbers on the partition.
		producers, err := sluiceProducers(s.env.Brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(producers) == 0 {
			t.Fatalf("topic %s: no idempotent producer state on partition 0", topic)
		}
		t.Logf("partition 0 of %s: idempotent producers %+v", topic, producers)
		s.stop(r)
		s.resumeAfterChanges(tool, spec, "snap_smoke", 1001, 1000)
	})

	t.Run("streaming", func(t *testing.T) {
		s.createTable("stream_smoke")
		spec := RunSpec{Name: "smoke-streaming-sluice", Tables: []string{"stream_smoke"}, ServerID: 7102}
		r := s.start(tool, spec)
		s.stop(r) // at once: the start must have saved its position
		// 200 inserts, then 500 changes
		s.insertRows("stream_smoke", 1, 200)
		s.resumeAfterChanges(tool, spec, "stream_smoke", 1001, 200)
	})

	t.Run("end-to-end", func(t *testing.T) {
		s.env.SearchURL = opensearchtest.Start(t) // skips unless SLUICE_TEST_INTEROP=1
		t.Cleanup(opensearchtest.Stop)
		defer func() { s.env.SearchURL = "" }()
		s.createTable("e2e_smoke")
		spec := RunSpec{Name: "smoke-e2e-sluice", Tables: []string{"e2e_smoke"}, ServerID: 7103, Index: "e2e-smoke-sluice"}
		r := s.start(tool, spec)
		s.insertRows("e2e_smoke", 1, 100)
		deadline := time.Now().Add(2 * time.Minute)
		for id := int64(1); id <= 100; id++ {
			for {
				code, body := opensearchtest.Do(t, s.env.SearchURL, "GET", "/"+spec.Index+"/_doc/"+r.DocID(id), "")
				if code == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("document %s of row %d not readable: %d %s", r.DocID(id), id, code, body)
				}
				time.Sleep(100 * time.Millisecond) // polling the search engine: no event to wait on
			}
		}
		t.Logf("100 rows readable by id")
		s.stop(r)
	})
}
