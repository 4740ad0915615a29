package peers

import (
	"bufio"
	"context"
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
	"github.com/sluicehq/sluice/internal/opensearchtest"
)

// The Sluice adapter: bench/peers/sluicepeer (a Sluice pipeline written as a user writes one) built once
// and run as a child process per start. See sluicepeer's package doc for its flags and environment.

func init() { register(&sluiceTool{}) }

const (
	// sluiceBuildTimeout bounds `go build` of sluicepeer (a cold module cache compiles the whole engine).
	sluiceBuildTimeout = 10 * time.Minute
	// sluiceStopTimeout bounds a graceful stop when the caller's context has no deadline.
	sluiceStopTimeout = 2 * time.Minute
	// sluiceHeartbeatWait bounds how long a fresh streaming start waits for its first heartbeat.
	sluiceHeartbeatWait = 90 * time.Second
	// sluiceHeartbeatTopicPrefix is the mysql source's heartbeat topic prefix (mysql.Source.HeartbeatTopic).
	sluiceHeartbeatTopicPrefix = "__sluice-heartbeat."
	// sluiceProfileEnv names a directory: each start then writes a CPU profile of sluicepeer there
	// (sluice-<name>[-resume].pprof), for finding where the time goes; unset in measured runs.
	sluiceProfileEnv = "PEERS_SLUICE_CPUPROFILE"
)

type sluiceTool struct {
	mu      sync.Mutex
	bin     string // the built sluicepeer
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
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/peers/sluicepeer")
	cmd.Dir = env.RepoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("sluice: go build ./bench/peers/sluicepeer: %w\n%s", err, out)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bin, s.repo = bin, env.RepoRoot
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
	s.mu.Lock()
	bin := s.bin
	s.mu.Unlock()
	if bin == "" {
		return nil, errors.New("sluice: Start before Prepare")
	}
	if len(spec.Tables) == 0 {
		return nil, errors.New("sluice: RunSpec.Tables is empty")
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
	logPath := filepath.Join(env.WorkDir, "sluice-"+spec.Name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "=== %s start %s (resume=%v)\n", time.Now().UTC().Format(time.RFC3339Nano), strings.Join(args, " "), spec.Resume)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"SLUICE_BROKERS="+strings.Join(env.Brokers, ","),
		"SLUICE_DATA_DIR="+filepath.Join(env.WorkDir, "sluice-data-"+spec.Name),
		"SLUICE_HTTP_ADDR=off",
		"SLUICE_MYSQL_DSN="+env.MySQL.DSN,
	)
	cmd.Dir = env.WorkDir
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("sluice: start %s: %w", bin, err)
	}
	r := &sluiceRunning{spec: spec, db: env.MySQL.Database, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	ready := make(chan struct{})
	copied := make(chan struct{})
	go func() { // stdout into the log; its first line says the process handles SIGTERM
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				close(ready)
				first = false
			}
			fmt.Fprintln(logFile, sc.Text())
		}
	}()
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		r.waitErr = cmd.Wait()
		logFile.Close()
		close(r.done)
	}()
	select {
	case <-ready:
	case <-r.done:
		return nil, r.exitError("exited at start-up")
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
		return nil, fmt.Errorf("sluice: %s did not start: %w", spec.Name, ctx.Err())
	}
	if env.Logf != nil {
		env.Logf("sluice: started %s pid %d (log %s)", spec.Name, cmd.Process.Pid, logPath)
	}
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
	spec    RunSpec
	db      string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error // set before done closes
}

func (r *sluiceRunning) Topic(table string) string { return r.spec.Name + "." + r.db + "." + table }

func (r *sluiceRunning) Processes() []int { return []int{r.cmd.Process.Pid} }

// DocID: the sink's default id is the record key; the mysql source keys by the primary key struct, and a
// one-field struct key renders as that field's decimal value (stream.KeyString).
func (r *sluiceRunning) DocID(id int64) string { return strconv.FormatInt(id, 10) }

