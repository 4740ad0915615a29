package topology_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// seqSink keeps every record's value, as JSON, per key, in arrival order.
type seqSink struct {
	mu  sync.Mutex
	got map[string][]string
}

func (s *seqSink) Open(context.Context) error { return nil }
func (s *seqSink) Close() error               { return nil }
func (s *seqSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		key, _ := stream.KeyString(r.Key)
		s.got[key] = append(s.got[key], jsonOf(r.Value))
	}
	return nil
}

func (s *seqSink) seq(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got[key]...)
}

func jsonOf(v any) string {
	codec, _ := stream.LookupCodec("json")
	b, _ := codec.Encode(nil, v)
	return string(b)
}

// Dedupe and Count keep their state per key in goka tables: duplicates are dropped and counts go on across
// a restart.
func TestDedupeAndCount(t *testing.T) {
	f := newJoinFixture(t)
	deduped, counted := &seqSink{got: map[string][]string{}}, &seqSink{got: map[string][]string{}}
	run := func() func() {
		tp := topology.New("keyed")
		events := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(3))
		dedupe, err := stages.Dedupe("dedupe", 0)
		if err != nil {
			t.Fatal(err)
		}
		count, err := stages.Count("count")
		if err != nil {
			t.Fatal(err)
		}
		tp.Flow("unique").From(events).Keyed(dedupe).To(deduped, topology.Linger(5*time.Millisecond))
		tp.Flow("counts").From(events).Keyed(count).To(counted, topology.Linger(5*time.Millisecond))
		cfg := topology.DefaultConfig()
		cfg.Brokers, cfg.HTTPAddr = f.brokers, "off"
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		return startRun(t, tp, cfg)
	}
	waitFor := func(s *seqSink, key string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := s.seq(key)
			if len(got) == len(want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("key %s: got %v, want %v", key, got, want)
					}
				}
				return
			}
			if len(got) > len(want) || time.Now().After(deadline) {
				t.Fatalf("key %s: got %v, want %v", key, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Count's outputs carry the record's original key, {"id":1} here.
	counts := func(key, n int) []string {
		var want []string
		for i := 1; i <= n; i++ {
			want = append(want, fmt.Sprintf(`{"count":%d,"key":{"id":%d}}`, i, key))
		}
		return want
	}
	a1, a2 := `{"v":1}`, `{"v":2}`
	for _, v := range []string{a1, a1, a2, a2, a1} {
		f.send("orders", 1, v)
	}
	f.send("orders", 2, a1)
	stop := run()
	waitFor(deduped, "1", a1, a2, a1)
	waitFor(deduped, "2", a1)
	waitFor(counted, "1", counts(1, 5)...)
	stop()

	stop = run()
	defer stop()
	f.send("orders", 1, a1) // the same as key 1's last record: still a duplicate after the restart
	f.send("orders", 1, a2)
	waitFor(deduped, "1", a1, a2, a1, a2)
	waitFor(counted, "1", counts(1, 7)...)
}

// A crash can leave a keyed stage's table write acknowledged while the output of the same loop record was
// not: the record's offset is then not committed, and the loop record is applied again to a state that
// already holds it. Count used to count it twice, for good. Here the broker refuses the first output of the
// count stage once, after the table write; the stage's group consumes again from the committed offset (as a
// restarted pipeline would). The record must be counted once, and its lost output must still come out.
// Embedded on purpose: the refusal is injected with kfake's fault control.
func TestKeyedReplayAfterLostOutput(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	refused, refuse := context.WithCancel(context.Background())
	cluster.Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Topic: "lost.counts.count.out", Err: kerr.InvalidRecord,
		When: func(kmsg.Request) bool {
			refuse()
			return true
		},
	})
	testkit.CreateTopic(t, brokers, "orders", 1)
	send := func(value string) {
		t.Helper()
		testkit.Produce(t, brokers, "orders", testkit.Message{Partition: 0, Key: []byte(`{"id":1}`), Value: []byte(value)})
	}
	counted := &seqSink{got: map[string][]string{}}
	tp := topology.New("lost")
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(1))
	count, err := stages.Count("count")
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("counts").From(orders).Keyed(count).To(counted, topology.Linger(5*time.Millisecond))
	rcfg := quietConfig(brokers)
	rcfg.SessionTimeout = 7 * time.Second

	send(`{"v":1}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, rcfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith = %v", err)
		}
	}()
	select {
	case <-refused.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("the count stage never wrote its output")
	}
	send(`{"v":2}`)
	want := []string{`{"count":1,"key":{"id":1}}`, `{"count":2,"key":{"id":1}}`}
	deadline := time.Now().Add(60 * time.Second)
	for got := counted.seq("1"); !slices.Equal(got, want); got = counted.seq("1") {
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("counts of key 1: got %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
