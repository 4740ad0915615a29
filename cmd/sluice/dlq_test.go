package main

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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// Issue 14, acceptance 2: after the failing stage is fixed, `sluice dlq replay` moves every dead-lettered
// record to the sink (those a stage refused, and one the sink rejected, which the fixed stage now
// corrects: it re-enters before the stages); counts match at each step; a record that keeps failing is quarantined after the
// limit, with attempts = limit, and a later replay leaves it alone. The commands run through the CLI's
// own code (newRootCommand, as a user's shell would) against the running pipeline's operator API.
func TestDLQReplayAfterTheFix(t *testing.T) {
	const good, bad, limit = 20, 5, 3
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	brokers := testkit.Brokers(t, 1)
	suffix := time.Now().UnixNano()
	topic, dead, index := fmt.Sprintf("dlq-orders-%d", suffix), fmt.Sprintf("dlq-dead-%d", suffix), fmt.Sprintf("dlq-orders-%d", suffix)
	testkit.CreateTopic(t, brokers, topic, 2)
	// good records, bad ones (refused until the fix), one the index rejects (n is mapped as a number), and
	// one poison record the fix does not cover.
	testkit.ProduceN(t, brokers, topic, good+bad+2, func(i int) (string, string) {
		switch {
		case i == good+bad:
			return fmt.Sprintf("k%02d", i), `{"n":"twenty-five","kind":"mistyped"}`
		case i == good+bad+1:
			return fmt.Sprintf("k%02d", i), fmt.Sprintf(`{"n":%d,"kind":"poison"}`, i)
		case i%5 == 4:
			return fmt.Sprintf("k%02d", i), fmt.Sprintf(`{"n":%d,"kind":"bad"}`, i)
		}
		return fmt.Sprintf("k%02d", i), fmt.Sprintf(`{"n":%d,"kind":"good"}`, i)
	})
	req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/"+index, strings.NewReader(`{"mappings":{"properties":{"n":{"type":"long"}}}}`))
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("create index %s: %v %v", index, res, err)
	}

	var fixed atomic.Bool // "the user fixed the stage"
	check := stages.Map("check", func(r stream.Record) (stream.Record, error) {
		v, _ := r.Value.(map[string]any)
		switch v["kind"] {
		case "poison":
			return r, errors.New("the poison record is refused whatever the fix")
		case "bad":
			if !fixed.Load() {
				return r, errors.New("bad record refused until the fix")
			}
		case "mistyped":
			if fixed.Load() {
				v["n"] = "25" // the fix corrects it (a numeric string, which a long field takes); before, the index rejects it
			}
		}
		return r, nil
	})
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: index, ID: elasticsearch.DefaultID})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("dlqcli")
	tp.Flow("index").From(tp.Topic(topic, topology.ValueCodec("json"), topology.Partitions(2))).Via(check).
		To(sink, topology.BatchSize(10), topology.Linger(5*time.Millisecond)).DeadLetter(tp.Topic(dead))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	cfg.DLQMaxAttempts = limit
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()
	url := "http://" + cfg.HTTPAddr

	// dlq runs `sluice dlq ARGS... --url URL` and fails the test on an error.
	dlq := func(args ...string) string {
		t.Helper()
		out, err := run(t, context.Background(), append(append([]string{"dlq"}, args...), "--url", url)...)
		if err != nil {
			t.Fatalf("sluice dlq %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	summary := func() opsapi.DLQTopicCount {
		t.Helper()
		var s opsapi.DLQSummary
		if err := json.Unmarshal([]byte(dlq("list", "dlqcli", "-o", "json")), &s); err != nil || len(s.Topics) != 1 {
			t.Fatalf("dlq list -o json: %v %+v", err, s)
		}
		return s.Topics[0]
	}
	records := func(args ...string) []opsapi.DeadLetterRecord {
		t.Helper()
		var r opsapi.DLQRecords
		if err := json.Unmarshal([]byte(dlq(append([]string{"show", "dlqcli", "-o", "json"}, args...)...)), &r); err != nil {
			t.Fatalf("dlq show -o json: %v", err)
		}
		return r.Records
	}
	// waitFor polls cond (the pipeline works asynchronously) for up to a minute.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// Up: the API answers (503 and refused connections while the pipeline starts).
	waitFor("the operator API", func() bool {
		_, err := run(t, context.Background(), "dlq", "list", "dlqcli", "--url", url)
		return err == nil
	})

	waitFor(fmt.Sprintf("%d documents and %d dead letters", good, bad+2), func() bool {
		return esCount(t, srv.URL(), index) == good && summary().Records == bad+2
	})
	s := summary()
	if s.Pending != bad+2 || s.Done != 0 || s.Quarantined != 0 || s.ByStage["check"] != bad+1 || s.ByStage["sink"] != 1 ||
		s.ByClass["stage"] != bad+1 || s.ByClass["rejected"] != 1 {
		t.Fatalf("before the fix: %+v", s)
	}
	if out := dlq("list", "dlqcli"); !strings.Contains(out, dead) || !strings.Contains(out, "check=6 sink=1") || !strings.Contains(out, "quarantined after 3 attempts") {
		t.Fatalf("dlq list printed:\n%s", out)
	}
	recs := records()
	for _, r := range recs {
		if r.Value != nil || r.State != opsapi.DeadLetterPending || r.Attempts != 1 || (r.Stage != "check" && r.Stage != "sink") || r.Flow != "index" || r.OriginTopic != topic {
			t.Fatalf("dead letter before the fix: %+v", r)
		}
	}
	if out := dlq("show", "dlqcli", "--error", "POISON"); !strings.Contains(out, "k26") || !strings.Contains(out, "1 dead letters") || strings.Contains(out, `"kind"`) {
		t.Fatalf("dlq show --error POISON printed (no value without --values):\n%s", out)
	}
	if out := dlq("show", "dlqcli", "--error", "poison", "--values"); !strings.Contains(out, `"kind":"poison"`) {
		t.Fatalf("dlq show --values printed:\n%s", out)
	}

	fixed.Store(true)
	out := dlq("replay", "dlqcli", "--wait")
	t.Logf("sluice dlq replay dlqcli --wait:\n%s", out)
	if !strings.Contains(out, fmt.Sprintf("%d dead letters re-injected", bad+2)) ||
		!strings.Contains(out, fmt.Sprintf("finished: %d written by the sink, 1 failed again (0 of them now quarantined)", bad+1)) {
		t.Fatalf("first replay printed:\n%s\n%s", out, dlq("show", "dlqcli"))
	}
	if n := esCount(t, srv.URL(), index); n != good+bad+1 {
		t.Fatalf("after the first replay the index holds %d documents, want %d", n, good+bad+1)
	}
	if doc := esGet(t, srv.URL(), index, "k25"); doc["n"] != "25" || doc["kind"] != "mistyped" {
		t.Fatalf("the rejected record after the replay: %v", doc)
	}
	if s := summary(); s.Records != bad+3 || s.Pending != 1 || s.Replaying != 0 || s.Done != bad+1 || s.FailedAgain != 1 || s.Quarantined != 0 {
		t.Fatalf("after the first replay: %+v", s)
	}
	again := records("--error", "poison")
	if len(again) != 2 || again[1].Attempts != 2 || again[1].Replaces == "" || again[0].SupersededBy == "" || again[1].FirstFailure != again[0].FirstFailure {
		t.Fatalf("the poison record after one replay: %+v", again)
	}

	out = dlq("replay", "dlqcli", "--wait")
	if !strings.Contains(out, "1 dead letters re-injected") || !strings.Contains(out, "0 written by the sink, 1 failed again (1 of them now quarantined)") {
		t.Fatalf("second replay printed:\n%s", out)
	}
	t.Logf("second replay:\n%s", out)
	t.Logf("sluice dlq list dlqcli:\n%s", dlq("list", "dlqcli"))
	t.Logf("sluice dlq show dlqcli --error poison:\n%s", dlq("show", "dlqcli", "--error", "poison"))
	s = summary()
	if s.Records != bad+4 || s.Pending != 0 || s.Done != bad+1 || s.FailedAgain != 2 || s.Quarantined != 1 {
		t.Fatalf("after the second replay: %+v", s)
	}
	q := records("--error", "poison")
	if last := q[len(q)-1]; last.State != opsapi.DeadLetterQuarantined || last.Attempts != limit {
		t.Fatalf("the poison record after two replays: %+v", last)
	}
	out = dlq("replay", "dlqcli", "--wait")
	if !strings.Contains(out, "0 dead letters re-injected (left alone: quarantined=1)") {
		t.Fatalf("a replay after the quarantine printed:\n%s", out)
	}
	if n := esCount(t, srv.URL(), index); n != good+bad+1 {
		t.Fatalf("in the end the index holds %d documents, want %d", n, good+bad+1)
	}
}

// esGet returns the _source of document id.
func esGet(t *testing.T, base, index, id string) map[string]any {
	t.Helper()
	res, err := http.Get(base + "/" + index + "/_doc/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Source map[string]any `json:"_source"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Source
}

// esCount refreshes index and returns its document count.
func esCount(t *testing.T, base, index string) int {
	t.Helper()
	res, err := http.Post(base+"/"+index+"/_refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = http.Get(base + "/" + index + "/_count")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct {
		Count int `json:"count"`
	}
	if res.StatusCode != http.StatusOK {
		return -1
	}
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Count
}

// A source's dead letters (an ETL stage refused them before Kafka) are replayed through the source's
// stages into the source's topic, and from there reach the sink like any record; one that keeps failing
// is quarantined after the limit.
func TestDLQReplaySourceRecords(t *testing.T) {
	const good, bad, limit = 8, 3, 2
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	brokers := testkit.Brokers(t, 1)
	suffix := time.Now().UnixNano()
	dir := t.TempDir()
	var lines strings.Builder
	for i := range good + bad + 1 {
		kind := "good"
		switch {
		case i == good+bad:
			kind = "poison"
		case i >= good:
			kind = "bad"
		}
		fmt.Fprintf(&lines, `{"id":%d,"kind":%q}`+"\n", i, kind)
	}
	path := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(path, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := file.New(file.Config{Paths: []string{path}, Format: file.JSONLines})
	if err != nil {
		t.Fatal(err)
	}
	byID, err := stages.ValueToKey("key", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	var fixed atomic.Bool
	check := stages.Map("check", func(r stream.Record) (stream.Record, error) {
		v, _ := r.Value.(map[string]any)
		if v["kind"] == "poison" || (v["kind"] == "bad" && !fixed.Load()) {
			return r, fmt.Errorf("%v record refused", v["kind"])
		}
		return r, nil
	})
	index := fmt.Sprintf("dlq-src-%d", suffix)
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: index, ID: elasticsearch.DefaultID})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New(fmt.Sprintf("dlqsrc%d", suffix))
	records := tp.Topic(fmt.Sprintf("dlq-src-records-%d", suffix), topology.KeyCodec("json"))
	tp.Source("lines", src).Via(byID, check).To(records).DeadLetter(tp.Topic(fmt.Sprintf("dlq-src-dead-%d", suffix), topology.KeyCodec("json")))
	tp.Flow("index").From(records).To(sink, topology.BatchSize(10), topology.Linger(5*time.Millisecond))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	cfg.DLQMaxAttempts = limit
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	const adminToken, readerToken = "admin-token-0123456789", "reader-token-0123456789"
	cfg.APITokensFile = filepath.Join(dir, "tokens")
	if err := os.WriteFile(cfg.APITokensFile, []byte("ops admin "+adminToken+"\nviewer read-only "+readerToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stop func()
	start := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tp.RunWith(ctx, cfg) }()
		stop = func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("RunWith: %v", err)
			}
		}
	}
	start()
	defer func() { stop() }()
	c := &opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr, Token: adminToken}
	name := fmt.Sprintf("dlqsrc%d", suffix)
	count := func() opsapi.DLQTopicCount {
		t.Helper()
		s, err := c.DLQ(context.Background(), name)
		if err != nil || len(s.Topics) != 1 {
			t.Fatalf("GET dlq: %v %+v", err, s)
		}
		return s.Topics[0]
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		s, err := c.DLQ(context.Background(), name)
		if err == nil && len(s.Topics) == 1 && s.Topics[0].Records == bad+1 && esCount(t, srv.URL(), index) == good {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d documents and %d dead letters: %+v %v", good, bad+1, s, err)
		}
	}
	if s := count(); s.Pending != bad+1 || s.ByStage["check"] != bad+1 {
		t.Fatalf("before the fix: %+v", s)
	}
	// The values are the user's data: only with ?values=true, and only for an admin token.
	reader := &opsapi.Client{BaseURL: c.BaseURL, Token: readerToken}
	if recs, err := reader.DLQRecords(context.Background(), name, opsapi.DLQFilter{}, false); err != nil || len(recs.Records) != bad+1 || recs.Records[0].Value != nil {
		t.Fatalf("records for a read-only token: %v %+v", err, recs)
	}
	if _, err := reader.DLQRecords(context.Background(), name, opsapi.DLQFilter{}, true); err == nil || !strings.Contains(err.Error(), "need an admin token") {
		t.Fatalf("values for a read-only token: %v", err)
	}
	if _, err := reader.DLQReplay(context.Background(), name, opsapi.DLQFilter{}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("replay with a read-only token: %v", err)
	}
	if recs, err := c.DLQRecords(context.Background(), name, opsapi.DLQFilter{Limit: 1}, true); err != nil || len(recs.Records) != 1 || recs.Records[0].Value == nil || !strings.Contains(*recs.Records[0].Value, `"kind":"bad"`) {
		t.Fatalf("values for the admin token: %v %+v", err, recs)
	}
	for _, f := range []opsapi.DLQFilter{{Since: time.Now().Add(time.Hour)}, {Until: time.Now().Add(-time.Hour)}, {Stage: "decode"}, {Error: "no such reason"}} {
		if recs, err := c.DLQRecords(context.Background(), name, f, false); err != nil || len(recs.Records) != 0 {
			t.Fatalf("filter %+v selected %v %+v", f, err, recs)
		}
	}
	if _, err := c.DLQRecords(context.Background(), name, opsapi.DLQFilter{Topic: "nosuch"}, false); err == nil || !strings.Contains(err.Error(), `has no dead-letter topic "nosuch"`) {
		t.Fatalf("an unknown topic: %v", err)
	}

	fixed.Store(true)
	out, err := run(t, context.Background(), "dlq", "replay", name, "--wait", "--url", c.BaseURL, "--token", adminToken)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d dead letters re-injected", bad+1)) ||
		!strings.Contains(out, fmt.Sprintf("finished: %d written by the sink, 1 failed again (1 of them now quarantined)", bad)) {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(time.Minute); esCount(t, srv.URL(), index) != good+bad; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the index holds %d documents, want %d", esCount(t, srv.URL(), index), good+bad)
		}
	}
	if s := count(); s.Records != bad+2 || s.Pending != 0 || s.Done != bad || s.FailedAgain != 1 || s.Quarantined != 1 {
		t.Fatalf("after the replay: %+v", s)
	}
	recs, err := c.DLQRecords(context.Background(), name, opsapi.DLQFilter{Error: "poison"}, false)
	if err != nil || len(recs.Records) != 2 {
		t.Fatalf("the poison record's dead letters: %v %+v", err, recs)
	}
	if last := recs.Records[1]; last.State != opsapi.DeadLetterQuarantined || last.Attempts != limit || last.Source != "lines" || last.Position == "" {
		t.Fatalf("the poison record after the replay: %+v", last)
	}

	// A restart agrees: the states live in Kafka.
	before := count()
	stop()
	start()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := c.DLQ(context.Background(), name); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the restarted pipeline's API: %v", err)
		}
	}
	if after := count(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after a restart the counts are %+v, were %+v", after, before)
	}
	res, err := c.DLQReplay(context.Background(), name, opsapi.DLQFilter{})
	if err != nil || res.Selected != 0 || res.Skipped["quarantined"] != 1 {
		t.Fatalf("a replay after the restart: %v %+v", err, res)
	}
}
