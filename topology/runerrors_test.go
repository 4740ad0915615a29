package topology_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// engineWording is what goka, sarama and the Go runtime say about a failure, which must never reach the
// user in place of the failure itself.
var engineWording = []string{
	"error consuming from group consumer", "could not commit message", "panic in", "goroutine", ".go:",
	"kafka: ", "kafka server: ", "errors occurred", "multierror", "Error closing", "processor",
	"partition processor", "*topology.", "%!", "Producer.MaxMessageBytes",
}

// failAtTwo is a stage function that refuses the record whose value has "n": 2.
func failAtTwo(r stream.Record) (stream.Record, error) {
	if m, ok := r.Value.(map[string]any); ok && fmt.Sprint(m["n"]) == "2" {
		return r, errors.New("n=2 is not allowed here")
	}
	return r, nil
}

// produceValues writes values to partition 0 of a new one-partition topic, keyed k0, k1, ...
func produceValues(t *testing.T, brokers []string, topic string, values ...string) {
	t.Helper()
	testkit.CreateTopic(t, brokers, topic, 1)
	msgs := make([]testkit.Message, len(values))
	for i, v := range values {
		msgs[i] = testkit.Message{Partition: 0, Key: []byte(fmt.Sprint("k", i)), Value: []byte(v)}
	}
	testkit.Produce(t, brokers, topic, msgs...)
}

// brokenSource reads one record of its only task, then fails for good.
type brokenSource struct{}

const brokenSourceCause = "read /data/in.log: input/output error"

func (brokenSource) Tasks(context.Context) ([]sources.Task, error) {
	return []sources.Task{{Key: "disk:/data/in.log"}}, nil
}
func (brokenSource) Open(_ context.Context, _ sources.Task, pos stream.Position) (sources.Reader, error) {
	return &brokenReader{done: pos != nil}, nil
}

type brokenReader struct{ done bool }

func (r *brokenReader) Read(ctx context.Context) ([]stream.Record, error) {
	if !r.done {
		r.done = true
		return []stream.Record{{Key: "k0", Value: map[string]any{"n": int64(0)}, Position: stream.Position(`{"offset":6}`)}}, nil
	}
	return nil, errors.New(brokenSourceCause)
}
func (r *brokenReader) Close() error { return nil }