func (r *sluiceRunning) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sluiceStopTimeout)
		defer cancel()
	}
	pid := r.cmd.Process.Pid
	select {
	case <-r.done:
		return r.exitError("had exited before Stop")
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sluice: SIGTERM pid %d: %w", pid, err)
	}
	select {
	case <-r.done:
		return r.exitError("")
	case <-ctx.Done():
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-r.done
		return fmt.Errorf("sluice: %s (pid %d) did not stop within the deadline after SIGTERM; killed (log %s)\n%s",
			r.spec.Name, pid, r.logPath, sluiceLogTail(r.logPath, 20))
	}
}

// exitError is nil after a clean exit, else the exit status with the log's tail.
func (r *sluiceRunning) exitError(what string) error {
	if r.waitErr == nil && what == "" {
		return nil
	}
	if what == "" {
		what = "exited with an error"
	}
	return fmt.Errorf("sluice: %s (pid %d) %s: %v (log %s)\n%s", r.spec.Name, r.cmd.Process.Pid, what, r.waitErr, r.logPath, sluiceLogTail(r.logPath, 20))
}

// awaitHeartbeat polls the start's heartbeat topic until it holds a record, the process exits, or the
// deadline.
func (r *sluiceRunning) awaitHeartbeat(ctx context.Context, brokers []string) error {
	ctx, cancel := context.WithTimeout(ctx, sluiceHeartbeatWait)
	defer cancel()
	topic := sluiceHeartbeatTopicPrefix + r.spec.Name
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := sluiceEndOffsets(ctx, brokers, topic)
		if err == nil && n > 0 {
			return nil
		}
		select {
		case <-r.done:
			return r.exitError("exited while waiting for its first heartbeat")
		case <-ctx.Done():
			return fmt.Errorf("sluice: no heartbeat on %s within %s (last error %v; log %s)\n%s", topic, sluiceHeartbeatWait, err, r.logPath, sluiceLogTail(r.logPath, 20))
		case <-tick.C:
		}
	}
}

// sluiceSaramaConfig is a client configuration whose every request has a deadline.
func sluiceSaramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V3_0_0_0
	c.Net.DialTimeout, c.Net.ReadTimeout, c.Net.WriteTimeout = 5*time.Second, 10*time.Second, 10*time.Second
	c.Metadata.Retry.Max = 1
	c.Metadata.AllowAutoTopicCreation = false
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	return c
}

// sluiceEndOffsets is the sum of topic's partitions' end offsets (0 when the topic does not exist).
func sluiceEndOffsets(ctx context.Context, brokers []string, topic string) (int64, error) {
	client, err := sarama.NewClient(brokers, sluiceSaramaConfig())
	if err != nil {
		return 0, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range parts {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		sum += end
	}
	return sum, nil
}

// sluiceCountValues counts topic's records with a non-null value, reading every partition up to the end
// offsets it finds first (0 when the topic does not exist).
func sluiceCountValues(ctx context.Context, brokers []string, topic string) (int, error) {
	client, err := sarama.NewClient(brokers, sluiceSaramaConfig())
	if err != nil {
		return 0, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	n := 0
	for _, p := range parts {
		start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return 0, err
		}
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		if end <= start {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, start)
		if err != nil {
			return 0, err
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				if m.Value != nil {
					n++
				}
				done = m.Offset >= end-1
			case err := <-pc.Errors():
				pc.Close()
				return 0, err
			case <-ctx.Done():
				pc.Close()
				return 0, ctx.Err()
			}
		}
		pc.Close()
	}
	return n, nil
}

