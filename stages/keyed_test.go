package stages_test

import (
	"errors"
	"fmt"
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
	if _, isStage := any(sum).(stages.Stage); isStage {
		t.Error("a Keyed step is a Stage: it would be accepted where only stateless stages run")
	}
}

// Count's output carries the record's key, in the value and as the record's key; with a key schema the
// value is a struct of that key and an int64 count.
func TestCountCarriesKey(t *testing.T) {
	count, err := stages.Count("count")
	if err != nil {
		t.Fatal(err)
	}
	jsonCodec, _ := stream.LookupCodec("json")
	key := map[string]any{"id": int64(7)}
	var state []byte
	for n := 1; n <= 2; n++ {
		next, out, err := count.Apply(state, stream.Record{Key: key, Value: "x", Operation: stream.OpUpdate})
		if err != nil {
			t.Fatal(err)
		}
		b, err := jsonCodec.Encode(out[0].ValueSchema, out[0].Value)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"count":%d,"key":{"id":7}}`, n); string(b) != want {
			t.Errorf("output %d = %s, want %s", n, b, want)
		}
		if m, ok := out[0].Key.(map[string]any); !ok || m["id"] != int64(7) || out[0].Operation != stream.OpNone {
			t.Errorf("output %d: key %#v, operation %v", n, out[0].Key, out[0].Operation)
		}
		state = next
	}
	if string(state) != `{"count":2}` {
		t.Errorf("state = %s", state)
	}

	keySchema, err := stream.NewStruct("shop.orders.Key").Field("id", stream.Int32Schema()).Build()
	if err != nil {
		t.Fatal(err)
	}
	structKey, _ := stream.NewStructValue(keySchema)
	if err := structKey.Put("id", int32(9)); err != nil {
		t.Fatal(err)
	}
	_, out, err := count.Apply(nil, stream.Record{KeySchema: keySchema, Key: structKey})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := out[0].Value.(*stream.Struct)
	if !ok || out[0].ValueSchema == nil {
		t.Fatalf("value with a key schema = %#v, schema %v", out[0].Value, out[0].ValueSchema)
	}
	if n, err := v.GetInt64("count"); err != nil || n != 1 {
		t.Errorf("count = %d, %v", n, err)
	}
	if k, err := v.GetStruct("key"); err != nil || k.Get("id") != int32(9) {
		t.Errorf("key = %v, %v", k, err)
	}
	if _, err := stages.Count(""); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("Count without a name: %v", err)
	}
}
