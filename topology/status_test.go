package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// statusReplica is one replica of the status tests' pipeline, run by RunWith in this process.
type statusReplica struct {
	url    string // http://host:port
	cancel context.CancelFunc
	done   chan error
	logs   *testkit.LogBuffer
}

// startStatusReplica runs a replica of pipeline "status-demo": a file source with a task per input file,
// into a 2-partition topic, and a flow from it into a file sink of the replica's own (in dir), or into
// sink when it is given.
func startStatusReplica(t *testing.T, brokers, inputs []string, dir string, sink sinks.Sink, tune ...func(*Config)) *statusReplica {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if sink == nil {
		if sink, err = filesink.New(filesink.Config{Path: filepath.Join(dir, "out.log")}); err != nil {
			t.Fatal(err)
		}
	}
	tp := New("status-demo")
	lines := tp.Topic("status-demo.lines", Partitions(2), ValueCodec("string"))
	// Each line is its own key, so that lines spread over both partitions (a file source keys them by file).
	keyByLine := stages.Map("key-by-line", func(r stream.Record) (stream.Record, error) {
		r.Key = r.Value
		return r, nil
	})
	tp.Source("files", src).Via(keyByLine).To(lines)
	tp.Flow("archive").From(lines).To(sink, Linger(5*time.Millisecond))
	cfg := DefaultConfig()
	cfg.Brokers, cfg.DataDir, cfg.HTTPAddr = brokers, filepath.Join(dir, "data"), testkit.FreeAddr(t)
	cfg.SessionTimeout = MinSessionTimeout
	for _, f := range tune {
		f(&cfg)
	}
	r := &statusReplica{url: "http://" + cfg.HTTPAddr, done: make(chan error, 1), logs: &testkit.LogBuffer{}}
	cfg.Logger = slog.New(slog.NewTextHandler(r.logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- tp.RunWith(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("replica at %s: %v", r.url, err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("replica at %s did not stop within 60s", r.url)
		}
	})
	return r
}

// stop cancels the replica and waits for RunWith to return nil.
func (r *statusReplica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("replica at %s: %v", r.url, err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(60 * time.Second):
		t.Fatalf("replica at %s did not stop within 60s", r.url)
	}
}

// getJSON GETs url and decodes the answer into out, returning the status code and the Content-Type.
func getJSON(t *testing.T, method, url string, out any) (int, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON: %v\n%s", method, url, resp.StatusCode, err, body)
		}
	}
	return resp.StatusCode, resp.Header
}

// status GETs the merged status from a replica (zero Status while it does not answer yet).
func (r *statusReplica) status(t *testing.T) opsapi.Status {
	t.Helper()
	var st opsapi.Status
	if code, _ := getJSON(t, http.MethodGet, r.url+"/pipelines/status-demo/status", &st); code != http.StatusOK {
		return opsapi.Status{}
	}
	return st
}

