package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// Issue 14, acceptance 1: one pipeline on the embedded broker, writing into the embedded Elasticsearch
// server, is fed good records mixed with poison of every kind, each poison value carrying a unique marker:
//
//   - decode: bytes that are not JSON on the json-schema topic lineage-orders (written there by another
//     producer);
//   - stage: an order whose status the flow's stage "check" refuses (its error quotes the status);
//   - rejected: an order whose amount is text where the index maps amount as long (a mapping conflict
//     Elasticsearch rejects, quoting the value in its "Preview of field's value");
//   - oversize: a line of the source file larger than lineage-orders' max.message.bytes (set aside by the
//     source before Kafka);
//   - step: a payment whose customer_id cannot be a key, inside the foreign-key join of flow "enriched".
//
// The dead-letter topics hold exactly those records, each with its class, stage, attempts 1, a recent
// first-failure time, where it was read (topic, partition, offset; or source and position), pipeline and
// flow or source; a flow's dead letter is the Kafka record byte for byte. Every good record reaches its
// index. No marker appears in any log line of the pipeline, nor in any header of any dead letter.
func TestPoisonRecordsOfEveryKindAreDeadLettered(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	const pipeline = "lineage"
	const orders, payments, customers = "lineage-orders", "lineage-payments", "lineage-customers"
	const flowDLQ, sourceDLQ = "lineage.dead-letters", "lineage.source.dead-letters"
	run := rand.Uint64()
	marker := func(kind string) string { return fmt.Sprintf("POISON-%s-%x", kind, run) }
	markers := []string{marker("decode"), marker("stage"), marker("rejected"), marker("oversize"), marker("step")}

	// lineage-orders takes at most 5000 bytes a message: the oversize line is larger.
	if err := kafka.EnsureTopics(brokers, kafka.SaramaConfig(kafka.Settings{}), 1,
		[]kafka.TopicSpec{{Name: orders, Partitions: 1, MaxMessageBytes: 5000}}); err != nil {
		t.Fatal(err)
	}
	testkit.Produce(t, brokers, orders, testkit.Message{Partition: 0, Key: []byte(`"o-decode"`),
		Value: []byte(marker("decode") + " is not JSON")})
	testkit.CreateTopic(t, brokers, customers, 1)
	testkit.Produce(t, brokers, customers, testkit.Message{Partition: 0, Key: []byte(`"c1"`), Value: []byte(`{"id":"c1","name":"Ada"}`)})

	var lines []string
	line := func(v map[string]any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	var goodOrders, goodPayments []string
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("o%d", i)
		goodOrders = append(goodOrders, id)
		line(map[string]any{"to": orders, "id": id, "status": "ok", "amount": 10 * i})
		pid := fmt.Sprintf("p%d", i)
		goodPayments = append(goodPayments, pid)
		line(map[string]any{"to": payments, "id": pid, "customer_id": "c1", "amount": i})
		switch i {
		case 2:
			line(map[string]any{"to": orders, "id": "o-stage", "status": marker("stage"), "amount": 1})
		case 3:
			line(map[string]any{"to": orders, "id": "o-rejected", "status": "ok", "amount": marker("rejected")})
		case 4:
			line(map[string]any{"to": orders, "id": "o-oversize", "status": "ok", "amount": 1,
				"note": marker("oversize") + strings.Repeat(" padding", 800)})
		case 5:
			line(map[string]any{"to": payments, "id": "p-step", "customer_id": map[string]any{"ref": "", "note": marker("step")}, "amount": 1})
		}
	}
	// The oversize line's source position: the byte offset after it, where the task resumes.
	var oversizeEnd int
	for _, l := range lines {
		oversizeEnd += len(l) + 1
		if strings.Contains(l, marker("oversize")) {
			break
		}
	}
	in := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}, Format: filesource.JSONLines})
	if err != nil {
		t.Fatal(err)
	}

	tp := topology.New(pipeline)
	ordersTopic := tp.Topic(orders, topology.KeyCodec("json"), topology.ValueCodec("json-schema"), topology.Partitions(1))
	paymentsTopic := tp.Topic(payments, topology.KeyCodec("json"), topology.Partitions(1))
	dlq := tp.Topic(flowDLQ, topology.ValueCodec("bytes"))
	tp.Source("lines", src).
		Via(stages.Map("route", func(r stream.Record) (stream.Record, error) {
			m := r.Value.(map[string]any)
			r.Topic, _ = m["to"].(string)
			delete(m, "to")
			r.Key, r.KeySchema, r.ValueSchema = m["id"], nil, nil
			return r, nil
		})).
		ToRecordTopics().
		DeadLetter(tp.Topic(sourceDLQ, topology.ValueCodec("json")))
	ordersIndex := newESSink(t, elasticsearch.Config{URLs: []string{srv.URL()}, Index: "lineage-orders", ID: "{field:id}",
		Mappings: json.RawMessage(`{"properties":{"amount":{"type":"long"},"status":{"type":"keyword"}}}`)})
	tp.Flow("index").From(ordersTopic).
		Via(stages.Map("check", func(r stream.Record) (stream.Record, error) {
			if status := fmt.Sprint(fieldOf(r.Value, "status")); status != "ok" {
				return r, fmt.Errorf("order %v: status %q is not one this index takes", fieldOf(r.Value, "id"), status)
			}
			return r, nil
		})).
		To(ordersIndex, topology.BatchSize(50), topology.Linger(20*time.Millisecond)).
		DeadLetter(dlq)
	rows := tp.Table("customers", tp.Topic(customers, topology.KeyCodec("json"), topology.Partitions(1)))
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("enriched").From(paymentsTopic).
		Join(rows, join).
		To(newESSink(t, elasticsearch.Config{URLs: []string{srv.URL()}, Index: "lineage-payments", ID: "{field:id}"}),
			topology.BatchSize(50), topology.Linger(20*time.Millisecond)).
		DeadLetter(dlq)
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}

	logs := &testkit.LogBuffer{}
	cfg := quietConfig(brokers)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	started := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("RunWith: %v", err)
			}
		}
	}
	defer stop()

	// Every good record reaches its index.
	waitIndex(t, srv.URL(), "lineage-orders", goodOrders, done)
	waitIndex(t, srv.URL(), "lineage-payments", goodPayments, done)
	flowDead := testkit.WaitRecords(t, brokers, flowDLQ, 4, time.Minute)
	sourceDead := testkit.WaitRecords(t, brokers, sourceDLQ, 1, time.Minute)
	stop()
	// Read again after the stop: nothing more arrived.
	flowDead, sourceDead = testkit.ReadTopic(t, brokers, flowDLQ), testkit.ReadTopic(t, brokers, sourceDLQ)

	// The dead-letter topics hold exactly the poison records.
	var got []string
	for _, m := range flowDead {
		got = append(got, flowDLQ+":"+string(m.Key))
	}
	for _, m := range sourceDead {
		var v map[string]any
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Errorf("source dead letter %s: value is not JSON: %v", m, err)
		}
		got = append(got, sourceDLQ+":"+fmt.Sprint(v["id"]))
	}
	want := []string{flowDLQ + `:"o-decode"`, flowDLQ + `:"o-stage"`, flowDLQ + `:"o-rejected"`, flowDLQ + `:"p-step"`, sourceDLQ + ":o-oversize"}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("dead letters %q, want exactly %q", got, want)
	}

	// Each has the right headers; a flow's is the Kafka record byte for byte.
	inputs := map[string]testkit.Message{}
	for _, topic := range []string{orders, payments} {
		for _, m := range testkit.ReadTopic(t, brokers, topic) {
			inputs[topic+":"+string(m.Key)] = m
		}
	}
	type expectation struct{ class, stage, flow, topic string }
	expected := map[string]expectation{
		`"o-decode"`:   {topology.ErrorClassDecode, topology.StageDecode, "index", orders},
		`"o-stage"`:    {topology.ErrorClassStage, "check", "index", orders},
		`"o-rejected"`: {topology.ErrorClassRejected, topology.StageSink, "index", orders},
		`"p-step"`:     {topology.ErrorClassStep, "with-customer", "enriched", payments},
	}
	checkLineage := func(m testkit.Message, class, stage string) {
		t.Helper()
		h := func(k string) string { v, _ := m.Header(k); return v }
		if got := h(topology.HeaderErrorClass); got != class {
			t.Errorf("%s: class %q, want %q", m.Key, got, class)
		}
		if got := h(topology.HeaderErrorStage); got != stage {
			t.Errorf("%s: stage %q, want %q", m.Key, got, stage)
		}
		if got := h(topology.HeaderErrorPipeline); got != pipeline {
			t.Errorf("%s: pipeline %q, want %q", m.Key, got, pipeline)
		}
		if got := h(topology.HeaderErrorAttempts); got != "1" {
			t.Errorf("%s: attempts %q, want 1", m.Key, got)
		}
		first, err := time.Parse(time.RFC3339Nano, h(topology.HeaderErrorFirstFailure))
		if err != nil || first.Before(started.Add(-time.Second)) || first.After(time.Now()) || !strings.HasSuffix(h(topology.HeaderErrorFirstFailure), "Z") {
			t.Errorf("%s: first failure %q (%v), want a UTC time since the test started at %s", m.Key,
				h(topology.HeaderErrorFirstFailure), err, started.UTC().Format(time.RFC3339Nano))
		}
		if h(topology.HeaderErrorReason) == "" {
			t.Errorf("%s: no reason", m.Key)
		}
		for _, hd := range m.Headers {
			for _, mk := range markers {
				if strings.Contains(string(hd.Value), mk) || strings.Contains(hd.Key, mk) {
					t.Errorf("%s: header %s=%q holds the record's value (%s)", m.Key, hd.Key, hd.Value, mk)
				}
			}
		}
		t.Logf("dead letter %s: %s", m.Key, headerList(m))
	}
	for _, m := range flowDead {
		e, ok := expected[string(m.Key)]
		if !ok {
			continue
		}
		checkLineage(m, e.class, e.stage)
		h := func(k string) string { v, _ := m.Header(k); return v }
		if got := h(topology.HeaderErrorFlow); got != e.flow {
			t.Errorf("%s: flow %q, want %q", m.Key, got, e.flow)
		}
		orig, ok := inputs[e.topic+":"+string(m.Key)]
		if !ok {
			t.Errorf("%s: no record of that key in %s", m.Key, e.topic)
			continue
		}
		if h(topology.HeaderErrorTopic) != e.topic || h(topology.HeaderErrorPartition) != "0" ||
			h(topology.HeaderErrorOffset) != strconv.FormatInt(orig.Offset, 10) {
			t.Errorf("%s: read at %s/%s@%s, want %s/0@%d", m.Key, h(topology.HeaderErrorTopic), h(topology.HeaderErrorPartition),
				h(topology.HeaderErrorOffset), e.topic, orig.Offset)
		}
		if string(m.Value) != string(orig.Value) {
			t.Errorf("%s: dead letter value %q, want the Kafka record's %q", m.Key, m.Value, orig.Value)
		}
	}
	for _, m := range sourceDead {
		checkLineage(m, topology.ErrorClassOversize, topology.StageProduce)
		h := func(k string) string { v, _ := m.Header(k); return v }
		if h(topology.HeaderErrorSource) != "lines" || h(topology.HeaderErrorPosition) == "" || h(topology.HeaderErrorFlow) != "" {
			t.Errorf("oversize: source %q position %q flow %q, want source lines and its position",
				h(topology.HeaderErrorSource), h(topology.HeaderErrorPosition), h(topology.HeaderErrorFlow))
		}
		var pos struct{ Offset int }
		if err := json.Unmarshal([]byte(h(topology.HeaderErrorPosition)), &pos); err != nil || pos.Offset != oversizeEnd {
			t.Errorf("oversize: position %q (%v), want the file offset %d after the line", h(topology.HeaderErrorPosition), err, oversizeEnd)
		}
		if !strings.Contains(string(m.Value), marker("oversize")) {
			t.Errorf("oversize: the dead letter is not the source record: %.200s", m.Value)
		}
	}

	// No poison value in any log line (yet the dead letters were logged).
	if n := len(logs.Lines("record sent to the dead-letter topic")); n != 5 {
		t.Errorf("%d log lines about dead letters, want 5", n)
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		for _, mk := range markers {
			if strings.Contains(l, mk) {
				t.Errorf("log line holds a poison value (%s): %.300s", mk, l)
			}
		}
	}
}