// Every kind of processing failure ends RunWith with the message the log's one ERROR line carries, which
// names where it happened (flow or source, stage, sink, task) and which record (topic/partition@offset and
// key, or the source position), and says nothing in goka's, sarama's or the runtime's words.
func TestRunErrorsNameWhereAndWhich(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	values := []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`}
	cases := []struct {
		name string
		// build declares the pipeline; input topics are named after the case and hold values.
		build  func(tp *topology.Topology, in string) error
		input  []string
		logMsg string   // the ERROR line's message
		want   []string // what the error must say
	}{{
		name: "stage",
		build: func(tp *topology.Topology, in string) error {
			tp.Flow("index").From(tp.Topic(in)).Via(stages.Map("check", failAtTwo)).To(&recordingSink{})
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "index": stage "check": {in}/0@2 (key "k2"): n=2 is not allowed here`},
	}, {
		name: "join-input-stage",
		build: func(tp *topology.Topology, in string) error {
			customers := tp.Topic(in + "-customers")
			customerRows := tp.Table("customers", customers)
			join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
			if err != nil {
				return err
			}
			tp.Flow("index").From(tp.Topic(in)).Via(stages.Map("check", failAtTwo)).Join(customerRows, join).To(&recordingSink{})
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "index": stage "check": {in}/0@2 (key "k2"): n=2 is not allowed here`},
	}, {
		name: "stage-before-count",
		build: func(tp *topology.Topology, in string) error {
			count, err := stages.Count("count")
			if err != nil {
				return err
			}
			tp.Flow("counts").From(tp.Topic(in)).Via(stages.Map("check", failAtTwo)).Keyed(count).To(&recordingSink{})
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "counts": stage "check": {in}/0@2 (key "k2"): n=2 is not allowed here`},
	}, {
		name: "keyed-apply",
		build: func(tp *topology.Topology, in string) error {
			sum, err := stages.Aggregate("sum", func(acc int64, r stream.Record) (int64, error) {
				if _, err := failAtTwo(r); err != nil {
					return acc, err
				}
				return acc + 1, nil
			})
			if err != nil {
				return err
			}
			tp.Flow("sums").From(tp.Topic(in)).Keyed(sum).To(&recordingSink{})
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "sums": stage "sum": {in}/0@2 (key "k2"): n=2 is not allowed here`},
	}, {
		name: "stage-panics",
		build: func(tp *topology.Topology, in string) error {
			tp.Flow("index").From(tp.Topic(in)).Via(stages.Map("check", func(r stream.Record) (stream.Record, error) {
				if _, err := failAtTwo(r); err != nil {
					var seen map[string]bool
					seen["n"] = true // a bug: assignment to entry in nil map
				}
				return r, nil
			})).To(&recordingSink{})
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "index": stage "check": {in}/0@2 (key "k2"): panicked: assignment to entry in nil map`},
	}, {
		name: "keyed-apply-panics",
		build: func(tp *topology.Topology, in string) error {
			sum, err := stages.Aggregate("sum", func(acc int64, r stream.Record) (int64, error) {
				if _, err := failAtTwo(r); err != nil {
					var seen map[string]bool
					seen["n"] = true // a bug: assignment to entry in nil map
				}
				return acc + 1, nil
			})
			if err != nil {
				return err
			}
			tp.Flow("sums").From(tp.Topic(in)).Keyed(sum).To(&recordingSink{})
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "sums": stage "sum": {in}/0@2 (key "k2"): panicked: assignment to entry in nil map`},
	}, {
		name: "keyed-output-too-large",
		build: func(tp *topology.Topology, in string) error {
			grow, err := stages.Aggregate("grow", func(acc string, r stream.Record) (string, error) {
				if _, err := failAtTwo(r); err != nil {
					return strings.Repeat("x", 2<<20), nil
				}
				return acc, nil
			})
			if err != nil {
				return err
			}
			tp.Flow("sizes").From(tp.Topic(in)).Keyed(grow).To(&recordingSink{})
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "sizes"`, `stage "grow"`, `key "k2"`, "more than the 1000000 the producer takes"},
	}, {
		name: "codec",
		build: func(tp *topology.Topology, in string) error {
			tp.Flow("index").From(tp.Topic(in)).To(&recordingSink{})
			return nil
		},
		input:  []string{`{"n":0}`, `{"n":1}`, `{"n":`, `{"n":3}`},
		logMsg: "flow failed",
		want:   []string{`flow "index": {in}/0@2 (key "k2"): decode value with json: `},
	}, {
		name: "sink",
		build: func(tp *topology.Topology, in string) error {
			tp.Flow("index").From(tp.Topic(in)).To(brokenSink{}, topology.BatchSize(10), topology.Linger(100*time.Millisecond))
			return nil
		},
		logMsg: "flow failed",
		want:   []string{`flow "index": sink write of `, `({in}/0@0`, `) to the test's broken sink: ` + brokenCause},
	}, {
		name: "source",
		build: func(tp *topology.Topology, in string) error {
			tp.Source("disk", brokenSource{}).To(tp.Topic(in))
			return nil
		},
		logMsg: "source task failed",
		want:   []string{`source "disk" task "disk:/data/in.log": read after position {"offset":6}: ` + brokenSourceCause},
	}, {
		name: "source-stage",
		build: func(tp *topology.Topology, in string) error {
			tp.Source("disk", brokenSource{}).Via(stages.Map("check", func(r stream.Record) (stream.Record, error) {
				return r, errors.New("not this one")
			})).To(tp.Topic(in))
			return nil
		},
		logMsg: "source task failed",
		want:   []string{`source "disk" task "disk:/data/in.log": record at position {"offset":6} (after the start): stage "check": not this one`},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := "errors-" + c.name
			input := c.input
			if input == nil {
				input = values
			}
			if !strings.HasPrefix(c.name, "source") {
				produceValues(t, brokers, in, input...)
			}
			tp := topology.New("errors-" + c.name)
			if err := c.build(tp, in); err != nil {
				t.Fatal(err)
			}
			cfg := topology.DefaultConfig()
			cfg.Brokers, cfg.HTTPAddr = brokers, "off"
			log := &testkit.LogBuffer{}
			cfg.Logger = slog.New(slog.NewJSONHandler(log, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := tp.RunWith(ctx, cfg)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("RunWith = %v (%v); want the failure; log:\n%s", err, ctx.Err(), log.String())
			}
			t.Logf("RunWith: %v", err)
			msg := err.Error()
			for _, w := range c.want {
				if w = strings.ReplaceAll(w, "{in}", in); !strings.Contains(msg, w) {
					t.Errorf("RunWith's error does not say %s", w)
				}
			}
			for _, w := range engineWording {
				if strings.Contains(msg, w) {
					t.Errorf("RunWith's error says %q", w)
				}
			}
			var errorLines []map[string]any
			for _, l := range log.Lines(`"level":"ERROR"`) {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %s: %v", l, err)
				}
				errorLines = append(errorLines, m)
			}
			if len(errorLines) != 1 {
				t.Fatalf("%d ERROR lines, want 1:\n%s", len(errorLines), strings.Join(log.Lines(`"level":"ERROR"`), "\n"))
			}
			if got := errorLines[0]["msg"]; got != c.logMsg {
				t.Errorf("ERROR line's message %q, want %q", got, c.logMsg)
			}
			if got := errorLines[0]["err"]; got != msg {
				t.Errorf("ERROR line's err %q\nRunWith's error  %q\nwant the same", got, msg)
			}
		})
	}
}
