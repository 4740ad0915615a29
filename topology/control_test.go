package topology_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// controlPipeline is a file source (one task per input file) into a 2-partition topic, and a flow from
// the topic into a file sink.
func controlPipeline(t *testing.T, name string, inputs []string, out string) *topology.Topology {
	t.Helper()
	src, err := filesource.New(filesource.Config{Paths: inputs, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New(name)
	lines := tp.Topic(name+".lines", topology.Partitions(2), topology.ValueCodec("string"))
	tp.Source("files", src).To(lines)
	tp.Flow("copy").From(lines).To(sink)
	return tp
}

// controlReplica is one RunWith of a pipeline in the test process, with its own HTTP address and data dir.
type controlReplica struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *testkit.LogBuffer
}

func startControlReplica(t *testing.T, brokers []string, tp *topology.Topology) *controlReplica {
	t.Helper()
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	logs := &testkit.LogBuffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(w, nil))
	ctx, cancel := context.WithCancel(context.Background())
	r := &controlReplica{addr: cfg.HTTPAddr, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- tp.RunWith(ctx, cfg) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the replica's run and waits for RunWith to return nil.
func (r *controlReplica) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("RunWith: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("RunWith did not return within 60s of its context's end")
	}
	r.done = nil
}

// call sends an API request and returns the status code and body.
func (r *controlReplica) call(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	code, out, err := r.try(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, out
}

// try sends an API request and returns the status code and body, or why it got no answer.
func (r *controlReplica) try(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+r.addr+path, rd)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// expect sends a request and fails the test unless it is answered with code; it decodes the answer into
// into (when not nil).
func (r *controlReplica) expect(t *testing.T, method, path string, body any, code int, into any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, out := r.call(t, method, path, body)
		if got == http.StatusServiceUnavailable && code != got && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond) // the replica is starting: its commands topic is not read yet
			continue
		}
		if got != code {
			t.Fatalf("%s %s: %d %s, want %d", method, path, got, out, code)
		}
		if into != nil {
			if err := json.Unmarshal(out, into); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, out)
			}
		}
		return
	}
}