func newESSink(t *testing.T, cfg elasticsearch.Config) *elasticsearch.Sink {
	t.Helper()
	s, err := elasticsearch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitIndex polls index until it holds exactly the documents ids (it fails the test if it holds others, or
// if the pipeline ends first).
func waitIndex(t *testing.T, url, index string, ids []string, done <-chan error) {
	t.Helper()
	want := slices.Clone(ids)
	sort.Strings(want)
	var got []string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the pipeline ended before %s held %v: %v", index, want, err)
		default:
		}
		got = searchIDs(t, url, index)
		if len(got) >= len(want) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("index %s holds %v, want %v", index, got, want)
	}
}

// searchIDs returns the sorted ids of index's documents (none if it does not exist yet).
func searchIDs(t *testing.T, url, index string) []string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url+"/"+index+"/_refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = client.Get(url + "/" + index + "/_search?size=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var body struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("search %s: %v", index, err)
	}
	var ids []string
	for _, h := range body.Hits.Hits {
		ids = append(ids, h.ID)
	}
	sort.Strings(ids)
	return ids
}

func headerList(m testkit.Message) string {
	var hs []string
	for _, h := range m.Headers {
		hs = append(hs, h.Key+"="+string(h.Value))
	}
	return strings.Join(hs, " ")
}

