package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/topology"
)

// Issue 14, acceptance 3: reprocess data found bad days later. A topic holds records whose producer
// timestamps spread over the last five days (several versions per key, some deletes); a live pipeline
// builds an Elasticsearch index from it (document versions are the records' offsets, external), and the
// test takes the index as it is (every document with its _version and _source).
//
// The damage: the search cluster lost the index and the operator restored the snapshot taken three days
// ago, the realistic "found bad days later" whose repair is a rewind. The test recreates the index with
// the live mappings and writes into it what it held at that time (per key, the last record before
// now-3 days, with its version), which also drops the tombstones of documents deleted since: a repair that
// deleted documents by hand instead leaves tombstones at versions above the replayed records', which
// Elasticsearch keeps for index.gc_deletes (60 s) and refuses older writes against (409): a test cannot
// wait for them to go. A replay over documents a buggy stage wrote at the same versions is refused for good;
// those need `sluice rebuild` (a new index), not a rewind.
//
// Then through the CLI as an operator would: `sluice rewind` is refused while the pipeline runs,
// `sluice stop --wait`, `sluice rewind --to-time now-3d --dry-run` (commits nothing), `sluice rewind`,
// `sluice resume`; once the flow caught up again the index equals the live one: same ids, same sources,
// same versions. The new offsets printed are, per partition, the first record at or after the time.
func TestRewindToTimestampRebuildsIndex(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const (
		pipeline = "rewind"
		index    = "rw-orders"
		keys     = 60
		records  = 600
	)
	brokers := testkit.Brokers(t, 1)
	topic := fmt.Sprintf("rewind-%d.orders", time.Now().UnixNano())
	testkit.CreateTopic(t, brokers, topic, 3)
	now := time.Now().Truncate(time.Millisecond)
	start, step := now.Add(-5*24*time.Hour), 5*24*time.Hour/records // one record every 12 minutes
	msgs := make([]testkit.Message, records)
	for i := range msgs {
		key := fmt.Sprintf("k%02d", (i*7)%keys)
		msgs[i] = testkit.Message{Partition: -1, Key: []byte(key), Timestamp: start.Add(time.Duration(i) * step)}
		if i%23 != 22 { // every 23rd record deletes its key
			msgs[i].Value = []byte(fmt.Sprintf(`{"key":%q,"n":%d,"at":%q}`, key, i, msgs[i].Timestamp.UTC().Format(time.RFC3339)))
		}
	}
	testkit.Produce(t, brokers, topic, msgs...)

	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: index, ID: elasticsearch.DefaultID})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New(pipeline)
	tp.Flow("index").From(tp.Topic(topic, topology.ValueCodec("json"), topology.Partitions(3))).To(sink, topology.BatchSize(100))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	logs := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs.String())
		}
	}()
	api := "http://" + cfg.HTTPAddr
	group := pipeline + ".index"
	caughtUp := func() bool {
		hw := testkit.HighWaterMarks(t, brokers, topic)
		committed := testkit.CommittedOffsets(t, brokers, group, topic)
		for p, end := range hw {
			if committed[p] < end {
				return false
			}
		}
		return true
	}
	waitForPipeline(t, done, "the live flow indexed the topic", caughtUp)
	esDo(t, srv.URL(), http.MethodPost, "/"+index+"/_refresh", "")
	keySet := map[string]bool{}
	for _, m := range msgs {
		keySet[string(m.Key)] = true
	}
	live := indexSnapshot(t, srv.URL(), index, keySet)
	if len(live) < keys/2 {
		t.Fatalf("the live index holds %d documents", len(live))
	}

	// Refused while the pipeline runs.
	cut := now.Add(-3 * 24 * time.Hour)
	_, err = run(t, context.Background(), "rewind", pipeline, "--flow", "index", "--to-time", cut.UTC().Format(time.RFC3339Nano), "--url", api)
	if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("rewind of a running pipeline: %v", err)
	}
	if out, err := run(t, context.Background(), "stop", pipeline, "--wait", "--url", api); err != nil {
		t.Fatalf("sluice stop: %v\n%s", err, out)
	}

	// The restore of the snapshot taken three days ago: per key, the last record before the cut.
	topicRecords := testkit.ReadTopic(t, brokers, topic)
	if len(topicRecords) != records {
		t.Fatalf("topic holds %d records, want %d", len(topicRecords), records)
	}
	mapping := esDo(t, srv.URL(), http.MethodGet, "/"+index+"/_mapping", "")
	var mappings map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal(mapping, &mappings); err != nil {
		t.Fatalf("mapping %s: %v", mapping, err)
	}
	esDo(t, srv.URL(), http.MethodDelete, "/"+index, "")
	esDo(t, srv.URL(), http.MethodPut, "/"+index, fmt.Sprintf(`{"mappings":%s}`, mappings[index].Mappings))
	before := map[string]testkit.Message{}
	wantNew := map[int32]int64{}
	for _, m := range topicRecords {
		if m.Timestamp.Before(cut) {
			before[string(m.Key)] = m
			wantNew[m.Partition] = m.Offset + 1
		}
	}
	var bulk strings.Builder
	restored := 0
	for key, m := range before {
		if m.Value == nil {
			continue
		}
		fmt.Fprintf(&bulk, `{"index":{"_id":%q,"version":%d,"version_type":"external"}}`+"\n%s\n", key, m.Offset, m.Value)
		restored++
	}
	esDo(t, srv.URL(), http.MethodPost, "/"+index+"/_bulk?refresh=true", bulk.String())
	if damaged := indexSnapshot(t, srv.URL(), index, keySet); equalSnapshots(damaged, live) == "" {
		t.Fatalf("the restored three-day-old index (%d documents) equals the live one: nothing to repair", restored)
	}

	// Bad requests name the field; an unknown flow is 404.
	committedBefore := testkit.CommittedOffsets(t, brokers, group, topic)
	for _, bad := range []struct {
		flow, body string
		status     int
		want       string
	}{
		{"index", `{"to_timestamp":"three days ago"}`, 400, `field to_timestamp: "three days ago" is not an RFC 3339 time`},
		{"index", `{"to":"start"}`, 400, `field to: "start" is neither "earliest" nor "latest"`},
		{"index", `{"to_offset":-1}`, 400, "field to_offset: -1 is negative"},
		{"index", `{"to_offset":"7"}`, 400, "field to_offset: a JSON string where a number belongs"},
		{"index", `{"to":"latest","to_offset":3}`, 400, "exactly one of the fields to_timestamp, to_offset and to (got 2)"},
		{"index", `{"from":"latest"}`, 400, `unknown field "from"`},
		{"nosuch", `{"to":"latest"}`, 404, `pipeline rewind has no flow "nosuch"`},
	} {
		res, err := http.Post(api+"/pipelines/"+pipeline+"/flows/"+bad.flow+"/rewind", "application/json", strings.NewReader(bad.body))
		if err != nil {
			t.Fatal(err)
		}
		var answer struct {
			Message string `json:"message"`
		}
		err = json.NewDecoder(res.Body).Decode(&answer)
		res.Body.Close()
		if err != nil || res.StatusCode != bad.status || !strings.Contains(answer.Message, bad.want) {
			t.Errorf("POST rewind %s: %d %q (%v), want %d with %q", bad.body, res.StatusCode, answer.Message, err, bad.status, bad.want)
		}
	}

	// The rewind, dry run first.
	args := []string{"rewind", pipeline, "--flow", "index", "--to-time", cut.UTC().Format(time.RFC3339Nano), "--url", api}
	out, err := run(t, context.Background(), append(args, "--dry-run")...)
	if err != nil {
		t.Fatalf("sluice rewind --dry-run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "would be rewound (dry run: nothing committed)") {
		t.Fatalf("sluice rewind --dry-run printed:\n%s", out)
	}
	if got := testkit.CommittedOffsets(t, brokers, group, topic); fmt.Sprint(got) != fmt.Sprint(committedBefore) {
		t.Fatalf("the dry run changed the committed offsets: %v, before %v", got, committedBefore)
	}
	out, err = run(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("sluice rewind: %v\n%s", err, out)
	}
	t.Logf("sluice rewind:\n%s", out)
	hw := testkit.HighWaterMarks(t, brokers, topic)
	var reread int64
	for part, end := range hw {
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+%d\s+%d\s+%d\s*$`, part, committedBefore[part], wantNew[part], end))
		if !row.MatchString(out) {
			t.Errorf("sluice rewind: no row 'partition %d, old %d, new %d, end %d' in:\n%s", part, committedBefore[part], wantNew[part], end, out)
		}
		reread += end - wantNew[part]
	}
	if !strings.Contains(out, fmt.Sprintf("rewound to timestamp %s", cut.UTC().Format(time.RFC3339Nano))) ||
		!strings.Contains(out, fmt.Sprintf("%d record(s) to process", reread)) {
		t.Fatalf("sluice rewind printed:\n%s", out)
	}
	if got := testkit.CommittedOffsets(t, brokers, group, topic); fmt.Sprint(got) != fmt.Sprint(wantNew) {
		t.Fatalf("committed after the rewind: %v, want %v", got, wantNew)
	}

	if out, err := run(t, context.Background(), "resume", pipeline, "--wait", "--url", api); err != nil {
		t.Fatalf("sluice resume: %v\n%s", err, out)
	}
	waitForPipeline(t, done, "the rewound flow caught up again", caughtUp)
	esDo(t, srv.URL(), http.MethodPost, "/"+index+"/_refresh", "")
	rebuilt := indexSnapshot(t, srv.URL(), index, keySet)
	if diff := equalSnapshots(rebuilt, live); diff != "" {
		t.Fatalf("the rebuilt index differs from the live one: %s", diff)
	}
	t.Logf("%d records over 5 days, %d keys; live index %d documents; restored %d three-day-old documents; rewind re-read %d records; rebuilt index equals the live one (ids, sources, versions)",
		records, len(keySet), len(live), restored, reread)
}

// indexedDoc is a document as GET /{index}/_doc/{id} shows it.
type indexedDoc struct {
	Version int64           `json:"_version"`
	Source  json.RawMessage `json:"_source"`
}

// indexSnapshot reads every document of keys that exists, and checks that the index holds no other.
func indexSnapshot(t *testing.T, esURL, index string, keys map[string]bool) map[string]indexedDoc {
	t.Helper()
	out := map[string]indexedDoc{}
	for key := range keys {
		res, err := http.Get(esURL + "/" + index + "/_doc/" + key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			continue
		}
		var d indexedDoc
		if res.StatusCode != http.StatusOK || json.Unmarshal(body, &d) != nil {
			t.Fatalf("GET %s/_doc/%s: %d %s", index, key, res.StatusCode, body)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, d.Source); err != nil {
			t.Fatal(err)
		}
		d.Source = compact.Bytes()
		out[key] = d
	}
	var count struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(esDo(t, esURL, http.MethodGet, "/"+index+"/_count", ""), &count); err != nil || count.Count != len(out) {
		t.Fatalf("index %s counts %d documents, %d found by id (%v)", index, count.Count, len(out), err)
	}
	return out
}

// equalSnapshots returns "" when a and b hold the same ids with the same versions and sources, else the
// first difference.
func equalSnapshots(a, b map[string]indexedDoc) string {
	for id, da := range a {
		db, ok := b[id]
		switch {
		case !ok:
			return fmt.Sprintf("document %s (version %d) is not in the live index", id, da.Version)
		case da.Version != db.Version:
			return fmt.Sprintf("document %s: version %d, live %d", id, da.Version, db.Version)
		case !bytes.Equal(da.Source, db.Source):
			return fmt.Sprintf("document %s: %s, live %s", id, da.Source, db.Source)
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			return fmt.Sprintf("document %s of the live index is missing", id)
		}
	}
	return ""
}

// esDo sends one request to the search server and returns the body of its 2xx answer.
func esDo(t *testing.T, esURL, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, esURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		if strings.Contains(path, "_bulk") {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 || bytes.Contains(out, []byte(`"errors":true`)) {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
	}
	return out
}

// waitForPipeline polls cond every 50 ms for at most a minute, failing when the pipeline ends first.
func waitForPipeline(t *testing.T, done <-chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("the pipeline ended before %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not after a minute: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --to-time takes an RFC 3339 time or a duration back from now; the CLI refuses what the API would.
func TestRewindCommandArguments(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-27T00:00:00Z":      time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"2026-11-27T01:30:00+01:00": time.Date(2026, 11, 27, 0, 30, 0, 0, time.UTC),
		"72h":                       now.Add(-72 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
	} {
		got, err := parseRewindTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("--to-time %s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--to-time", "yesterday"}, `--to-time "yesterday": want an RFC 3339 time`},
		{[]string{"--to-time", "-5h"}, "want an RFC 3339 time"},
		{[]string{"--to", "start"}, `--to "start": want "earliest" or "latest"`},
		{[]string{"--to-offset", "-1"}, "--to-offset -1: want the next offset to process, >= 0"},
		{[]string{"--to", "earliest", "--to-offset", "3"}, "give exactly one of --to-time, --to-offset and --to"},
		{nil, "give exactly one of --to-time, --to-offset and --to"},
	} {
		args := append([]string{"rewind", "p", "--flow", "f", "--url", "http://127.0.0.1:1"}, bad.args...)
		if _, err := run(t, context.Background(), args...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("sluice %s: %v, want %q", strings.Join(args, " "), err, bad.want)
		}
	}
	if _, err := run(t, context.Background(), "rewind", "p", "--to", "latest", "--url", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "--flow") {
		t.Errorf("sluice rewind without --flow: %v", err)
	}
}
