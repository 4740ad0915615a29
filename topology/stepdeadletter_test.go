package topology_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// refuse is a stage function that refuses a record whose value has "fail": stage.
func refuse(stage string) func(stream.Record) (stream.Record, error) {
	return func(r stream.Record) (stream.Record, error) {
		if m, ok := r.Value.(map[string]any); ok && m["fail"] == stage {
			return r, fmt.Errorf("refused by %s", stage)
		}
		return r, nil
	}
}

// stepsFlow declares, on a new topology named name, the flow
//
//	orders -> before -> Join(customers, with-customer) -> middle -> Keyed(sum) -> after -> Keyed(count) -> last -> sink
//
// where the stages before, middle and after and the keyed step sum refuse a record whose value has "fail"
// set to their name, the join refuses a value that is not an object, and last refuses the count of a key
// that starts with "last"; the table's stage rows refuses a customer row with "fail": "rows". before and
// rows run in the join's group, middle in sum's, after in count's, last in the sink's processor.
func stepsFlow(t *testing.T, name, orders, customers string, sink *recordingSink, dlq bool) *topology.Topology {
	t.Helper()
	tp := topology.New(name)
	in := tp.Topic(orders, topology.KeyCodec("json"), topology.Partitions(1))
	rows := tp.Table("customers", tp.Topic(customers, topology.KeyCodec("json"), topology.Partitions(1))).
		Via(stages.Map("rows", refuse("rows")))
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := stages.Aggregate("sum", func(acc map[string]any, r stream.Record) (map[string]any, error) {
		m, _ := r.Value.(map[string]any)
		if m["fail"] == "sum" {
			return acc, errors.New("refused by sum")
		}
		return m, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	count, err := stages.Count("count")
	if err != nil {
		t.Fatal(err)
	}
	f := tp.Flow("index").From(in).
		Via(stages.Map("before", refuse("before"))).
		Join(rows, join).
		Via(stages.Map("middle", refuse("middle"))).
		Keyed(sum).
		Via(stages.Map("after", refuse("after"))).
		Keyed(count).
		Via(stages.Map("last", func(r stream.Record) (stream.Record, error) {
			if m, ok := r.Value.(map[string]any); ok && strings.HasPrefix(fmt.Sprint(m["key"]), "last") {
				return r, errors.New("refused by last")
			}
			return r, nil
		})).
		To(sink, topology.BatchSize(10), topology.Linger(5*time.Millisecond))
	if dlq {
		f.DeadLetter(tp.Topic(orders+".dlq", topology.ValueCodec("bytes")))
	}
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}
	return tp
}

// stepFailure is one record that fails somewhere in stepsFlow, and where.
type stepFailure struct {
	stage string // HeaderErrorStage
	key   string // the record's key, if not o<N>
	value string // the record's value in the orders topic
	// topic is the topic the dead letter's position headers name ({in}: orders; {group}.out / {group}-loop:
	// the output or loop topic of a step's group, {group} standing for <pipeline>.index.<step>).
	topic  string
	reason string
	// raw: the dead letter is the orders record byte for byte.
	raw bool
	// says is what RunWith's error says without a dead-letter topic: records of a step's output or loop
	// topic are named as the step's, by partition, offset and decoded key, not by the engine's topic name.
	says []string
}

var stepFailures = []stepFailure{
	{stage: topology.StageDecode, value: `{"id":`, topic: "{in}", reason: "decode value with json", raw: true,
		says: []string{`flow "index": stage "with-customer": {in}/0@1 (key "\"o1\""): decode value with json`}},
	{stage: "before", value: `{"id":"o1","customer_id":"c1","fail":"before"}`, topic: "{in}", reason: "refused by before", raw: true,
		says: []string{`flow "index": stage "before": {in}/0@1 (key "\"o1\""): refused by before`}},
	{stage: "with-customer", value: `7`, topic: "{p}.index.with-customer-loop", reason: "not a struct or JSON object",
		says: []string{`flow "index": stage "with-customer": repartitioned input of step "with-customer" (partition 0, offset `, "not a struct or JSON object"}},
	{stage: "middle", value: `{"id":"o1","customer_id":"c1","fail":"middle"}`, topic: "{p}.index.with-customer.out", reason: "refused by middle",
		says: []string{`flow "index": stage "middle": output of step "with-customer" (partition 0, offset 1) (key "o1"): refused by middle`}},
	{stage: "sum", value: `{"id":"o1","customer_id":"c1","fail":"sum"}`, topic: "{p}.index.with-customer.out", reason: "refused by sum",
		says: []string{`flow "index": stage "sum": output of step "with-customer" (partition 0, offset 1) (key "o1"): refused by sum`}},
	{stage: "after", value: `{"id":"o1","customer_id":"c1","fail":"after"}`, topic: "{p}.index.sum.out", reason: "refused by after",
		says: []string{`flow "index": stage "after": output of step "sum" (partition 0, offset 1) (key "o1"): refused by after`}},
	{stage: "last", key: "last", value: `{"id":"last","customer_id":"c1"}`, topic: "{p}.index.count.out", reason: "refused by last",
		says: []string{`flow "index": stage "last": output of step "count" (partition 0, offset 1) (key "last"): refused by last`}},
}

func (f stepFailure) expand(s, pipeline, in string) string {
	return strings.NewReplacer("{in}", in, "{p}", pipeline).Replace(s)
}

// produceCustomer writes customer c1 to topic and, with badRow, then a row that the table's stage refuses.
func produceCustomer(t *testing.T, brokers []string, topic string, badRow bool) {
	testkit.CreateTopic(t, brokers, topic, 1)
	testkit.Produce(t, brokers, topic, testkit.Message{Partition: 0, Key: []byte(`"c1"`), Value: []byte(`{"id":"c1","name":"Ada"}`)})
	if badRow {
		testkit.Produce(t, brokers, topic, badCustomer)
	}
}

var badCustomer = testkit.Message{Partition: 0, Key: []byte(`"c2"`), Value: []byte(`{"id":"c2","fail":"rows"}`)}

// Acceptance 2 of issue 11: with a dead-letter topic, a decode error and a stateless stage's error before a
// join (in the join's group), the join's own error, a stage's error after it and a keyed step's error (in
// the keyed steps' groups) each send the record to the flow's dead-letter topic with the same headers
// (reason, stage, flow, topic/partition/offset), and the pipeline goes on: the records around them reach the
// sink, and the join's group commits its input past them. An input record is dead-lettered byte for byte.
func TestStatefulStepsDeadLetter(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	const pipeline = "steps-dlq"
	in, customers := "steps-dlq-orders", "steps-dlq-customers"
	produceCustomer(t, brokers, customers, true)
	msgs := []testkit.Message{{Partition: 0, Key: []byte(`"o0"`), Value: []byte(`{"id":"o0","customer_id":"c1"}`)}}
	for i, f := range stepFailures {
		key := fmt.Sprintf(`"o%d"`, i+1)
		if f.key != "" {
			key = `"` + f.key + `"`
		}
		msgs = append(msgs, testkit.Message{Partition: 0, Key: []byte(key), Value: []byte(strings.ReplaceAll(f.value, `"o1"`, key)),
			Headers: []stream.Header{{Key: "trace", Value: []byte(f.stage)}}})
	}
	last := fmt.Sprintf(`"o%d"`, len(stepFailures)+1)
	msgs = append(msgs, testkit.Message{Partition: 0, Key: []byte(last), Value: []byte(`{"id":` + last + `,"customer_id":"c1"}`)})
	testkit.CreateTopic(t, brokers, in, 1)
	testkit.Produce(t, brokers, in, msgs...)

	sink := &recordingSink{}
	tp := stepsFlow(t, pipeline, in, customers, sink, true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, quietConfig(brokers)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()

	dead := testkit.WaitRecords(t, brokers, in+".dlq", len(stepFailures)+1, time.Minute)
	if len(dead) != len(stepFailures)+1 {
		t.Fatalf("%d dead letters, want %d: %v", len(dead), len(stepFailures)+1, dead)
	}
	for _, m := range dead {
		var hs []string
		for _, h := range m.Headers {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
		t.Logf("dead letter %s headers %s", m, strings.Join(hs, " "))
	}
	byStage := map[string]testkit.Message{}
	for _, m := range dead {
		stage, _ := m.Header(topology.HeaderErrorStage)
		byStage[stage] = m
	}
	for i, f := range stepFailures {
		m, ok := byStage[f.stage]
		if !ok {
			t.Errorf("no dead letter of stage %q among %v", f.stage, dead)
			continue
		}
		h := func(k string) string { v, _ := m.Header(k); return v }
		if got := h(topology.HeaderErrorFlow); got != "index" {
			t.Errorf("%s: flow header %q", f.stage, got)
		}
		class := topology.ErrorClassStage // a stateless stage's refusal
		switch f.stage {
		case topology.StageDecode:
			class = topology.ErrorClassDecode
		case "with-customer", "sum":
			class = topology.ErrorClassStep // the join or keyed step itself
		}
		if got := h(topology.HeaderErrorClass); got != class || h(topology.HeaderErrorAttempts) != "1" || h(topology.HeaderErrorPipeline) != pipeline {
			t.Errorf("%s: class %q attempts %q pipeline %q, want %s, 1, %s", f.stage, got, h(topology.HeaderErrorAttempts),
				h(topology.HeaderErrorPipeline), class, pipeline)
		}
		if got := h(topology.HeaderErrorReason); !strings.Contains(got, f.reason) {
			t.Errorf("%s: reason %q, want it to say %q", f.stage, got, f.reason)
		}
		if got, want := h(topology.HeaderErrorTopic), f.expand(f.topic, pipeline, in); got != want {
			t.Errorf("%s: topic header %q, want %q", f.stage, got, want)
		}
		if got := h(topology.HeaderErrorPartition); got != "0" {
			t.Errorf("%s: partition header %q", f.stage, got)
		}
		offset, err := strconv.ParseInt(h(topology.HeaderErrorOffset), 10, 64)
		if err != nil || offset < 0 {
			t.Errorf("%s: offset header %q", f.stage, h(topology.HeaderErrorOffset))
		}
		if got := h("trace"); got != f.stage {
			t.Errorf("%s: the record's own header trace=%q, want %q", f.stage, got, f.stage)
		}
		if f.raw {
			if want := msgs[i+1]; offset != int64(i+1) || string(m.Key) != string(want.Key) || string(m.Value) != string(want.Value) {
				t.Errorf("%s: dead letter %s at offset %d, want the input record %s at %d byte for byte", f.stage, m, offset, want, i+1)
			}
		} else if !strings.Contains(string(m.Value), "o") {
			t.Errorf("%s: dead letter value %q", f.stage, m.Value)
		}
	}

	// A table row that the table's stage refuses, in the join's group, goes to the flow's dead-letter topic
	// too, byte for byte.
	if m, ok := byStage["rows"]; !ok {
		t.Errorf("no dead letter of the table's stage among %v", dead)
	} else {
		h := func(k string) string { v, _ := m.Header(k); return v }
		if string(m.Key) != string(badCustomer.Key) || string(m.Value) != string(badCustomer.Value) ||
			h(topology.HeaderErrorFlow) != "index" || h(topology.HeaderErrorTopic) != customers ||
			h(topology.HeaderErrorPartition) != "0" || h(topology.HeaderErrorOffset) != "1" ||
			!strings.Contains(h(topology.HeaderErrorReason), "refused by rows") {
			t.Errorf("table row's dead letter %s with headers %v", m, m.Headers)
		}
	}

	// The records around the failures come through, and the join's group commits past every input.
	deadline := time.Now().Add(time.Minute)
	for {
		sink.mu.Lock()
		n := len(sink.records)
		sink.mu.Unlock()
		committed := testkit.CommittedOffset(t, brokers, pipeline+".index.with-customer", in, 0)
		if n >= 2 && committed == int64(len(msgs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d records (want 2), join group committed %d (want %d)", n, committed, len(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var keys []string
	for _, r := range sink.records {
		keys = append(keys, fmt.Sprint(r.Key))
	}
	if len(keys) != 2 || keys[0] != "o0" || keys[1] != strings.Trim(last, `"`) {
		t.Errorf("sink got keys %v, want [o0 %s]", keys, strings.Trim(last, `"`))
	}
}

// Without a dead-letter topic each of the failures of TestStatefulStepsDeadLetter stops the pipeline, and
// RunWith's error names the flow, the stage or step and the record.
func TestStatefulStepsFailWithoutDeadLetter(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	for _, f := range stepFailures {
		t.Run(f.stage, func(t *testing.T) {
			pipeline := "steps-fail-" + f.stage
			in, customers := pipeline+"-orders", pipeline+"-customers"
			produceCustomer(t, brokers, customers, false)
			testkit.CreateTopic(t, brokers, in, 1)
			testkit.Produce(t, brokers, in,
				testkit.Message{Partition: 0, Key: []byte(`"o0"`), Value: []byte(`{"id":"o0","customer_id":"c1"}`)},
				testkit.Message{Partition: 0, Key: []byte(`"` + cmp.Or(f.key, "o1") + `"`), Value: []byte(f.value)})
			tp := stepsFlow(t, pipeline, in, customers, &recordingSink{}, false)
			cfg := quietConfig(brokers)
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			err := tp.RunWith(ctx, cfg)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("RunWith = %v (%v); want the failure", err, ctx.Err())
			}
			t.Logf("RunWith: %v", err)
			for _, w := range f.says {
				if w = f.expand(w, pipeline, in); !strings.Contains(err.Error(), w) {
					t.Errorf("RunWith's error does not say %s", w)
				}
			}
		})
	}
	t.Run("rows", func(t *testing.T) {
		pipeline := "steps-fail-rows"
		in, customers := pipeline+"-orders", pipeline+"-customers"
		produceCustomer(t, brokers, customers, true)
		testkit.CreateTopic(t, brokers, in, 1)
		tp := stepsFlow(t, pipeline, in, customers, &recordingSink{}, false)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		err := tp.RunWith(ctx, quietConfig(brokers))
		if err == nil || ctx.Err() != nil {
			t.Fatalf("RunWith = %v (%v); want the failure", err, ctx.Err())
		}
		t.Logf("RunWith: %v", err)
		if want := `flow "index": stage "rows": ` + customers + `/0@1 (key "\"c2\""): refused by rows`; !strings.Contains(err.Error(), want) {
			t.Errorf("RunWith's error does not say %s", want)
		}
	})
}