// fieldOf is the value's field name, or nil.
func fieldOf(value any, name string) any {
	v, _ := stream.FieldOf(value, name)
	return v
}

// A record that already failed before (a redriven dead letter carries its lineage headers) and fails again
// keeps its first failure, has its attempts raised, and its dead letter holds this failure's
// sluice.errors.* headers, once each; the record's own headers stay.
func TestLineageOfARecordFailingAgain(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	const in = "again-orders"
	firstFailure := time.Now().Add(-72 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	testkit.CreateTopic(t, brokers, in, 1)
	testkit.Produce(t, brokers, in,
		testkit.Message{Partition: 0, Key: []byte("k1"), Value: []byte(`{"id":"k1","ok":true}`)},
		testkit.Message{Partition: 0, Key: []byte("k2"), Value: []byte(`{"id":"k2","ok":false}`), Headers: []stream.Header{
			{Key: "trace", Value: []byte("t-2")},
			{Key: topology.HeaderErrorReason, Value: []byte("the first failure's reason")},
			{Key: topology.HeaderErrorStage, Value: []byte("an-old-stage")},
			{Key: topology.HeaderErrorClass, Value: []byte(topology.ErrorClassRejected)},
			{Key: topology.HeaderErrorFirstFailure, Value: []byte(firstFailure)},
			{Key: topology.HeaderErrorAttempts, Value: []byte("2")},
		}})
	tp := topology.New("again")
	sink := &recordingSink{}
	tp.Flow("index").From(tp.Topic(in, topology.Partitions(1))).
		Via(stages.Map("check", func(r stream.Record) (stream.Record, error) {
			if fieldOf(r.Value, "ok") != true {
				return r, fmt.Errorf("record %v is not ok", fieldOf(r.Value, "id"))
			}
			return r, nil
		})).
		To(sink).
		DeadLetter(tp.Topic("again.dead-letters", topology.ValueCodec("bytes")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, quietConfig(brokers)) }()
	dead := testkit.WaitRecords(t, brokers, "again.dead-letters", 1, time.Minute)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunWith: %v", err)
	}
	if len(dead) != 1 || string(dead[0].Key) != "k2" {
		t.Fatalf("dead letters %v, want k2's", dead)
	}
	m := dead[0]
	t.Logf("dead letter %s: %s", m.Key, headerList(m))
	count := map[string]int{}
	for _, h := range m.Headers {
		count[h.Key]++
	}
	h := func(k string) string { v, _ := m.Header(k); return v }
	for k, want := range map[string]string{
		topology.HeaderErrorFirstFailure: firstFailure, topology.HeaderErrorAttempts: "3", topology.HeaderErrorStage: "check",
		topology.HeaderErrorClass: topology.ErrorClassStage, topology.HeaderErrorReason: `stage "check": record k2 is not ok`,
		topology.HeaderErrorPipeline: "again", topology.HeaderErrorTopic: in, topology.HeaderErrorOffset: "1", "trace": "t-2",
	} {
		if got := h(k); got != want || count[k] != 1 {
			t.Errorf("%s = %q (%d times), want %q once", k, got, count[k], want)
		}
	}
}