// whole reports why st is not yet the status of the given replicas sharing all the work (every task and
// partition once, RUNNING, held by one of them), "" when it is.
func whole(st opsapi.Status, tasks, partitions int, replicas ...string) string {
	var ids []string
	for _, r := range st.Replicas {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	switch {
	case st.State != opsapi.StateRunning:
		return "state " + st.State
	case len(ids) != len(replicas) || (replicas[0] != "" && !slices.Equal(ids, replicas)):
		return fmt.Sprintf("replicas %v", ids)
	case len(st.Tasks) != tasks:
		return fmt.Sprintf("%d tasks", len(st.Tasks))
	case len(st.Partitions) != partitions:
		return fmt.Sprintf("%d partitions", len(st.Partitions))
	}
	seen := map[string]bool{}
	for _, tk := range st.Tasks {
		if seen[tk.Source+"/"+tk.Task] {
			return "task twice: " + tk.Task
		}
		seen[tk.Source+"/"+tk.Task] = true
		if tk.State != opsapi.StateRunning || !slices.Contains(ids, tk.Replica) {
			return fmt.Sprintf("task %s: %s on %q", tk.Task, tk.State, tk.Replica)
		}
	}
	for _, ps := range st.Partitions {
		k := fmt.Sprintf("%s/%s/%d", ps.Group, ps.Topic, ps.Partition)
		if seen[k] {
			return "partition twice: " + k
		}
		seen[k] = true
		if ps.State != opsapi.StateRunning || !slices.Contains(ids, ps.Replica) {
			return fmt.Sprintf("partition %s: %s on %q", k, ps.State, ps.Replica)
		}
	}
	return ""
}

// awaitStatus polls a replica's merged status until want reports nothing wrong, or fails after timeout
// with the last reason and status.
func awaitStatus(t *testing.T, r *statusReplica, timeout time.Duration, want func(opsapi.Status) string) opsapi.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := r.status(t)
		why := want(st)
		if why == "" {
			return st
		}
		select {
		case err := <-r.done:
			t.Fatalf("replica at %s stopped while the test waited for its status (%s): %v\nlogs:\n%s", r.url, why, err, r.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("status from %s after %v: %s\n%s\nlogs:\n%s", r.url, timeout, why, b, r.logs.String())
		}
		time.Sleep(200 * time.Millisecond) // polling interval of a condition, not a synchronisation
	}
}