// awaitState polls r's status until r's own entry (its replica, found by its HTTP address) reports want.
func (r *controlReplica) awaitState(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	var last []byte
	for time.Now().Before(deadline) {
		code, out, err := r.try(http.MethodGet, "/pipelines/"+name+"/status", nil)
		last = out
		if err != nil { // not serving yet
			last = []byte(err.Error())
		}
		var st opsapi.Status
		if err == nil && code == http.StatusOK && json.Unmarshal(out, &st) == nil {
			for _, rs := range st.Replicas {
				if rs.HTTPAddr == r.addr && rs.State == want {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("replica at %s not %s within 40s; last status: %s", r.addr, want, last)
}

// awaitReplicas polls r's merged status until it lists n live replicas, each in state want.
func (r *controlReplica) awaitReplicas(t *testing.T, name string, n int, want string) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	var last []byte
	for time.Now().Before(deadline) {
		code, out, err := r.try(http.MethodGet, "/pipelines/"+name+"/status", nil)
		last = out
		var st opsapi.Status
		if err == nil && code == http.StatusOK && json.Unmarshal(out, &st) == nil && len(st.Replicas) == n {
			all := true
			for _, rs := range st.Replicas {
				all = all && rs.State == want
			}
			if all {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the status at %s does not show %d replicas %s within 40s; last: %s", r.addr, n, want, last)
}

// appender appends numbered lines to files, in turn, until stopped.
type appender struct {
	mu       sync.Mutex
	written  []string
	stopped  chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func appendLines(t *testing.T, files []string, prefix string, every time.Duration) *appender {
	a := &appender{stopped: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { a.stop() }) // before the test's directories go
	go func() {
		defer close(a.done)
		for i := 0; ; i++ {
			select {
			case <-a.stopped:
				return
			case <-time.After(every):
			}
			line := fmt.Sprintf("%s-%d", prefix, i)
			f, err := os.OpenFile(files[i%len(files)], os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			_, err = f.WriteString(line + "\n")
			f.Close()
			if err != nil {
				t.Error(err)
				return
			}
			a.mu.Lock()
			a.written = append(a.written, line)
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *appender) stop() []string {
	a.stopOnce.Do(func() { close(a.stopped) })
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.written...)
}

func (a *appender) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.written)
}

// writeInputs creates files with n lines each ("<file base>-<i>") and returns every line written.
func writeInputs(t *testing.T, files []string, n int) []string {
	t.Helper()
	var all []string
	for _, f := range files {
		var b strings.Builder
		for i := 0; i < n; i++ {
			line := fmt.Sprintf("%s-%d", filepath.Base(f), i)
			b.WriteString(line + "\n")
			all = append(all, line)
		}
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

// linesOf returns the lines of the files together.
func linesOf(files ...string) []string {
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// awaitLines waits until the files hold at least n lines together.
func awaitLines(t *testing.T, n int, timeout time.Duration, files ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(linesOf(files...)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("sink output has %d lines after %v, want %d", len(linesOf(files...)), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counts returns how often each line occurs.
func counts(lines []string) map[string]int {
	m := map[string]int{}
	for _, l := range lines {
		m[l]++
	}
	return m
}

// Pause on one replica stops both: while lines keep being appended to the inputs, neither the topic nor
// the sinks receive anything; resume on the other replica and every line arrives.
func TestControlPauseResumeOnTwoReplicas(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	inputs := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	initial := writeInputs(t, inputs, 50)
	outA, outB := filepath.Join(dir, "out-a.log"), filepath.Join(dir, "out-b.log")
	const name = "ctl-pause"
	a := startControlReplica(t, brokers, controlPipeline(t, name, inputs, outA))
	b := startControlReplica(t, brokers, controlPipeline(t, name, inputs, outB))
	awaitLines(t, len(initial), 45*time.Second, outA, outB)
	a.awaitState(t, name, opsapi.StateRunning)
	b.awaitState(t, name, opsapi.StateRunning)

	app := appendLines(t, inputs, "more", 10*time.Millisecond)
	var change opsapi.StateChange
	pausedAt := time.Now()
	a.expect(t, http.MethodPut, "/pipelines/"+name+"/pause", nil, http.StatusAccepted, &change)
	if change.Target != opsapi.StatePaused || change.Name != name {
		t.Errorf("pause answered %+v", change)
	}
	a.awaitState(t, name, opsapi.StatePaused)
	b.awaitState(t, name, opsapi.StatePaused)
	t.Logf("both replicas report PAUSED %v after the PUT", time.Since(pausedAt).Round(time.Millisecond))
	// Both replicas report PAUSED: from now on neither the topic nor the sinks grow for 3s, while the
	// inputs do.
	topicSize := func() int64 {
		var n int64
		for _, hwm := range testkit.HighWaterMarks(t, brokers, name+".lines") {
			n += hwm
		}
		return n
	}
	pausedOut, pausedTopic, appended := len(linesOf(outA, outB)), topicSize(), app.count()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got := len(linesOf(outA, outB)); got != pausedOut {
			t.Fatalf("paused, the sinks' output grew from %d to %d lines", pausedOut, got)
		}
		if got := topicSize(); got != pausedTopic {
			t.Fatalf("paused, the topic grew from %d to %d records", pausedTopic, got)
		}
	}
	if app.count()-appended < 100 {
		t.Fatalf("only %d lines appended in 3s: the test did not feed the paused pipeline", app.count()-appended)
	}
	t.Logf("paused: %d lines in the sinks, %d records in the topic, %d lines appended meanwhile", pausedOut, pausedTopic, app.count()-appended)

	resumedAt := time.Now()
	b.expect(t, http.MethodPut, "/pipelines/"+name+"/resume", nil, http.StatusAccepted, &change)
	a.awaitState(t, name, opsapi.StateRunning)
	b.awaitState(t, name, opsapi.StateRunning)
	more := app.stop()
	want := append(append([]string(nil), initial...), more...)
	awaitLines(t, len(want), 45*time.Second, outA, outB)
	t.Logf("every line in the sinks %v after the resume", time.Since(resumedAt).Round(time.Millisecond))
	got := counts(linesOf(outA, outB))
	for _, l := range want {
		if got[l] == 0 {
			t.Fatalf("line %q never reached the sinks", l)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the sinks hold %d distinct lines, want %d", len(got), len(want))
	}

	// Stop on one replica stops both: then (only then) offsets may change; resume on the other starts both.
	stoppedAt := time.Now()
	a.expect(t, http.MethodPut, "/pipelines/"+name+"/stop", nil, http.StatusAccepted, nil)
	a.awaitState(t, name, opsapi.StateStopped)
	b.awaitState(t, name, opsapi.StateStopped)
	t.Logf("both replicas STOPPED %v after the PUT", time.Since(stoppedAt).Round(time.Millisecond))
	b.awaitReplicas(t, name, 2, opsapi.StateStopped) // a's published status, as b reads it, says so too
	t.Logf("b's status shows both STOPPED %v after the PUT", time.Since(stoppedAt).Round(time.Millisecond))
	b.expect(t, http.MethodPatch, "/pipelines/"+name+"/offsets", `{"offsets":[]}`, http.StatusOK, nil)
	resumedAt = time.Now()
	b.expect(t, http.MethodPut, "/pipelines/"+name+"/resume", nil, http.StatusAccepted, nil)
	last := appendLines(t, inputs, "last", 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // a few lines appended while the processors start
	lastLines := last.stop()
	awaitLines(t, len(want)+len(lastLines), 60*time.Second, outA, outB)
	t.Logf("lines appended after the resume in the sinks %v after it", time.Since(resumedAt).Round(time.Millisecond))
}

// Offsets change only while every replica is STOPPED (409 before); a flow set back to offset 0 receives
// its topic again; a source task whose position is deleted reads its file again; DELETE resets all.
func TestControlOffsetsWhileStopped(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	lines := writeInputs(t, []string{in}, 40)
	const name = "ctl-offsets"
	r := startControlReplica(t, brokers, controlPipeline(t, name, []string{in}, out))
	awaitLines(t, len(lines), 45*time.Second, out)
	group, topic, path := name+".copy", name+".lines", "/pipelines/"+name+"/offsets"
	zero, one := int32(0), int32(1)
	setFlowToZero := opsapi.Offsets{Offsets: []opsapi.Offset{
		{Partition: opsapi.OffsetPartition{Kind: "flow", Group: group, Topic: topic, Partition: &zero}, Offset: json.RawMessage(`{"offset":0}`)},
		{Partition: opsapi.OffsetPartition{Kind: "flow", Group: group, Topic: topic, Partition: &one}, Offset: json.RawMessage(`{"offset":0}`)},
	}}

	var apiErr opsapi.Error
	r.expect(t, http.MethodPatch, path, setFlowToZero, http.StatusConflict, &apiErr)
	if apiErr.ErrorCode != http.StatusConflict || !strings.Contains(apiErr.Message, "stop it first (PUT /pipelines/"+name+"/stop)") {
		t.Errorf("PATCH while running: %+v", apiErr)
	}
	r.expect(t, http.MethodDelete, path, nil, http.StatusConflict, &apiErr)

	stoppedAt := time.Now()
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/stop", nil, http.StatusAccepted, nil)
	r.awaitState(t, name, opsapi.StateStopped)
	t.Logf("STOPPED %v after the PUT", time.Since(stoppedAt).Round(time.Millisecond))
	var got opsapi.Offsets
	r.expect(t, http.MethodGet, path, nil, http.StatusOK, &got)
	var committed int64
	var task string
	var position json.RawMessage
	for _, o := range got.Offsets {
		switch o.Partition.Kind {
		case "flow":
			var v struct{ Offset int64 }
			if err := json.Unmarshal(o.Offset, &v); err != nil {
				t.Fatalf("flow offset %s: %v", o.Offset, err)
			}
			committed += v.Offset
		case "source":
			task, position = o.Partition.Task, append(json.RawMessage(nil), o.Offset...) // got is decoded into again
			if !strings.Contains(string(o.Offset), "offset") {
				t.Errorf("source task %s: position %s", task, o.Offset)
			}
		}
	}
	if committed != int64(len(lines)) || task == "" {
		t.Fatalf("offsets while stopped: flow offsets sum to %d (want %d), source task %q:\n%+v", committed, len(lines), task, got)
	}

	// Malformed bodies: 400 naming the field.
	for body, field := range map[string]string{
		`{"offsets":"all"}`: "offsets",
		`{"offsets":[{"partition":{"kind":"flow","group":"` + group + `","topic":"` + topic + `","partition":0},"offset":{"offset":"zero"}}]}`: "offsets[0].offset",
		`{"offsets":[{"partition":{"kind":"flow","group":"` + group + `","topic":"` + topic + `","partition":7},"offset":{"offset":0}}]}`:      "offsets[0].partition.partition",
		`{"offsets":[{"partition":{"kind":"flow","group":"nope","topic":"` + topic + `","partition":0},"offset":null}]}`:                       "offsets[0].partition.group",
		`{"offsets":[{"partition":{"kind":"source","source":"files","task":"file:/nope"},"offset":null}]}`:                                     "offsets[0].partition.task",
		`{"offsets":[{"partition":{"kind":"table"},"offset":null}]}`:                                                                           "offsets[0].partition.kind",
		`{"offsets":[`: "body",
	} {
		r.expect(t, http.MethodPatch, path, body, http.StatusBadRequest, &apiErr)
		if !strings.Contains(apiErr.Message, field) {
			t.Errorf("PATCH %s: %q does not name %s", body, apiErr.Message, field)
		}
	}

	// The flow back to offset 0: the sink receives the topic again.
	r.expect(t, http.MethodPatch, path, setFlowToZero, http.StatusOK, nil)
	resumedAt := time.Now()
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/resume", nil, http.StatusAccepted, nil)
	awaitLines(t, 2*len(lines), 45*time.Second, out)
	t.Logf("the topic in the sink again %v after the resume", time.Since(resumedAt).Round(time.Millisecond))
	for l, n := range counts(linesOf(out)) {
		if n != 2 {
			t.Fatalf("after the flow's offsets went back to 0, line %q is in the output %d times, want 2", l, n)
		}
	}

	// The source task's position deleted: it reads its file again (and the flow carries it).
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/stop", nil, http.StatusAccepted, nil)
	r.awaitState(t, name, opsapi.StateStopped)
	r.expect(t, http.MethodPatch, path, opsapi.Offsets{Offsets: []opsapi.Offset{
		{Partition: opsapi.OffsetPartition{Kind: "source", Source: "files", Task: task}, Offset: json.RawMessage(`null`)},
	}}, http.StatusOK, nil)
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/resume", nil, http.StatusAccepted, nil)
	awaitLines(t, 3*len(lines), 45*time.Second, out)
	if n := len(testkit.ReadTopic(t, brokers, topic)); n != 2*len(lines) {
		t.Errorf("topic holds %d records after the task read its file again, want %d", n, 2*len(lines))
	}

	// DELETE resets everything: no source position, no committed offset.
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/stop", nil, http.StatusAccepted, nil)
	r.awaitState(t, name, opsapi.StateStopped)
	r.expect(t, http.MethodDelete, path, nil, http.StatusOK, nil)
	r.expect(t, http.MethodGet, path, nil, http.StatusOK, &got)
	for _, o := range got.Offsets {
		if o.Partition.Kind == "source" || string(o.Offset) != "null" {
			t.Errorf("after DELETE: %+v %s", o.Partition, o.Offset)
		}
	}
	if len(got.Offsets) != 2 {
		t.Errorf("after DELETE, GET lists %d offsets, want the flow's 2 partitions", len(got.Offsets))
	}

	// The task set to the start of line 30 (the file's position with another byte offset: 10 lines of 9
	// bytes, 20 of 10): it reads the last 10 lines again. The flow, its offsets deleted, reads the whole
	// topic again from its start.
	var pos map[string]any
	if err := json.Unmarshal(position, &pos); err != nil {
		t.Fatalf("position %s: %v", position, err)
	}
	pos["offset"] = 10*9 + 20*10
	line30, _ := json.Marshal(pos)
	r.expect(t, http.MethodPatch, path, opsapi.Offsets{Offsets: []opsapi.Offset{
		{Partition: opsapi.OffsetPartition{Kind: "source", Source: "files", Task: task}, Offset: line30},
	}}, http.StatusOK, nil)
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/resume", nil, http.StatusAccepted, nil)
	inTopic := 2*len(lines) + 10
	awaitLines(t, 3*len(lines)+inTopic, 45*time.Second, out)
	if n := len(testkit.ReadTopic(t, brokers, topic)); n != inTopic {
		t.Errorf("topic holds %d records after the task read from line 30, want %d", n, inTopic)
	}
	outCounts := counts(linesOf(out))
	for i, l := range lines {
		if want := 5 + i/30; outCounts[l] != want {
			t.Errorf("line %q is in the output %d times, want %d", l, outCounts[l], want)
		}
	}
}

// A replica restarted while the target state is PAUSED comes up PAUSED, and a restart of a flow, a source
// and a task leaves the pipeline working.
func TestControlRestartedReplicaComesUpPaused(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	lines := writeInputs(t, []string{in}, 20)
	const name = "ctl-restart"
	r := startControlReplica(t, brokers, controlPipeline(t, name, []string{in}, out))
	awaitLines(t, len(lines), 45*time.Second, out)
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/pause", nil, http.StatusAccepted, nil)
	r.awaitState(t, name, opsapi.StatePaused)
	r.stop(t)

	r = startControlReplica(t, brokers, controlPipeline(t, name, []string{in}, out))
	app := appendLines(t, []string{in}, "more", 10*time.Millisecond)
	r.awaitState(t, name, opsapi.StatePaused)
	before := len(linesOf(out))
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got := len(linesOf(out)); got != before {
			t.Fatalf("restarted while PAUSED, the sink's output grew from %d to %d lines", before, got)
		}
	}
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/resume", nil, http.StatusAccepted, nil)
	awaitLines(t, len(lines)+app.count(), 45*time.Second, out)

	var apiErr opsapi.Error
	r.expect(t, http.MethodPost, "/pipelines/"+name+"/restart?flow=nope", nil, http.StatusBadRequest, &apiErr)
	r.expect(t, http.MethodPost, "/pipelines/"+name+"/restart?source=files&task=file:/nope", nil, http.StatusBadRequest, &apiErr)
	for _, q := range []string{"?flow=copy", "?source=files", "?source=files&task=file:" + in, ""} {
		r.expect(t, http.MethodPost, "/pipelines/"+name+"/restart"+q, nil, http.StatusAccepted, nil)
		n := app.count()
		awaitLines(t, len(lines)+n, 45*time.Second, out) // still moving after the restart
	}
	more := app.stop()
	awaitLines(t, len(lines)+len(more), 45*time.Second, out)
	got := counts(linesOf(out))
	for _, l := range append(lines, more...) {
		if got[l] == 0 {
			t.Fatalf("line %q never reached the sink", l)
		}
	}

	// The last command on the topic is the restart of every processor: a replica started after it reads
	// it as history and does not restart anything.
	r.stop(t)
	r = startControlReplica(t, brokers, controlPipeline(t, name, []string{in}, out))
	r.awaitState(t, name, opsapi.StateRunning)
	awaitLines(t, len(lines)+len(more), 45*time.Second, out)
	if restarts := append(r.logs.Lines(`msg="restart requested"`), r.logs.Lines("msg=restarting")...); len(restarts) > 0 {
		t.Errorf("a replica started after a restart request carried it out:\n%s", strings.Join(restarts, "\n"))
	}
}

// The offsets of a stateful step's group are listed and set like a flow's: a keyed count set back to
// offset 0 on its input reads it again, and, as it applies each input record once, emits each key's latest
// count again without counting the key twice.
func TestControlOffsetsOfAStatefulStep(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	lines := writeInputs(t, []string{in}, 30)
	const name = "ctl-step"
	src, err := filesource.New(filesource.Config{Paths: []string{in}, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	count, err := stages.Count("counter")
	if err != nil {
		t.Fatal(err)
	}
	byLine := stages.Map("key-by-line", func(r stream.Record) (stream.Record, error) {
		r.Key = r.Value
		return r, nil
	})
	tp := topology.New(name)
	topic := tp.Topic(name+".lines", topology.Partitions(2), topology.ValueCodec("string"))
	tp.Source("files", src).To(topic)
	tp.Flow("count").From(topic).Via(byLine).Keyed(count).To(sink)
	r := startControlReplica(t, brokers, tp)
	awaitLines(t, len(lines), 45*time.Second, out)

	stepGroup, stepIn := name+".count.counter", name+".lines"
	var got opsapi.Offsets
	r.expect(t, http.MethodGet, "/pipelines/"+name+"/offsets", nil, http.StatusOK, &got) // in any state
	listed := map[string]int64{}
	for _, o := range got.Offsets {
		if o.Partition.Kind != "flow" {
			continue
		}
		var v struct{ Offset int64 }
		_ = json.Unmarshal(o.Offset, &v)
		listed[o.Partition.Group+" "+o.Partition.Topic] += v.Offset
	}
	if listed[stepGroup+" "+stepIn] != int64(len(lines)) || len(listed) != 2 {
		t.Fatalf("offsets of the flow and its step: %v, want %s on %s at %d in all, and the flow's group on the step's output", listed, stepGroup, stepIn, len(lines))
	}

	r.expect(t, http.MethodPut, "/pipelines/"+name+"/stop", nil, http.StatusAccepted, nil)
	r.awaitState(t, name, opsapi.StateStopped)
	zero, one := int32(0), int32(1)
	r.expect(t, http.MethodPatch, "/pipelines/"+name+"/offsets", opsapi.Offsets{Offsets: []opsapi.Offset{
		{Partition: opsapi.OffsetPartition{Kind: "flow", Group: stepGroup, Topic: stepIn, Partition: &zero}, Offset: json.RawMessage(`{"offset":0}`)},
		{Partition: opsapi.OffsetPartition{Kind: "flow", Group: stepGroup, Topic: stepIn, Partition: &one}, Offset: json.RawMessage(`{"offset":0}`)},
	}}, http.StatusOK, nil)
	r.expect(t, http.MethodPut, "/pipelines/"+name+"/resume", nil, http.StatusAccepted, nil)
	awaitLines(t, 2*len(lines), 45*time.Second, out)
	// The step reads its input again, but applies each record once (keyed.go): it emits each key's stored
	// latest output again rather than counting the key a second time.
	for l, n := range counts(linesOf(out)) {
		if n != 2 || !strings.Contains(l, `"count":1`) {
			t.Errorf("after the step's offsets went back to 0, %s is in the output %d times, want twice with count 1", l, n)
		}
	}
}
