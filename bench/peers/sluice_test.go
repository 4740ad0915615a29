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
	"syscall"
	"time"

	"github.com/IBM/sarama"
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
		Config:  []string{"bench/peers/sluicepeer/main.go"},
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
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("sluice: start %s: %w", bin, err)
	}
	r := &sluiceRunning{spec: spec, db: env.MySQL.Database, cmd: cmd, log: logFile, logPath: logPath, done: make(chan struct{})}
	go func() {
		r.waitErr = cmd.Wait()
		logFile.Close()
		close(r.done)
	}()
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
	log     *os.File
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