// Two replicas of one pipeline on one broker: the status on either shows both replicas, every source task
// and flow partition once with its owner; after one stops, the other shows only itself holding all of it.
func TestStatusAcrossReplicas(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	var inputs []string
	for _, name := range []string{"a.log", "b.log"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(name+" line 1\n"+name+" line 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, path)
	}
	start := time.Now()
	a := startStatusReplica(t, brokers, inputs, filepath.Join(dir, "a"), nil)
	b := startStatusReplica(t, brokers, inputs, filepath.Join(dir, "b"), nil)

	both := func(st opsapi.Status) string { return whole(st, 2, 2, "", "") }
	stA := awaitStatus(t, a, 40*time.Second, both)
	stB := awaitStatus(t, b, 20*time.Second, both)
	t.Logf("both replicas in the status of both after %v", time.Since(start).Round(time.Millisecond))
	ids := []string{stA.Replicas[0].ID, stA.Replicas[1].ID}
	for _, st := range []opsapi.Status{stA, stB} {
		var got []string
		for _, r := range st.Replicas {
			got = append(got, r.ID)
			if r.HTTPAddr == "" || r.Updated.IsZero() {
				t.Errorf("replica %s: no http_addr or updated: %+v", r.ID, r)
			}
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("replicas %v on one, %v on the other", ids, got)
		}
		for _, ps := range st.Partitions {
			if ps.Flow != "archive" || ps.Group != "status-demo.archive" || ps.Topic != "status-demo.lines" || ps.Offset < 0 || ps.Lag < 0 {
				t.Errorf("partition %+v", ps)
			}
		}
		for _, tk := range st.Tasks {
			if tk.Source != "files" || !strings.HasPrefix(tk.Task, "file:") {
				t.Errorf("task %+v", tk)
			}
		}
	}
	// Which replica is B: the one whose HTTP address is b's.
	idB := ""
	for _, r := range stA.Replicas {
		if "http://"+r.HTTPAddr == b.url {
			idB = r.ID
		}
	}
	if idB == "" {
		t.Fatalf("no replica with b's address %s in %+v", b.url, stA.Replicas)
	}
	idA := ids[0]
	if idA == idB {
		idA = ids[1]
	}

	// Every line read: each task's lag, in bytes as the file source tells it, is 0.
	awaitStatus(t, a, 20*time.Second, func(st opsapi.Status) string {
		for _, tk := range st.Tasks {
			if tk.Lag == nil || *tk.Lag != 0 || tk.LagUnit != "bytes" {
				return fmt.Sprintf("task %s: lag %v %q", tk.Task, tk.Lag, tk.LagUnit)
			}
		}
		return ""
	})

	stopped := time.Now()
	b.stop(t)
	t.Logf("b stopped (RunWith returned) in %v", time.Since(stopped).Round(time.Millisecond))
	// The session timeout bounds how long a replica that stopped publishing stays; b stopped cleanly, so its
	// tombstone removes it at once, and the rebalance moves its work within goka's rejoin wait.
	st := awaitStatus(t, a, MinSessionTimeout+20*time.Second, func(st opsapi.Status) string { return whole(st, 2, 2, idA) })
	t.Logf("after b stopped, a holds everything after %v", time.Since(stopped).Round(time.Millisecond))
	for _, tk := range st.Tasks {
		if tk.Replica != idA {
			t.Errorf("task %+v not on %s", tk, idA)
		}
	}
}

// GET /, /pipelines and /pipelines/{name} answer their shapes; an unknown pipeline or path is a 404 and a
// wrong method a 405, each with an opsapi.Error body.
func TestStatusEndpoints(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startStatusReplica(t, brokers, []string{in}, filepath.Join(dir, "a"), nil)
	awaitStatus(t, r, 40*time.Second, func(st opsapi.Status) string { return whole(st, 1, 2, "") })

	var root opsapi.Root
	deadline := time.Now().Add(10 * time.Second)
	for root.ClusterID == "" && time.Now().Before(deadline) { // read in the background within 2 s
		if code, _ := getJSON(t, http.MethodGet, r.url+"/", &root); code != http.StatusOK {
			t.Fatalf("GET / answered %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if root.Version == "" || root.Replica == "" || !slices.Equal(root.Pipelines, []string{"status-demo"}) {
		t.Errorf("GET / = %+v", root)
	}
	t.Logf("GET / = %+v", root)
	if root.ClusterID == "" {
		t.Errorf("GET /: no kafka_cluster_id after 10s")
	}

	var names []string
	if code, _ := getJSON(t, http.MethodGet, r.url+"/pipelines", &names); code != http.StatusOK || !slices.Equal(names, []string{"status-demo"}) {
		t.Errorf("GET /pipelines = %d %v", code, names)
	}

	var pl opsapi.Pipeline
	if code, _ := getJSON(t, http.MethodGet, r.url+"/pipelines/status-demo", &pl); code != http.StatusOK {
		t.Fatalf("GET /pipelines/status-demo = %d", code)
	}
	if len(pl.Sources) != 1 || pl.Sources[0].Connector != "file" || pl.Sources[0].Topic != "status-demo.lines" ||
		!slices.Equal(pl.Sources[0].Stages, []string{"key-by-line"}) || pl.Sources[0].Group != "status-demo.files" {
		t.Errorf("sources = %+v", pl.Sources)
	}
	if len(pl.Flows) != 1 || pl.Flows[0].Topic != "status-demo.lines" || pl.Flows[0].Sink == "" || pl.Flows[0].Group != "status-demo.archive" {
		t.Errorf("flows = %+v", pl.Flows)
	}
	roles := map[string]string{}
	for _, tp := range pl.Topics {
		roles[tp.Name] = tp.Role
	}
	for name, role := range map[string]string{
		"status-demo.lines":         "source output, flow input",
		"status-demo.files.control": "control topic",
		"status-demo.files-table":   "position table",
		"status-demo.status":        "status topic",
	} {
		if roles[name] != role {
			t.Errorf("topic %s: role %q, want %q (topics %+v)", name, roles[name], role, pl.Topics)
		}
	}

	for _, c := range []struct {
		method, path string
		code         int
		message      string
	}{
		{http.MethodGet, "/pipelines/other", 404, `no pipeline "other" here (this replica runs "status-demo")`},
		{http.MethodGet, "/pipelines/other/status", 404, `no pipeline "other" here (this replica runs "status-demo")`},
		{http.MethodGet, "/no/such/path", 404, "no endpoint GET /no/such/path"},
		{http.MethodPost, "/pipelines", 405, "POST is not allowed on /pipelines (allowed: GET, HEAD)"},
		{http.MethodDelete, "/pipelines/status-demo/status", 405, "DELETE is not allowed on /pipelines/status-demo/status"},
		{http.MethodPost, "/", 405, "POST is not allowed on /"},
		{http.MethodPut, "/pipelines/status-demo/offsets", 405, "PUT is not allowed on /pipelines/status-demo/offsets (allowed: GET, PATCH, DELETE, HEAD)"},
		{http.MethodGet, "/pipelines/status-demo/pause", 405, "GET is not allowed on /pipelines/status-demo/pause (allowed: PUT)"},
	} {
		var e opsapi.Error
		code, header := getJSON(t, c.method, r.url+c.path, &e)
		if code != c.code || e.ErrorCode != c.code || !strings.HasPrefix(e.Message, c.message) ||
			header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s = %d %+v (%s), want %d %q", c.method, c.path, code, e, header.Get("Content-Type"), c.code, c.message)
		}
	}
}

// The merge keeps each task and partition once (from the replica that published last), lists declared
// work nobody holds as UNASSIGNED, and derives the pipeline's state from the replicas'.
func TestStatusMerge(t *testing.T) {
	now := time.Now()
	task := func(key, replica string) opsapi.TaskStatus {
		return opsapi.TaskStatus{Source: "s", Task: key, State: opsapi.StateRunning, Replica: replica}
	}
	part := func(p int32, replica string) opsapi.PartitionStatus {
		return opsapi.PartitionStatus{Flow: "f", Group: "g", Topic: "t", Partition: p, State: opsapi.StateRunning, Replica: replica}
	}
	a := opsapi.ReplicaStatus{ID: "a", State: opsapi.StateRunning, Updated: now.Add(-time.Second),
		Tasks: []opsapi.TaskStatus{task("x", "a")}, Partitions: []opsapi.PartitionStatus{part(0, "a"), part(1, "a")}}
	b := opsapi.ReplicaStatus{ID: "b", State: opsapi.StateRunning, Updated: now,
		Tasks: []opsapi.TaskStatus{task("x", "b")}, Partitions: []opsapi.PartitionStatus{part(1, "b")}}
	declaredTasks := []opsapi.TaskStatus{{Source: "s", Task: "x"}, {Source: "s", Task: "y"}}
	declaredParts := []opsapi.PartitionStatus{{Flow: "f", Group: "g", Topic: "t", Partition: 0}, {Flow: "f", Group: "g", Topic: "t", Partition: 1},
		{Flow: "f", Group: "g", Topic: "t", Partition: 2}}
	st := mergeStatus("p", opsapi.StateRunning, []opsapi.ReplicaStatus{a, b}, declaredTasks, declaredParts)
	got := []string{st.State}
	for _, tk := range st.Tasks {
		got = append(got, tk.Task+"@"+tk.Replica+":"+tk.State)
	}
	for _, ps := range st.Partitions {
		got = append(got, fmt.Sprintf("%d@%s:%s", ps.Partition, ps.Replica, ps.State))
	}
	want := []string{"RUNNING", "x@b:RUNNING", "y@:UNASSIGNED", "0@a:RUNNING", "1@b:RUNNING", "2@:UNASSIGNED"}
	if !slices.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}

	b.State = opsapi.StatePaused
	if st := mergeStatus("p", opsapi.StateRunning, []opsapi.ReplicaStatus{a, b}, nil, nil); st.State != opsapi.StateStarting {
		t.Errorf("a replica not in the target state: %s, want STARTING", st.State)
	}
	b.State = opsapi.StateFailed
	if st := mergeStatus("p", opsapi.StateRunning, []opsapi.ReplicaStatus{b, a}, nil, nil); st.State != opsapi.StateFailed {
		t.Errorf("a failed replica: %s, want FAILED", st.State)
	}
	if st := mergeStatus("p", opsapi.StatePaused, nil, nil, nil); st.State != opsapi.StatePaused || st.Replicas == nil || st.Tasks == nil {
		t.Errorf("no replicas: %+v", st)
	}

	// Offsets: this replica's next offset, else the committed one, else the oldest; lag against the newest.
	o := statusOffsets{
		committed: map[string]map[int32]int64{"g\x00t": {0: 5, 1: -1}},
		oldest:    map[string]map[int32]int64{"t": {0: 0, 1: 3, 2: 0}},
		newest:    map[string]map[int32]int64{"t": {0: 10, 1: 10, 2: 10}},
	}
	for _, c := range []struct {
		part            int32
		next            int64
		known           bool
		wantNext, wantL int64
	}{
		{0, 7, true, 7, 3}, {0, 0, false, 5, 5}, {1, 0, false, 3, 7}, {2, 10, true, 10, 0}, {3, 0, false, -1, 0},
	} {
		if n, l := o.position("g", "t", c.part, c.next, c.known); n != c.wantNext || l != c.wantL {
			t.Errorf("position(%d, %d, %v) = %d, %d; want %d, %d", c.part, c.next, c.known, n, l, c.wantNext, c.wantL)
		}
	}
}

// downSink refuses every write with a retryable error until up is closed.
type downSink struct {
	up      chan struct{}
	written atomic.Int64
}

func (s *downSink) Open(context.Context) error { return nil }
func (s *downSink) Close() error               { return nil }
func (s *downSink) String() string             { return "a sink that is down" }
func (s *downSink) Write(_ context.Context, batch []stream.Record) error {
	select {
	case <-s.up:
		s.written.Add(int64(len(batch)))
		return nil
	default:
		return sinks.Retryable(errors.New("destination down for the test"))
	}
}

// A flow whose sink write is being retried shows the sink's error on the partitions it holds, and stalled
// once the stall timeout passed; both clear once the sink takes the batch.
func TestStatusShowsSinkRetries(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := &downSink{up: make(chan struct{})}
	r := startStatusReplica(t, brokers, []string{in}, filepath.Join(dir, "a"), sink, func(c *Config) { c.StallTimeout = time.Second })
	awaitStatus(t, r, 40*time.Second, func(st opsapi.Status) string {
		if why := whole(st, 1, 2, ""); why != "" {
			return why
		}
		retrying := 0
		for _, ps := range st.Partitions {
			if strings.Contains(ps.LastError, "destination down for the test") && ps.Stalled && ps.Lag > 0 {
				retrying++
			}
		}
		if retrying == 0 {
			return "no partition with lag, the sink's error and stalled"
		}
		return ""
	})
	close(sink.up)
	awaitStatus(t, r, 20*time.Second, func(st opsapi.Status) string {
		for _, ps := range st.Partitions {
			if ps.LastError != "" || ps.Stalled || ps.Lag != 0 {
				return fmt.Sprintf("partition %d: lag %d, last_error %q, stalled %v", ps.Partition, ps.Lag, ps.LastError, ps.Stalled)
			}
		}
		return ""
	})
	if n := sink.written.Load(); n != 3 {
		t.Errorf("sink took %d records, want 3", n)
	}
}

// A replica's entry counts from when it arrived, or, for what was in the topic before the reader started,
// from when its replica wrote it; a tombstone removes it at once, and this replica's own record is ignored.
func TestStatusEntriesExpire(t *testing.T) {
	p := &pipelineRun{t: New("p"), replicaID: "me", log: slog.New(slog.DiscardHandler)}
	b := newStatusBoard(p)
	record := func(id string, updated time.Time) *sarama.ConsumerMessage {
		v, _ := json.Marshal(opsapi.ReplicaStatus{ID: id, State: opsapi.StateRunning, Updated: updated})
		return &sarama.ConsumerMessage{Key: []byte(id), Value: v}
	}
	now := time.Now()
	b.apply(record("old", now.Add(-time.Minute)), true)     // in the topic before: counts from its Updated
	b.apply(record("skewed", now.Add(-time.Minute)), false) // arrived now from a host whose clock is behind
	b.apply(record("me", now), false)
	b.apply(&sarama.ConsumerMessage{Key: []byte("junk"), Value: []byte("not json")}, false)
	b.apply(record("gone", now), false)
	b.apply(&sarama.ConsumerMessage{Key: []byte("gone")}, false) // its tombstone
	var ids []string
	for _, st := range b.others(time.Now(), 10*time.Second) {
		ids = append(ids, st.ID)
	}
	if !slices.Equal(ids, []string{"skewed"}) {
		t.Errorf("live replicas %v, want [skewed]", ids)
	}
	if got := b.others(time.Now().Add(11*time.Second), 10*time.Second); len(got) != 0 {
		t.Errorf("after the expiry: %+v", got)
	}
}

// brokenStatusSink refuses every write with an error that is not retryable: the flow, and the pipeline, fail.
type brokenStatusSink struct{}

func (brokenStatusSink) Open(context.Context) error { return nil }
func (brokenStatusSink) Close() error               { return nil }
func (brokenStatusSink) Write(context.Context, []stream.Record) error {
	return errors.New("index refused the batch for the test")
}

// A replica whose pipeline failed publishes a last FAILED status with its error: the other replicas show
// the pipeline FAILED until that entry expires (SessionTimeout), then only themselves.
func TestStatusShowsAFailedReplica(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// b first, alone, so that it holds the flow's partitions; then a, which takes one of them.
	b := startStatusReplica(t, brokers, []string{in}, filepath.Join(dir, "b"), brokenStatusSink{})
	awaitStatus(t, b, 40*time.Second, func(st opsapi.Status) string { return whole(st, 1, 2, "") })
	a := startStatusReplica(t, brokers, []string{in}, filepath.Join(dir, "a"), nil)
	st := awaitStatus(t, a, 40*time.Second, func(st opsapi.Status) string {
		if why := whole(st, 1, 2, "", ""); why != "" {
			return why
		}
		owners := map[string]bool{}
		for _, ps := range st.Partitions {
			owners[ps.Replica] = true
		}
		if len(owners) != 2 {
			return fmt.Sprintf("partitions on %d replicas", len(owners))
		}
		return ""
	})
	idB := ""
	for _, r := range st.Replicas {
		if "http://"+r.HTTPAddr == b.url {
			idB = r.ID
		}
	}

	// Lines keyed by their text spread over both partitions: b gets some and fails (40 keys all hashing to
	// a's partition would be one chance in 2^40, and the keys are fixed).
	var lines strings.Builder
	for i := range 40 {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(in, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.done:
		if err == nil || !strings.Contains(err.Error(), "index refused the batch for the test") {
			t.Fatalf("b stopped with %v, want its sink's failure", err)
		}
		b.done <- nil // for the cleanup
	case <-time.After(60 * time.Second):
		t.Fatalf("b did not fail within 60s; status from a: %+v\nb's logs:\n%s\na's logs:\n%s", a.status(t), b.logs.String(), a.logs.String())
	}
	failedAt := time.Now()
	awaitStatus(t, a, 10*time.Second, func(st opsapi.Status) string {
		if st.State != opsapi.StateFailed {
			return "state " + st.State
		}
		for _, r := range st.Replicas {
			if r.ID == idB && r.State == opsapi.StateFailed && strings.Contains(r.Error, "index refused the batch for the test") {
				return ""
			}
		}
		return "b not FAILED with its error"
	})
	awaitStatus(t, a, MinSessionTimeout+20*time.Second, func(st opsapi.Status) string {
		if len(st.Replicas) != 1 || st.Replicas[0].ID == idB || st.State != opsapi.StateRunning {
			return fmt.Sprintf("%d replicas, state %s", len(st.Replicas), st.State)
		}
		return ""
	})
	t.Logf("b's FAILED status gone %v after it failed (expiry %v)", time.Since(failedAt).Round(time.Millisecond), MinSessionTimeout)
}
