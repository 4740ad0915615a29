package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

func mustCount(t *testing.T, name string) stages.Keyed {
	t.Helper()
	k, err := stages.Count(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// collisionCases are declarations whose derived names collide, each with the texts its Validate error must
// hold (both parties named) and, with none, the texts it must not hold.
func collisionCases(t *testing.T) []struct {
	name    string
	build   func() *topology.Topology
	want    []string
	notWant []string
} {
	return []struct {
		name    string
		build   func() *topology.Topology
		want    []string
		notWant []string
	}{
		{"flow a step b vs source a.b", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("events")
			tp.Source("a.b", nopSource{}).To(events)
			tp.Flow("a").From(events).Keyed(mustCount(t, "b")).To(nopSink{})
			return tp
		}, []string{`source "a.b" and flow "a" stateful step "b" (step 0) derive the same consumer group "p.a.b"`}, nil},
		{"flow a step b.c vs flow a.b step c", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("events")
			tp.Flow("a").From(events).Keyed(mustCount(t, "b.c")).To(nopSink{})
			tp.Flow("a.b").From(events).Keyed(mustCount(t, "c")).To(nopSink{})
			return tp
		}, []string{`flow "a" stateful step "b.c" (step 0) and flow "a.b" stateful step "c" (step 0) derive the same consumer group "p.a.b.c"`}, nil},
		{"flow a.b vs flow a step b", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("events")
			tp.Flow("a").From(events).Keyed(mustCount(t, "b")).To(nopSink{})
			tp.Flow("a.b").From(events).To(nopSink{})
			return tp
		}, []string{`flow "a" stateful step "b" (step 0) and flow "a.b" derive the same consumer group "p.a.b"`}, nil},
		{"two stateful steps with one name in one flow", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("events")
			unwrap, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{})
			tp.Flow("f").From(events).Keyed(mustCount(t, "count")).Via(unwrap).Keyed(mustCount(t, "count")).To(nopSink{})
			return tp
		}, []string{`flow "f": steps 0 and 2 are stateful and both named "count": they would share consumer group "p.f.count"`}, nil},
		{"a join and a keyed step with one name", func() *topology.Topology {
			tp := topology.New("p")
			orders, customers := tp.Topic("orders"), tp.Topic("customers")
			join, _ := stages.LookupJoin("enrich", "customer_id", "customer")
			tp.Flow("f").From(orders).Join(tp.Table("customers", customers), join).Keyed(mustCount(t, "enrich")).To(nopSink{})
			return tp
		}, []string{`flow "f": steps 0 and 1 are stateful and both named "enrich"`}, nil},
		{"control topic declared as a user topic", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("p.files.control")
			tp.Source("files", nopSource{}).To(events)
			return tp
		}, []string{`topic "p.files.control": the name of the control topic of source "files"`}, nil},
		{"position table declared as a user topic", func() *topology.Topology {
			tp := topology.New("p")
			tp.Source("files", nopSource{}).To(tp.Topic("lines"))
			tp.Flow("copy").From(tp.Topic("p.files-table")).To(nopSink{})
			return tp
		}, []string{`topic "p.files-table": the name of the position table of source "files"`}, nil},
		{"step topics declared as user topics", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("events")
			tp.Topic("p.f.count.out")
			tp.Topic("p.f.count-loop")
			tp.Topic("p.f.count-table")
			tp.Flow("f").From(events).Keyed(mustCount(t, "count")).To(nopSink{})
			return tp
		}, []string{
			`topic "p.f.count.out": the name of the step output of flow "f" stateful step "count" (step 0)`,
			`topic "p.f.count-loop": the name of the step loop of flow "f" stateful step "count" (step 0)`,
			`topic "p.f.count-table": the name of the step table of flow "f" stateful step "count" (step 0)`,
		}, nil},
		{"one sink value in two flows", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("events")
			shared := &ptrSink{}
			tp.Flow("index").From(events).To(shared)
			tp.Flow("archive").From(events).To(shared)
			tp.Flow("other").From(events).To(&ptrSink{})
			return tp
		}, []string{`flows "index" and "archive" write to the same sink value`}, []string{`"other"`}},
		{"a derived topic name too long for Kafka", func() *topology.Topology {
			tp := topology.New(strings.Repeat("p", 120))
			events := tp.Topic("events")
			tp.Flow(strings.Repeat("f", 120)).From(events).Keyed(mustCount(t, "count")).To(nopSink{})
			return tp
		}, []string{`stateful step "count" (step 0): its step output "ppp`, `is longer than the 249 characters Kafka allows`}, nil},
		{"two tables with one name", func() *topology.Topology {
			tp := topology.New("p")
			events := tp.Topic("events")
			tp.Table("rows", tp.Topic("a"))
			tp.Table("rows", tp.Topic("b"))
			tp.Flow("f").From(events).To(nopSink{})
			return tp
		}, []string{`table "rows": declared twice`}, nil},
		{"a source and a flow with one name are reported once", func() *topology.Topology {
			tp := topology.New("p")
			lines := tp.Topic("lines")
			tp.Source("x", nopSource{}).To(lines)
			tp.Flow("x").From(lines).To(nopSink{})
			return tp
		}, []string{`flow "x": name already used by a source`}, []string{"derive the same"}},
	}
}

func TestValidateRefusesNameCollisions(t *testing.T) {
	for _, tc := range collisionCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.build().Validate()
			if !errors.Is(err, topology.ErrInvalidTopology) {
				t.Fatalf("Validate() = %v, want ErrInvalidTopology", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error says %q:\n%v", w, err)
				}
			}
		})
	}
}

