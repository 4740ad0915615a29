package elasticsearch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/topology"
)

// Issue 19, acceptance 3: a rebuild under a steady search load. A pipeline indexes a topic through the
// alias "rb-orders"; while goroutines search the alias every few milliseconds (any error or empty result
// fails the test) and a producer keeps writing updates, new documents and deletes, the operator API
// rebuilds the flow's index with drop_old. After the swap the alias points to the new index, the old one
// is gone, and the index equals the topic's content (the last value of every key, deleted keys absent).

// TestRebuildUnderSearchLoad runs against the embedded server.
func TestRebuildUnderSearchLoad(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	rebuildUnderSearchLoad(t, srv.URL())
}

// TestRebuildUnderSearchLoadInteropOpenSearch runs the same against the real OpenSearch node (make
// test-interop).
func TestRebuildUnderSearchLoadInteropOpenSearch(t *testing.T) {
	url := opensearchtest.Start(t)
	for _, ix := range []string{"rb-orders-000001", "rb-orders-000002"} {
		opensearchtest.Do(t, url, http.MethodDelete, "/"+ix+"?ignore_unavailable=true", "")
	}
	rebuildUnderSearchLoad(t, url)
}

func rebuildUnderSearchLoad(t *testing.T, esURL string) {
	const (
		pipeline = "rebuild"
		alias    = "rb-orders"
		keys     = 200
	)
	brokers := testkit.Brokers(t, 1)
	topic := fmt.Sprintf("rebuild-%d.orders", time.Now().UnixNano())
	testkit.CreateTopic(t, brokers, topic, 2)

	// The topic's content as the index must show it: the last value of each key, deleted keys absent.
	var mu sync.Mutex
	want := map[string]string{}
	version := 0
	produce := func(n int) {
		msgs := make([]testkit.Message, 0, n)
		mu.Lock()
		for range n {
			version++
			key := fmt.Sprintf("k%d", version%keys)
			if version%17 == 0 {
				msgs = append(msgs, testkit.Message{Partition: -1, Key: []byte(key)}) // a tombstone deletes it
				delete(want, key)
				continue
			}
			v := fmt.Sprintf(`{"key":%q,"v":%d}`, key, version)
			msgs = append(msgs, testkit.Message{Partition: -1, Key: []byte(key), Value: []byte(v)})
			want[key] = v
		}
		mu.Unlock()
		testkit.Produce(t, brokers, topic, msgs...)
	}
	produce(1000)

	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{esURL}, Alias: alias, ID: elasticsearch.DefaultID, RetryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New(pipeline)
	in := tp.Topic(topic, topology.ValueCodec("json"), topology.Partitions(2))
	tp.Flow("index").From(in).To(sink, topology.BatchSize(100))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	logs := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs.String())
		}
	})
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
	poll(t, done, "the live flow indexes the topic", caughtUp)
	poll(t, done, "the alias serves searches (the old index refreshed)", func() bool { return searchHasHits(esURL, alias) == "" })

	// The search load: every few milliseconds, a search of the alias must answer 200 with hits.
	var searches, failures atomic.Int64
	var firstFailure atomic.Pointer[string]
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	for range 3 {
		load.Add(1)
		go func() {
			defer load.Done()
			for loadCtx.Err() == nil {
				if msg := searchHasHits(esURL, alias); msg != "" {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, &msg)
				}
				searches.Add(1)
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	defer func() { stopLoad(); load.Wait() }()
	// Writes go on during the rebuild.
	producing := make(chan struct{})
	var producer sync.WaitGroup
	producer.Add(1)
	go func() {
		defer producer.Done()
		for {
			select {
			case <-producing:
				return
			case <-time.After(20 * time.Millisecond):
				produce(10)
			}
		}
	}()

	api := &opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr}
	var st opsapi.RebuildStatus
	poll(t, done, "the operator API takes the rebuild", func() bool {
		st, err = api.Rebuild(context.Background(), pipeline, "index", opsapi.RebuildRequest{DropOld: true})
		return err == nil || !strings.Contains(err.Error(), "503") // the commands reader may still be starting
	})
	if err != nil {
		t.Fatalf("POST rebuild: %v", err)
	}
	if st.OldIndex != alias+"-000001" || st.NewIndex != alias+"-000002" || st.State != opsapi.RebuildCopying {
		t.Fatalf("rebuild started as %+v", st)
	}
	began := time.Now()
	poll(t, done, "the rebuild finishes", func() bool {
		st, err = api.RebuildStatus(context.Background(), pipeline, "index")
		return err == nil && (st.State == opsapi.RebuildDone || st.State == opsapi.RebuildFailed)
	})
	if st.State != opsapi.RebuildDone {
		t.Fatalf("rebuild failed: %+v", st)
	}
	t.Logf("rebuild: %d records copied in %v (swap after %v); %d searches so far",
		st.Records, time.Since(began).Round(time.Millisecond), st.Swapped.Sub(st.Started).Round(time.Millisecond), searches.Load())
	close(producing)
	producer.Wait()
	poll(t, done, "the live flow indexes what was produced during the rebuild", caughtUp)
	stopLoad()
	load.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d searches of the alias during the rebuild failed or found nothing; the first: %s", n, searches.Load(), *firstFailure.Load())
	}
	if searches.Load() < 100 {
		t.Fatalf("only %d searches ran: the load was not steady", searches.Load())
	}

	// The alias points to the new index only, the old index is gone, and the index equals the topic.
	status, body := httpDo(t, esURL, http.MethodGet, "/_alias/"+alias, "")
	var aliases map[string]any
	if err := json.Unmarshal(body, &aliases); status != 200 || err != nil || len(aliases) != 1 || aliases[alias+"-000002"] == nil {
		t.Fatalf("GET /_alias/%s: %d %s", alias, status, body)
	}
	if status, body := httpDo(t, esURL, http.MethodHead, "/"+alias+"-000001", ""); status != http.StatusNotFound {
		t.Fatalf("the old index still exists after drop_old: %d %s", status, body)
	}
	httpDo(t, esURL, http.MethodPost, "/"+alias+"/_refresh", "")
	status, body = httpDo(t, esURL, http.MethodPost, "/"+alias+"/_search", `{"size":1000,"query":{"match_all":{}}}`)
	var res struct {
		Hits struct {
			Hits []struct {
				Index  string          `json:"_index"`
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &res); status != 200 || err != nil {
		t.Fatalf("search: %d %s", status, body)
	}
	got := map[string]string{}
	for _, h := range res.Hits.Hits {
		if h.Index != alias+"-000002" {
			t.Fatalf("hit %s from index %s", h.ID, h.Index)
		}
		got[h.ID] = string(h.Source)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Errorf("the index has %d documents, the topic %d keys", len(got), len(want))
	}
	for k, v := range want {
		if !sameJSON(got[k], v) {
			t.Errorf("document %s = %s, the topic's last value is %s", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("document %s is in the index, but deleted in the topic", k)
		}
	}
	// The replica's status shows the rebuild too.
	status2, err := api.Status(context.Background(), pipeline)
	if err != nil || len(status2.Replicas) != 1 || len(status2.Replicas[0].Rebuilds) != 1 || status2.Replicas[0].Rebuilds[0].State != opsapi.RebuildDone {
		t.Errorf("status after the rebuild: %+v, %v", status2.Replicas, err)
	}
	if lines := logs.Lines("rebuild done"); len(lines) != 1 {
		t.Errorf("want one 'rebuild done' log line, got %q", lines)
	}
}

// searchHasHits searches the alias once and says what was wrong ("" when it answered 200 with hits).
func searchHasHits(esURL, alias string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, esURL+"/"+alias+"/_search", strings.NewReader(`{"size":1,"query":{"match_all":{}}}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []json.RawMessage `json:"hits"`
		} `json:"hits"`
	}
	if res.StatusCode != 200 || json.Unmarshal(body, &out) != nil {
		return fmt.Sprintf("%d %.300s", res.StatusCode, body)
	}
	if out.Hits.Total.Value == 0 || len(out.Hits.Hits) == 0 {
		return fmt.Sprintf("no hits: %.300s", body)
	}
	return ""
}

// httpDo sends one request with a JSON body (none when empty) and returns the status and body.
func httpDo(t *testing.T, base, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// A rebuild that fails before the swap (here: its caller gives up while the copy, slowed by the server's
// latency, is still behind) leaves the alias on the old index, deletes the new index and the copy's
// consumer group, and says why; the next rebuild then succeeds. Driven through the Go
// API, topology.Rebuild, as issue 14's rewind will drive it.
func TestRebuildFailureLeavesAliasOnOldIndex(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const alias = "rbf-orders"
	brokers := testkit.Brokers(t, 1)
	topic := fmt.Sprintf("rebuild-fail-%d", time.Now().UnixNano())
	testkit.CreateTopic(t, brokers, topic, 1)
	testkit.ProduceN(t, brokers, topic, 300, func(i int) (string, string) {
		return fmt.Sprintf("k%d", i), fmt.Sprintf(`{"n":%d}`, i)
	})
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Alias: alias, ID: elasticsearch.DefaultID})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("rebuildfail")
	tp.Flow("index").From(tp.Topic(topic, topology.ValueCodec("json"))).To(sink, topology.BatchSize(50))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	logs := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs.String())
		}
	})
	group := "rebuildfail.index"
	poll(t, done, "the live flow indexes the topic", func() bool {
		return testkit.CommittedOffsets(t, brokers, group, topic)[0] == 300
	})
	if _, err := tp.Rebuild(context.Background(), "nosuch", topology.RebuildOptions{}); err == nil || !strings.Contains(err.Error(), `pipeline rebuildfail has no flow "nosuch"`) {
		t.Fatalf("Rebuild of an unknown flow: %v", err)
	}

	srv.SetFaults(esserver.Faults{Latency: 300 * time.Millisecond}) // 6 bulk requests: the copy takes 1.8 s or more
	api := &opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr}
	giveUp, stopWaiting := context.WithCancel(context.Background())
	result := make(chan error, 1)
	var st topology.RebuildStatus
	go func() {
		var err error
		st, err = tp.Rebuild(giveUp, "index", topology.RebuildOptions{DropOld: true})
		result <- err
	}()
	poll(t, done, "the copy writes into the new index", func() bool {
		cur, err := api.RebuildStatus(context.Background(), "rebuildfail", "index")
		return err == nil && cur.State == opsapi.RebuildCopying && cur.Records > 0 && cur.Lag > 0
	})
	// One rebuild of a flow at a time.
	if _, err := api.Rebuild(context.Background(), "rebuildfail", "index", opsapi.RebuildRequest{}); err == nil ||
		!strings.Contains(err.Error(), "a rebuild into index "+alias+"-000002 is running (COPYING); wait for it") || !strings.Contains(err.Error(), "409") {
		t.Fatalf("a second rebuild while one runs: %v", err)
	}
	stopWaiting()
	err = <-result
	srv.SetFaults(esserver.Faults{})
	if err == nil || !strings.Contains(err.Error(), "the alias stays on "+alias+"-000001: stopped while the copy caught up") {
		t.Fatalf("Rebuild after its caller gave up: %v (status %+v)", err, st)
	}
	if st.State != opsapi.RebuildFailed || st.Error != err.Error() {
		t.Fatalf("status after the failure: %+v", st)
	}
	status, body := httpDo(t, srv.URL(), http.MethodGet, "/_alias/"+alias, "")
	if status != 200 || !strings.Contains(string(body), `"`+alias+`-000001"`) || strings.Contains(string(body), "000002") {
		t.Fatalf("alias after the failure: %d %s", status, body)
	}
	if status, _ := httpDo(t, srv.URL(), http.MethodHead, "/"+alias+"-000002", ""); status != http.StatusNotFound {
		t.Fatalf("the new index is left after the failure: %d", status)
	}
	if got, ok := testkit.CommittedOffsets(t, brokers, st.Group, topic)[0]; ok {
		t.Fatalf("the copy's group %s still has offset %d committed", st.Group, got)
	}
	if lines := logs.Lines("rebuild failed", "the alias stays on"); len(lines) != 1 {
		t.Fatalf("want one 'rebuild failed' line naming where the alias stays, got %q", lines)
	}

	// Again, to the end (into another index: a consumer group of the same name as the one just deleted
	// waits about 5 s for the departed member before it assigns partitions).
	st, err = tp.Rebuild(context.Background(), "index", topology.RebuildOptions{Index: alias + "-v3", DropOld: true})
	if err != nil || st.State != opsapi.RebuildDone || st.NewIndex != alias+"-v3" || st.Records != 300 {
		t.Fatalf("second Rebuild: %+v, %v", st, err)
	}
	httpDo(t, srv.URL(), http.MethodPost, "/"+alias+"/_refresh", "")
	status, body = httpDo(t, srv.URL(), http.MethodGet, "/"+alias+"/_count", "")
	if status != 200 || !strings.Contains(string(body), `"count":300`) {
		t.Fatalf("count through the alias after the rebuild: %d %s", status, body)
	}
}