// sluiceProducers describes the producers the broker tracks on partition 0 of topic (those with a
// producer id and sequence numbers: idempotent or transactional ones).
func sluiceProducers(brokers []string, topic string) ([]sarama.ProducerState, error) {
	admin, err := sarama.NewClusterAdmin(brokers, sluiceSaramaConfig())
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

// sluiceLogTail is the last lines of the log at path.
func sluiceLogTail(path string, lines int) string {
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

// sluiceTableDDL creates the benchmark's 11-column table layout (the harness's own is the reference).
func sluiceTableDDL(db, table string) string {
	return "CREATE TABLE `" + db + "`.`" + table + "` (id BIGINT PRIMARY KEY, c_int INT NOT NULL, c_bigint BIGINT, " +
		"c_small SMALLINT, c_varchar VARCHAR(255), c_varchar2 VARCHAR(64), c_decimal DECIMAL(12,2), " +
		"c_decimal2 DECIMAL(18,6), c_datetime DATETIME(6), c_datetime2 DATETIME(6), c_text TEXT)"
}

// sluiceInsertRows is one INSERT of the rows with ids from..to (inclusive).
func sluiceInsertRows(db, table string, from, to int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO `" + db + "`.`" + table + "` VALUES ")
	for id := from; id <= to; id++ {
		if id > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d,%d,%d,%d,'name %d','v%d',%d.%02d,%d.%06d,'2026-01-02 03:04:05.%06d','2026-06-07 08:09:10.%06d','text of row %d')",
			id, id%1000, int64(id)*1000003, id%30000, id, id%97, id, id%100, id, id%1000000, id%1000000, (id*7)%1000000, id)
	}
	return b.String()
}

