package elasticsearch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// produceOrders writes n order records (key "order-i", JSON value) to topic, creating it.
func produceOrders(t testing.TB, brokers []string, topic string, from, n int, value func(i int) string) {
	t.Helper()
	testkit.CreateTopic(t, brokers, topic, 2)
	testkit.ProduceN(t, brokers, topic, n, func(i int) (string, string) {
		return fmt.Sprintf("order-%d", from+i), value(from + i)
	})
}

func orderJSON(i int) string { return fmt.Sprintf(`{"id":%d,"amount":%d,"status":"new"}`, i, i*3) }

// esPipeline is the topology the tests run: topic -> Elasticsearch, with a dead-letter topic.
func esPipeline(name, topic, esURL string, wrap func(*elasticsearch.Sink) sinksSink) (*topology.Topology, *elasticsearch.Sink, error) {
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{esURL}, Index: "orders", RetryTimeout: time.Minute})
	if err != nil {
		return nil, nil, err
	}
	t := topology.New(name)
	in := t.Topic(topic, topology.ValueCodec("json"), topology.Partitions(2))
	dlq := t.Topic(topic+".dlq", topology.ValueCodec("bytes"))
	var s sinksSink = sink
	if wrap != nil {
		s = wrap(sink)
	}
	t.Flow("index").From(in).To(s, topology.BatchSize(100)).DeadLetter(dlq)
	return t, sink, nil
}

func runPipeline(t testing.TB, tp *topology.Topology, brokers []string) (stop func()) {
	t.Helper()
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}
}

func countDocs(t testing.TB, client *es.Client, index string) int {
	t.Helper()
	res, err := client.Indices.Refresh(client.Indices.Refresh.WithIndex(index))
	if err == nil {
		res.Body.Close()
	}
	res, err = client.Count(client.Count.WithIndex(index))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct{ Count int }
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil || res.StatusCode != 200 {
		return -1
	}
	return c.Count
}

// getDoc reads a document with a realtime GET, asking again while the server injects 429s or 503s.
func getDoc(client *es.Client, index, id string) (map[string]any, bool) {
	var res *esapi.Response
	for attempt := 0; ; attempt++ {
		var err error
		res, err = client.Get(index, id)
		if err == nil && res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusServiceUnavailable {
			break
		}
		if err == nil {
			res.Body.Close()
		}
		if attempt == 20 {
			return nil, false
		}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, false
	}
	var d struct {
		Source map[string]any `json:"_source"`
	}
	json.NewDecoder(res.Body).Decode(&d)
	return d.Source, true
}

// ackRecorder wraps the real sink and records which records it acknowledged (Write returned nil for them).
type ackRecorder struct {
	*elasticsearch.Sink
	mu    sync.Mutex
	acked map[int32]map[int64]bool
}

func (a *ackRecorder) Write(ctx context.Context, batch []stream.Record) error {
	err := a.Sink.Write(ctx, batch)
	if err == nil {
		a.mu.Lock()
		for _, r := range batch {
			if a.acked[r.Partition] == nil {
				a.acked[r.Partition] = map[int64]bool{}
			}
			a.acked[r.Partition][r.Offset] = true
		}
		a.mu.Unlock()
	}
	return err
}

// firstUnacked is the lowest offset of partition the sink has not acknowledged.
func (a *ackRecorder) firstUnacked(partition int32) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	off := int64(0)
	for a.acked[partition][off] {
		off++
	}
	return off
}

// Acceptance 3: a 429 storm (every second request rejected, plus per-item 429s) loses nothing, and the
// committed offset never passes a write Elasticsearch has not acknowledged. The check during the storm
// compares committed offsets with what the sink acknowledged, so that it sends no requests of its own to the
// server (they would shift which requests the storm rejects); the documents are checked after it.
func Test429StormLosesNothing(t *testing.T) {
	test429Storm(t, embeddedTarget(t))
}

// The storm against a real OpenSearch node comes from a proxy in front of it (see target.storm).
func Test429StormLosesNothingInteropOpenSearch(t *testing.T) {
	test429Storm(t, openSearchTarget(t, "orders"))
}

