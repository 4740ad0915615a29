package topology_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
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
		tp.Flow("unique").From(events).Via(dedupe).To(deduped, topology.LingerMillis(5))
		tp.Flow("counts").From(events).Via(count).To(counted, topology.LingerMillis(5))
		cfg := topology.DefaultConfig()
		cfg.Brokers, cfg.HTTPAddr = f.brokers, "off"
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