// sluiceAwaitCount polls topic until it holds want records with a value, failing t past the deadline or
// when more arrive; it returns how long it took.
func sluiceAwaitCount(ctx context.Context, brokers []string, topic string, want int) (time.Duration, int, error) {
	began := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := -1
	for {
		n, err := sluiceCountValues(ctx, brokers, topic)
		if err == nil {
			last = n
			if n >= want {
				return time.Since(began), n, nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Since(began), last, fmt.Errorf("topic %s: %d of %d records with a value after %s (last error %v)", topic, last, want, time.Since(began).Round(time.Millisecond), err)
		case <-tick.C:
		}
	}
}

// TestSluiceAdapterSmoke is the Sluice adapter's own test: a snapshot of 1000 rows, a stop, 500 changes and
// a resumed start that delivers exactly those; the streaming phase's start/stop/changes/resume on an empty
// table; and, with SLUICE_TEST_INTEROP=1 (a real OpenSearch node), the end-to-end flow into the index.
func TestSluiceAdapterSmoke(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_PEERS") != "1" {
		t.Skip("the peer benchmark's adapters run with SLUICE_BENCH_PEERS=1: `make bench-peers`")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	srv := mariadbtest.Start(t)
	const db = "peers_sluice"
	srv.CreateDatabase(t, db)
	cluster := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
	env := &Env{
		MySQL:    MySQL{Host: "127.0.0.1", Port: srv.Port, User: "root", Database: db, DSN: srv.DSN("")},
		Brokers:  cluster.Addrs(),
		RepoRoot: repo,
		WorkDir:  t.TempDir(),
		Logf:     t.Logf,
	}
	tool := &sluiceTool{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	began := time.Now()
	if err := tool.Prepare(ctx, env); err != nil {
		t.Fatal(err)
	}
	t.Logf("prepared in %s: %+v", time.Since(began).Round(time.Millisecond), tool.Describe())

	start := func(t *testing.T, spec RunSpec) Running {
		t.Helper()
		r, err := tool.Start(ctx, env, spec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // a failed test leaves nothing running
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = r.Stop(sctx)
		})
		return r
	}
	stop := func(t *testing.T, r Running) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		began := time.Now()
		if err := r.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("stopped in %s", time.Since(began).Round(time.Millisecond))
	}
	await := func(t *testing.T, r Running, table string, want int, what string) {
		t.Helper()
		actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		took, n, err := sluiceAwaitCount(actx, env.Brokers, r.Topic(table), want)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d records on %s after %s since the start returned", what, n, r.Topic(table), took.Round(time.Millisecond))
	}
	exact := func(t *testing.T, topic string, want int) {
		t.Helper()
		n, err := sluiceCountValues(ctx, env.Brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("topic %s has %d records with a value, want exactly %d", topic, n, want)
		}
	}
	// changes writes 500 row changes to table, whose rows 1..200 exist: 300 inserts, 150 updates, 50 deletes.
	changes := func(t *testing.T, table string) {
		srv.Exec(t, sluiceInsertRows(db, table, 1001, 1300),
			"UPDATE `"+db+"`.`"+table+"` SET c_int = c_int + 1, c_text = 'updated' WHERE id BETWEEN 1 AND 150",
			"DELETE FROM `"+db+"`.`"+table+"` WHERE id BETWEEN 151 AND 200")
	}

	t.Run("snapshot-then-resume", func(t *testing.T) {
		srv.Exec(t, sluiceTableDDL(db, "snap_smoke"), sluiceInsertRows(db, "snap_smoke", 1, 1000))
		spec := RunSpec{Name: "smoke-snapshot-sluice", Tables: []string{"snap_smoke"}, Snapshot: true, ServerID: 7101}
		r := start(t, spec)
		await(t, r, "snap_smoke", 1000, "snapshot")
		// The records came from an idempotent producer (which sarama allows only with acks=all): the broker
		// keeps its producer id and sequence numbers on the partition.
		producers, err := sluiceProducers(env.Brokers, r.Topic("snap_smoke"))
		if err != nil {
			t.Fatal(err)
		}
		if len(producers) == 0 {
			t.Fatalf("topic %s: no idempotent producer state on partition 0", r.Topic("snap_smoke"))
		}
		t.Logf("partition 0 of %s: idempotent producers %+v", r.Topic("snap_smoke"), producers)
		stop(t, r)
		changes(t, "snap_smoke")
		spec.Resume = true
		r = start(t, spec)
		await(t, r, "snap_smoke", 1500, "resumed")
		stop(t, r)
		exact(t, r.Topic("snap_smoke"), 1500)
	})

	t.Run("streaming", func(t *testing.T) {
		srv.Exec(t, sluiceTableDDL(db, "stream_smoke"))
		spec := RunSpec{Name: "smoke-streaming-sluice", Tables: []string{"stream_smoke"}, ServerID: 7102}
		r := start(t, spec)
		stop(t, r) // at once: the start must have saved its position
		// 200 inserts, then 500 changes
		srv.Exec(t, sluiceInsertRows(db, "stream_smoke", 1, 200))
		changes(t, "stream_smoke")
		spec.Resume = true
		r = start(t, spec)
		await(t, r, "stream_smoke", 700, "streamed")
		stop(t, r)
		exact(t, r.Topic("stream_smoke"), 700)
	})

	t.Run("end-to-end", func(t *testing.T) {
		env.SearchURL = opensearchtest.Start(t) // skips unless SLUICE_TEST_INTEROP=1
		t.Cleanup(opensearchtest.Stop)
		defer func() { env.SearchURL = "" }()
		srv.Exec(t, sluiceTableDDL(db, "e2e_smoke"))
		spec := RunSpec{Name: "smoke-e2e-sluice", Tables: []string{"e2e_smoke"}, ServerID: 7103, Index: "e2e-smoke-sluice"}
		r := start(t, spec)
		srv.Exec(t, sluiceInsertRows(db, "e2e_smoke", 1, 100))
		deadline := time.Now().Add(2 * time.Minute)
		for id := int64(1); id <= 100; id++ {
			for {
				code, body := opensearchtest.Do(t, env.SearchURL, "GET", "/"+spec.Index+"/_doc/"+r.DocID(id), "")
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
		stop(t, r)
	})
}