func test429Storm(t *testing.T, tg target) {
	const n = 3000
	brokers := testkit.Brokers(t, 1)
	produceOrders(t, brokers, "orders", 0, n, orderJSON)
	var recorder *ackRecorder
	stormURL, calm := tg.storm(t, 2, 3)
	tp, sink, err := esPipeline("storm", "orders", stormURL, func(s *elasticsearch.Sink) sinksSink {
		recorder = &ackRecorder{Sink: s, acked: map[int32]map[int64]bool{}}
		return recorder
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPipeline(t, tp, brokers)
	hwm := testkit.HighWaterMarks(t, brokers, "orders")
	deadline := time.Now().Add(2 * time.Minute)
	checks := 0
	for {
		done := true
		for part := int32(0); part < 2; part++ {
			committed := testkit.CommittedOffset(t, brokers, "storm.index", "orders", part) // -1 until the group joined
			checks++
			if first := recorder.firstUnacked(part); committed > first {
				t.Fatalf("partition %d committed at %d, but the sink has not acknowledged offset %d", part, committed, first)
			}
			if committed < hwm[part] {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all committed after 2 minutes (sink stats %+v)", sink.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	calm()
	es := tg.client(t)
	if got := countDocs(t, es, "orders"); got != n {
		t.Fatalf("%d documents after the storm, want %d", got, n)
	}
	for i := range n {
		doc, ok := getDoc(es, "orders", fmt.Sprintf("order-%d", i))
		if !ok || doc["amount"] != float64(i*3) {
			t.Fatalf("order-%d = %v", i, doc)
		}
	}
	st := sink.Stats()
	t.Logf("429 storm on %s: %d documents, %d commit checks, sink stats %+v", tg.name, n, checks, st)
	if st.Retries == 0 {
		t.Error("no retries counted: the faults did not bite")
	}
}

// readKeys returns, per partition, the key of each offset of topic.
func readKeys(t testing.TB, brokers []string, topic string) map[int32][]string {
	t.Helper()
	out := map[int32][]string{}
	for _, m := range testkit.ReadTopic(t, brokers, topic) {
		out[m.Partition] = append(out[m.Partition], string(m.Key))
	}
	return out
}

// Acceptance 5: a document with a field that conflicts with the mapping goes to the dead-letter topic with
// the reason; the rest of its batch is indexed.
func TestMappingConflictGoesToDeadLetterTopic(t *testing.T) {
	testMappingConflictGoesToDeadLetterTopic(t, embeddedTarget(t))
}

func TestMappingConflictGoesToDeadLetterTopicInteropOpenSearch(t *testing.T) {
	testMappingConflictGoesToDeadLetterTopic(t, openSearchTarget(t, "orders"))
}

func testMappingConflictGoesToDeadLetterTopic(t *testing.T, tg target) {
	brokers := testkit.Brokers(t, 1)
	produceOrders(t, brokers, "orders", 0, 50, func(i int) string {
		if i == 17 {
			return `{"id":17,"amount":"seventeen","status":"new"}`
		}
		return orderJSON(i)
	})
	tp, _, err := esPipeline("strict", "orders", tg.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Establish the mapping (amount: long) before the pipeline runs, as an index template would.
	client := tg.client(t)
	res, err := client.Indices.Create("orders", client.Indices.Create.WithBody(strings.NewReader(`{"mappings":{"properties":{"amount":{"type":"long"}}}}`)))
	if err != nil || res.IsError() {
		t.Fatalf("create index: %v %v", err, res)
	}
	stop := runPipeline(t, tp, brokers)
	defer stop()

	dl := firstMessage(t, brokers, "orders.dlq")
	h := map[string]string{}
	for _, rh := range dl.Headers {
		h[string(rh.Key)] = string(rh.Value)
	}
	if string(dl.Key) != "order-17" || !strings.Contains(h[topology.HeaderErrorReason], tg.parseError) ||
		h[topology.HeaderErrorStage] != topology.StageSink || h[elasticsearch.HeaderIndex] != "orders" || h[elasticsearch.HeaderID] != "order-17" {
		t.Fatalf("dead letter %s=%s with headers %v", dl.Key, dl.Value, h)
	}
	deadline := time.Now().Add(time.Minute)
	for countDocs(t, client, "orders") != 49 {
		if time.Now().After(deadline) {
			t.Fatalf("%d documents indexed, want the 49 good ones", countDocs(t, client, "orders"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstMessage(t testing.TB, brokers []string, topic string) testkit.Message {
	t.Helper()
	return testkit.WaitRecords(t, brokers, topic, 1, time.Minute)[0]
}

// sinksSink is the sink interface, named here so the crash test can wrap the real sink.
type sinksSink = interface {
	Open(context.Context) error
	Write(context.Context, []stream.Record) error
	Close() error
}

// killAfterAck wraps the real sink: after the Nth write Elasticsearch acknowledged, and before Write returns
// (so before the engine commits the offsets), the process SIGKILLs itself.
type killAfterAck struct {
	*elasticsearch.Sink
	writes, killAt int
}

func (k *killAfterAck) Write(ctx context.Context, batch []stream.Record) error {
	err := k.Sink.Write(ctx, batch)
	if k.writes++; err == nil && k.writes == k.killAt {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return err
}

// TestMain doubles as the crash test's child process: with SLUICE_ES_CHILD set it runs the pipeline.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_ES_CHILD") == "" {
		code := m.Run()
		opensearchtest.Stop()
		os.Exit(code)
	}
	killAt, _ := strconv.Atoi(os.Getenv("SLUICE_ES_KILL_AT"))
	tp, _, err := esPipeline("crash", "orders", os.Getenv("SLUICE_ES_URL"), func(s *elasticsearch.Sink) sinksSink {
		if killAt == 0 {
			return s
		}
		return &killAfterAck{Sink: s, killAt: killAt}
	})
	if err == nil {
		cfg := topology.DefaultConfig()
		cfg.Brokers, cfg.HTTPAddr = strings.Split(os.Getenv("SLUICE_BROKERS"), ","), "off"
		ctx, cancel := signalContext()
		defer cancel()
		err = tp.RunWith(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Acceptance 4: the sink process is SIGKILLed between the Elasticsearch acknowledgement and the offset
// commit; after a restart the document count and contents are exact.
func TestKillBetweenAckAndCommit(t *testing.T) {
	testKillBetweenAckAndCommit(t, embeddedTarget(t))
}

func TestKillBetweenAckAndCommitInteropOpenSearch(t *testing.T) {
	testKillBetweenAckAndCommit(t, openSearchTarget(t, "orders"))
}

func testKillBetweenAckAndCommit(t *testing.T, tg target) {
	const n = 2000
	brokers := testkit.Brokers(t, 1)
	produceOrders(t, brokers, "orders", 0, n, orderJSON)
	// Updates of the first 500 orders after the creates: a replay must not bring old amounts back.
	produceOrders(t, brokers, "orders", 0, 500, func(i int) string { return fmt.Sprintf(`{"id":%d,"amount":%d,"status":"paid"}`, i, i*3+1) })

	child := func(killAt int) error {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SLUICE_ES_CHILD=1", "SLUICE_ES_KILL_AT="+strconv.Itoa(killAt),
			"SLUICE_ES_URL="+tg.url, "SLUICE_BROKERS="+strings.Join(brokers, ","))
		var out strings.Builder
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if killAt != 0 {
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was to kill itself after write %d, exited %v: %s", killAt, err, out.String())
			}
			return nil
		}
		client := tg.client(t)
		deadline := time.Now().Add(2 * time.Minute)
		for !allPaid(client) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("restarted sink did not converge: %s", out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		return cmd.Wait()
	}
	child(3) // killed after its third acknowledged batch
	child(7) // and again, further on
	if err := child(0); err != nil {
		t.Fatalf("final run: %v", err)
	}
	client := tg.client(t)
	if got := countDocs(t, client, "orders"); got != n {
		t.Fatalf("%d documents after kills and restart, want %d", got, n)
	}
	for i := range n {
		doc, ok := getDoc(client, "orders", fmt.Sprintf("order-%d", i))
		want := float64(i * 3)
		if i < 500 {
			want++
		}
		if !ok || doc["amount"] != want {
			t.Fatalf("order-%d = %v, want amount %v", i, doc, want)
		}
	}
}

// allPaid reports whether the first 500 orders carry their update and the last order is there.
func allPaid(client *es.Client) bool {
	for _, i := range []int{0, 250, 499} {
		if doc, ok := getDoc(client, "orders", fmt.Sprintf("order-%d", i)); !ok || doc["status"] != "paid" {
			return false
		}
	}
	_, ok := getDoc(client, "orders", "order-1999")
	return ok
}
