package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// buildSluice builds this command into a temporary directory, as a user installs it.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cliResult is what one run of the binary printed and how it exited.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// sluice runs the binary with args (and env added to the test's environment) and waits for it, at most a
// minute.
func sluice(t *testing.T, bin string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("sluice %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// waitFor polls cond every 200ms until it returns "" (met), failing the test with its last answer after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		last := cond()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", d, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The built binary against a running pipeline (a file source into a file sink over a 2-partition topic,
// operator API on a free port): pipelines, status (table and -o json), topics, tail, pause and resume, and
// the API's refusals printed as its message with exit status 1.
func TestCLIAgainstRunningPipeline(t *testing.T) {
	bin := buildSluice(t)
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	var lines strings.Builder
	for i := range 10 {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(in, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	const name = "cli-api"
	tp := topology.New(name)
	topic := tp.Topic("cli-lines", topology.ValueCodec("string"), topology.Partitions(2))
	tp.Source("files", src).To(topic)
	tp.Flow("out").From(topic).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), filepath.Join(dir, "data")
	logs := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs.String())
		}
	}()
	outLines := func() int { // the sink's lines; 0 before it created the file
		data, _ := os.ReadFile(out)
		return bytes.Count(data, []byte("\n"))
	}
	waitFor(t, 60*time.Second, "the 10 lines at the sink", func() string {
		if n := outLines(); n != 10 {
			return fmt.Sprintf("%d lines", n)
		}
		return ""
	})

	api := []string{"--url", "http://" + cfg.HTTPAddr}
	task := "file:" + in

	// status -o json: the API's Status; the task and both partitions once the replica published them.
	var st opsapi.Status
	waitFor(t, 60*time.Second, "status RUNNING with the task and 2 partitions", func() string {
		r := sluice(t, bin, nil, append([]string{"status", name, "-o", "json"}, api...)...)
		if r.code != 0 {
			return r.String()
		}
		st = opsapi.Status{}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status -o json is not the API's JSON: %v\n%s", err, r.stdout)
		}
		if st.State != opsapi.StateRunning || len(st.Tasks) != 1 || len(st.Partitions) != 2 {
			return r.stdout
		}
		return ""
	})
	if got := st.Tasks[0]; got.Source != "files" || got.Task != task || got.State != opsapi.StateRunning || got.Replica == "" {
		t.Errorf("status task = %+v, want source files, task %s, RUNNING with a replica", got, task)
	}
	for _, p := range st.Partitions {
		if p.Flow != "out" || p.Topic != "cli-lines" || p.Replica == "" {
			t.Errorf("status partition = %+v, want flow out on cli-lines with a replica", p)
		}
	}

	// status as a table.
	r := sluice(t, bin, nil, append([]string{"status", name}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pipeline cli-api: RUNNING") || !strings.Contains(r.stdout, task) ||
		!regexpMatch(`(?m)^files\s+\S+\s+RUNNING\s`, r.stdout) || !regexpMatch(`(?m)^out\s+-\s+cli-lines\s+0\s`, r.stdout) {
		t.Errorf("status table:\n%s", r)
	}

	// pipelines: a table with the state; -o json the API's list of names.
	r = sluice(t, bin, nil, append([]string{"pipelines"}, api...)...)
	if r.code != 0 || !regexpMatch(`(?m)^NAME\s+STATE\s+REPLICAS\s+TASKS\s+PARTITIONS\s*$`, r.stdout) ||
		!regexpMatch(`(?m)^cli-api\s+RUNNING\s+1\s+1\s+2\s*$`, r.stdout) {
		t.Errorf("pipelines:\n%s", r)
	}
	r = sluice(t, bin, nil, append([]string{"pipelines", "-o", "json"}, api...)...)
	var names []string
	if err := json.Unmarshal([]byte(r.stdout), &names); r.code != 0 || err != nil || len(names) != 1 || names[0] != name {
		t.Errorf("pipelines -o json: %v\n%s", err, r)
	}
	var direct json.RawMessage // -o json prints the API's answer as it is
	if err := (&opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr}).Do(ctx, "GET", "/pipelines", nil, nil, &direct); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(r.stdout)); err != nil || compact.String() != string(bytes.TrimSpace(direct)) {
		t.Errorf("pipelines -o json printed %s, the API answered %s", r.stdout, direct)
	}

	// topics: the data topic with its partitions and records.
	kafkaArgs := []string{"--brokers", strings.Join(brokers, ",")}
	r = sluice(t, bin, nil, append([]string{"topics"}, kafkaArgs...)...)
	if r.code != 0 || !regexpMatch(`(?m)^cli-lines\s+2\s+10\s`, r.stdout) {
		t.Errorf("topics:\n%s", r)
	}
	r = sluice(t, bin, nil, append([]string{"topics", "-o", "json"}, kafkaArgs...)...)
	var topics []topicInfo
	if err := json.Unmarshal([]byte(r.stdout), &topics); r.code != 0 || err != nil {
		t.Fatalf("topics -o json: %v\n%s", err, r)
	}
	found := false
	for _, ti := range topics {
		if ti.Name == "cli-lines" {
			found = true
			if ti.Partitions != 2 || ti.Records != 10 || ti.Bytes == nil || *ti.Bytes <= 0 {
				t.Errorf("topics -o json: cli-lines = %+v, want 2 partitions, 10 records, a size", ti)
			}
		}
	}
	if !found {
		t.Errorf("topics -o json has no cli-lines:\n%s", r.stdout)
	}

	// tail: the first five records' values, in order (one file: one key, one partition).
	r = sluice(t, bin, nil, append([]string{"tail", "cli-lines", "-n", "5", "--from", "beginning"}, kafkaArgs...)...)
	got := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(got) != 5 {
		t.Fatalf("tail -n 5:\n%s", r)
	}
	for i, l := range got {
		if !regexpMatch(fmt.Sprintf(`^\d@%d  key=%s  line %d$`, i, regexpQuote(in), i), l) {
			t.Errorf("tail line %d = %q, want partition@%d, key %s, value \"line %d\"", i, l, i, in, i)
		}
	}
	r = sluice(t, bin, nil, append([]string{"tail", "cli-lines", "-n", "1", "-o", "json"}, kafkaArgs...)...)
	var rec tailRecord
	if err := json.Unmarshal([]byte(r.stdout), &rec); r.code != 0 || err != nil || string(rec.Value) != `"line 0"` ||
		string(rec.Key) != fmt.Sprintf("%q", in) || rec.Offset != 0 {
		t.Errorf("tail -o json: %v\n%s", err, r)
	}

	// pause: the answer, then PAUSED in the status; lines appended meanwhile do not reach the sink.
	r = sluice(t, bin, nil, append([]string{"pause", name}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pipeline cli-api: every replica moves to PAUSED") {
		t.Fatalf("pause:\n%s", r)
	}
	waitFor(t, 30*time.Second, "status PAUSED", func() string {
		r := sluice(t, bin, nil, append([]string{"status", name, "-o", "json"}, api...)...)
		var st opsapi.Status
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.State != opsapi.StatePaused {
			return r.String()
		}
		return ""
	})
	appendLines(t, in, 10, 5)
	r = sluice(t, bin, nil, append([]string{"status", name}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pipeline cli-api: PAUSED") {
		t.Errorf("status table while paused:\n%s", r)
	}
	// Absence can only be watched for a while: 2 s in which the sink must not grow (the pause itself is
	// tested on two replicas in topology's control tests).
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n := outLines(); n != 10 {
			t.Fatalf("the sink has %d lines while paused, want 10", n)
		}
	}

	// resume: RUNNING again, and the lines written while paused arrive.
	r = sluice(t, bin, nil, append([]string{"resume", name}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pipeline cli-api: every replica moves to RUNNING") {
		t.Fatalf("resume:\n%s", r)
	}
	waitFor(t, 60*time.Second, "RUNNING and 15 lines at the sink after resume", func() string {
		r := sluice(t, bin, nil, append([]string{"status", name, "-o", "json"}, api...)...)
		var st opsapi.Status
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.State != opsapi.StateRunning {
			return r.String()
		}
		if n := outLines(); n != 15 {
			return fmt.Sprintf("%d lines", n)
		}
		return ""
	})

	// offsets get: the source task's position and the flow's partitions.
	r = sluice(t, bin, nil, append([]string{"offsets", "get", name}, api...)...)
	if r.code != 0 || !regexpMatch(`(?m)^source\s+files\s+`+regexpQuote(task)+`\s`, r.stdout) ||
		!regexpMatch(`(?m)^flow\s+cli-api\.out\s+cli-lines\s+0\s`, r.stdout) {
		t.Errorf("offsets get:\n%s", r)
	}

	// The API's refusals: its message on stderr, exit status 1.
	r = sluice(t, bin, nil, append([]string{"offsets", "set", name, "--group", "cli-api.out", "--topic", "cli-lines",
		"--partition", "0", "--offset", "0"}, api...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "stop it first") || !strings.Contains(r.stderr, "(409)") {
		t.Errorf("offsets set while running, want the 409's message and exit 1:\n%s", r)
	}
	r = sluice(t, bin, nil, append([]string{"status", "nope"}, api...)...)
	if r.code != 1 || !strings.Contains(r.stderr, `sluice: no pipeline "nope" here`) {
		t.Errorf("status of an unknown pipeline, want the 404's message and exit 1:\n%s", r)
	}

	// stop --wait returns once STOPPED; the flow's offset set back by 5 while stopped; resume --wait: the
	// last 5 lines arrive again.
	r = sluice(t, bin, nil, append([]string{"stop", name, "--wait"}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pipeline cli-api: STOPPED on every replica") {
		t.Fatalf("stop --wait:\n%s", r)
	}
	r = sluice(t, bin, nil, append([]string{"offsets", "get", name, "-o", "json"}, api...)...)
	var offs opsapi.Offsets
	if err := json.Unmarshal([]byte(r.stdout), &offs); r.code != 0 || err != nil {
		t.Fatalf("offsets get -o json: %v\n%s", err, r)
	}
	partition := int32(-1)
	for _, o := range offs.Offsets {
		if o.Partition.Kind == "flow" && o.Partition.Group == "cli-api.out" && flowOffsetText(o.Offset) == "15" {
			partition = *o.Partition.Partition
		}
	}
	if partition < 0 {
		t.Fatalf("offsets get -o json has no flow partition at offset 15:\n%s", r.stdout)
	}
	r = sluice(t, bin, nil, append([]string{"offsets", "set", name, "--group", "cli-api.out", "--topic", "cli-lines",
		"--partition", fmt.Sprint(partition), "--offset", "10"}, api...)...)
	if r.code != 0 {
		t.Fatalf("offsets set while stopped:\n%s", r)
	}
	r = sluice(t, bin, nil, append([]string{"resume", name, "--wait"}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pipeline cli-api: RUNNING on every replica") {
		t.Fatalf("resume --wait:\n%s", r)
	}
	waitFor(t, 60*time.Second, "the last 5 lines again at the sink", func() string {
		if n := outLines(); n != 20 {
			return fmt.Sprintf("%d lines", n)
		}
		return ""
	})
	if got := testkit.ReadLines(t, out)[15:]; strings.Join(got, ",") != "line 10,line 11,line 12,line 13,line 14" {
		t.Errorf("the sink's lines after the offset moved back: %q", got)
	}
}

func appendLines(t *testing.T, path string, from, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < from+n; i++ {
		if _, err := fmt.Fprintf(f, "line %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

// Commands fail before any network call when their flags are wrong, naming the flag.
func TestCLIFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "p", "-o", "yaml"}, "-o/--output"},
		{[]string{"status", "p", "--url", "ftp://x"}, "--url"},
		{[]string{"restart", "p", "--task", "t"}, "--task needs --source"},
		{[]string{"restart", "p", "--flow", "f", "--source", "s"}, "--flow and --source"},
		{[]string{"offsets", "set", "p"}, "say what to set"},
		{[]string{"offsets", "set", "p", "--source", "s", "--task", "t", "--position", "{x"}, "--position"},
		{[]string{"offsets", "set", "p", "--group", "g", "--topic", "x", "--partition", "0", "--offset", "-3"}, "--offset"},
		{[]string{"tail", "x", "--codec", "yaml"}, "--codec"},
		{[]string{"tail", "x", "--from", "middle"}, "--from"},
		{[]string{"topics", "--brokers", ""}, "--brokers"},
	} {
		_, err := run(t, context.Background(), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sluice %s: err = %v, want one naming %s", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// The API client's errors reach the user as the API's message and status.
func TestErrorText(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &opsapi.Error{ErrorCode: 409, Message: "pipeline p is RUNNING on replica r: stop it first"})
	if got := errorText(err); got != "pipeline p is RUNNING on replica r: stop it first (409)" {
		t.Errorf("errorText = %q", got)
	}
	if got := errorText(io.EOF); got != "EOF" {
		t.Errorf("errorText = %q", got)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }

// tail -f prints the records already there and then new ones as they arrive, with their headers, until
// SIGINT, which ends it with status 0.
func TestTailFollow(t *testing.T) {
	bin := buildSluice(t)
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "follow", 2)
	produce := func(from, n int) {
		for i := from; i < from+n; i++ {
			testkit.Produce(t, brokers, "follow", testkit.Message{Partition: int32(i % 2), Key: []byte(fmt.Sprintf("k%d", i)),
				Value: []byte(fmt.Sprintf(`{"i":%d}`, i)), Headers: []stream.Header{{Key: "origin", Value: []byte("test run")}}})
		}
	}
	produce(0, 2)
	cmd := exec.Command(bin, "tail", "follow", "-f", "--codec", "json", "--key-codec", "string", "--brokers", strings.Join(brokers, ","))
	out := &testkit.LogBuffer{}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	lines := func(n int) func() string {
		return func() string {
			if got := strings.Count(out.String(), "\n"); got != n {
				return fmt.Sprintf("%d lines: %s", got, out.String())
			}
			return ""
		}
	}
	waitFor(t, 30*time.Second, "the 2 records already there", lines(2))
	produce(2, 2)
	waitFor(t, 30*time.Second, "the 2 new records", lines(4))
	for i := range 4 {
		want := fmt.Sprintf(`(?m)^%d@%d  key=k%d  {"i":%d}  headers: origin="test run"$`, i%2, i/2, i, i)
		if !regexpMatch(want, out.String()) {
			t.Errorf("tail -f printed:\n%s\nwant a line matching %s", out.String(), want)
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("tail -f after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tail -f still running 30s after SIGINT")
	}
}

// What the commands send: offsets set --file PATCHes the file's offsets, restart passes its target as
// query parameters (checked against a recording server; the real endpoints are exercised above).
func TestCommandsSendWhatTheySay(t *testing.T) {
	type request struct{ method, path, query, body string }
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- request{r.Method, r.URL.Path, r.URL.RawQuery, string(b)}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"name":"p","target":"RUNNING","message":"ok"}`)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "offsets.json")
	body := `{"offsets":[{"partition":{"kind":"source","source":"files","task":"file:/a"},"offset":null}]}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, context.Background(), "offsets", "set", "p", "--file", file, "--url", srv.URL); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.method != http.MethodPatch || r.path != "/pipelines/p/offsets" || r.body != body {
		t.Errorf("offsets set --file sent %+v, want PATCH /pipelines/p/offsets with %s", r, body)
	}
	out, err := run(t, context.Background(), "restart", "p", "--source", "files", "--task", "file:/a", "--url", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.method != http.MethodPost || r.path != "/pipelines/p/restart" || r.query != "source=files&task=file%3A%2Fa" {
		t.Errorf("restart sent %+v", r)
	}
	if out != "pipeline p: every replica moves to RUNNING (ok)\n" {
		t.Errorf("restart printed %q", out)
	}
}