// Every collision also keeps Run from starting: no broker, no data dir.
func TestRunRefusesNameCollisionsBeforeStarting(t *testing.T) {
	for _, tc := range collisionCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := topology.DefaultConfig()
			cfg.DataDir = dir + "/data"
			cfg.BrokerAddr = "127.0.0.1:0"
			cfg.HTTPAddr = "off"
			err := tc.build().RunWith(context.Background(), cfg)
			if !errors.Is(err, topology.ErrInvalidTopology) {
				t.Fatalf("RunWith = %v, want ErrInvalidTopology", err)
			}
			if !strings.Contains(err.Error(), tc.want[0]) {
				t.Errorf("RunWith's error does not say %q:\n%v", tc.want[0], err)
			}
			if entries, _ := filepathGlob(dir + "/data"); len(entries) > 0 {
				t.Fatalf("RunWith created %v before failing", entries)
			}
		})
	}
}

// A declaration without collisions passes: names that merely share a prefix, a group named like a topic
// (Kafka keeps groups and topics apart), and one sink type used by two flows as two values.
func TestValidateAcceptsNamesThatDoNotCollide(t *testing.T) {
	tp := topology.New("p")
	events := tp.Topic("events")
	tp.Topic("p.x") // the name of flow x's group, not of a topic
	tp.Source("a", nopSource{}).To(events)
	tp.Flow("x").From(events).Keyed(mustCount(t, "b")).To(nopSink{})
	tp.Flow("a.c").From(events).To(nopSink{})
	tp.Flow("y").From(events).To(&ptrSink{})
	tp.Flow("z").From(events).To(&ptrSink{})
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEngineNames(t *testing.T) {
	tp := topology.New("p")
	orders, customers := tp.Topic("orders"), tp.Topic("customers")
	tp.Source("cdc", nopSource{}).To(orders)
	join, _ := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	tp.Flow("index").From(orders).Join(tp.Table("customers", customers), join).Keyed(mustCount(t, "count")).To(nopSink{})
	var got []string
	for _, n := range tp.EngineNames() {
		got = append(got, fmt.Sprintf("%s %s %s (%s)", n.Kind, n.Name, n.Owner, n.Role))
	}
	want := []string{
		`consumer group p.cdc source "cdc" (source group)`,
		`topic p.cdc.control source "cdc" (control topic)`,
		`topic p.cdc-table source "cdc" (position table)`,
		`consumer group p.index flow "index" (flow group)`,
		`consumer group p.index.with-customer flow "index" stateful step "with-customer" (step group)`,
		`topic p.index.with-customer.out flow "index" stateful step "with-customer" (step output)`,
		`topic p.index.with-customer-loop flow "index" stateful step "with-customer" (step loop)`,
		`topic p.index.with-customer-table flow "index" stateful step "with-customer" (step table)`,
		`consumer group p.index.count flow "index" stateful step "count" (step group)`,
		`topic p.index.count.out flow "index" stateful step "count" (step output)`,
		`topic p.index.count-loop flow "index" stateful step "count" (step loop)`,
		`topic p.index.count-table flow "index" stateful step "count" (step table)`,
		`topic p.status pipeline "p" (status topic)`,
		`topic p.commands pipeline "p" (commands topic)`,
		`topic p.audit pipeline "p" (audit topic)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("EngineNames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// ptrSink is a sink held by pointer, as sinks with state are.
type ptrSink struct {
	nopSink
	written int
}

// The topics a run creates are exactly the declared ones and EngineNames' topics (goka creates none of its
// own), and its source, flow and step groups commit under EngineNames' group names.
func TestRunCreatesTheEngineNames(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	tp := topology.New("names")
	events, counts := tp.Topic("events"), tp.Topic("counts")
	tp.Source("gen", multiTopicSource{topics: []string{"", "", ""}}).To(events)
	tp.Flow("counts").From(events).Keyed(mustCount(t, "count")).ToTopic(counts, topology.Linger(5*time.Millisecond))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(&testkit.LogBuffer{}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	testkit.WaitRecords(t, brokers, "counts", 3, 30*time.Second)

	want := []string{"counts", "events"}
	groups := map[string]string{} // group -> a topic it consumes
	for _, n := range tp.EngineNames() {
		switch {
		case n.Kind == topology.TopicName:
			want = append(want, n.Name)
		case n.Role == "flow group":
			groups[n.Name] = "names.counts.count.out"
		case n.Role == "step group":
			groups[n.Name] = "events"
		case n.Role == "source group":
			groups[n.Name] = "names.gen.control"
		}
	}
	slices.Sort(want)
	if got := testkit.Topics(t, brokers); !slices.Equal(got, want) {
		t.Errorf("topics of the run:\n%q\nwant the declared and EngineNames' topics:\n%q", got, want)
	}
	committed := func(group, topic string) bool { // on any partition: the control topic's task is on one of 12
		for p := range testkit.HighWaterMarks(t, brokers, topic) {
			if testkit.CommittedOffset(t, brokers, group, topic, p) >= 0 {
				return true
			}
		}
		return false
	}
	for group, topic := range groups {
		deadline := time.Now().Add(30 * time.Second)
		for !committed(group, topic) {
			if time.Now().After(deadline) {
				t.Fatalf("group %s committed nothing on %s", group, topic)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("RunWith = %v", err)
	}
}

// stateless is a sink without state: two of its values may share an address.
type stateless struct{ nopSink }

func TestValidateAcceptsZeroSizeSinkPointers(t *testing.T) {
	tp := topology.New("p")
	events := tp.Topic("events")
	s := &stateless{}
	tp.Flow("a").From(events).To(s)
	tp.Flow("b").From(events).To(s)
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}
}
