package stages_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

func TestDedupeWindow(t *testing.T) {
	d, err := stages.Dedupe("d", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(v string, at time.Duration) stream.Record {
		return stream.Record{Key: "k", Value: v, Timestamp: t0.Add(at)}
	}
	var state []byte
	steps := []struct {
		rec  stream.Record
		emit bool
	}{
		{rec("a", 0), true},
		{rec("a", 30*time.Second), false}, // same content within the window
		{rec("a", 59*time.Second), false}, // the window runs from the first sighting
		{rec("a", 61*time.Second), true},  // outside it
		{rec("b", 62*time.Second), true},  // other content
		{rec("a", 63*time.Second), true},  // differs from the last one
	}
	for i, s := range steps {
		next, out, err := d.Apply(state, s.rec)
		if err != nil {
			t.Fatal(err)
		}
		if (len(out) == 1) != s.emit {
			t.Fatalf("step %d: emitted %d, want emit=%v", i, len(out), s.emit)
		}
		state = next
	}
	if _, err := stages.Dedupe("d", -time.Second); err == nil {
		t.Error("negative window accepted")
	}
}

func TestAggregate(t *testing.T) {
	type total struct {
		Sum int64 `json:"sum"`
	}
	sum, err := stages.Aggregate("sum", func(acc total, r stream.Record) (total, error) {
		n, ok := r.Value.(int64)
		if !ok {
			return acc, errors.New("not a number")
		}
		acc.Sum += n
		return acc, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var state []byte
	for i, n := range []int64{5, 7} {
		next, out, err := sum.Apply(state, stream.Record{Key: "k", Value: n})
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{5, 12}[i]
		if m, ok := out[0].Value.(map[string]any); !ok || m["sum"] != want {
			t.Fatalf("aggregate after %d: %#v", n, out[0].Value)
		}
		state = next
	}
	if _, _, err := sum.Apply(state, stream.Record{Value: "x"}); err == nil {
		t.Error("add's error not returned")
	}
	if _, err := sum.Process(context.Background(), stream.Record{}); !errors.Is(err, stages.ErrNeedsTopology) {
		t.Errorf("Process outside a topology: %v", err)
	}
}
