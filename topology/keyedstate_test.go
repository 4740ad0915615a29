package topology

import (
	"reflect"
	"testing"
)

// A table value written before envelopes is the stage's bare state: it is read as that state, with no
// positions, and the next write wraps it.
func TestKeyedStateEnvelope(t *testing.T) {
	legacy := []byte(`{"count":41}`)
	st, err := decodeKeyedState(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if string(st.State) != `{"count":41}` || st.Applied != nil || st.Last != nil || st.Outputs != nil {
		t.Fatalf("legacy value read as %+v", st)
	}

	st = keyedState{
		State:   []byte{0, 1, 2}, // opaque, binary included
		Applied: map[string]appliedPosition{"orders/3": {Offset: 17, Index: 1}},
		Last:    &loopOrigin{Topic: "orders", Partition: 3, Offset: 17, Index: 1},
		Outputs: []keyedOutputRecord{{Key: []byte(`k`), Value: []byte(`{"count":42}`)}, {Key: []byte(`k`)}},
	}
	b, err := encodeKeyedState(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeKeyedState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip: got %+v, want %+v", back, st)
	}
	if _, err := decodeKeyedState(append([]byte(keyedStateMagic), "{"...)); err == nil {
		t.Error("a damaged envelope was accepted")
	}
}

// An origin is at or before a position of its topic and partition by offset, then by output index.
func TestOriginOrder(t *testing.T) {
	at := appliedPosition{Offset: 10, Index: 1}
	for _, c := range []struct {
		offset int64
		index  int
		want   bool
	}{{9, 5, true}, {10, 0, true}, {10, 1, true}, {10, 2, false}, {11, 0, false}} {
		if got := (loopOrigin{Offset: c.offset, Index: c.index}).atOrBefore(at); got != c.want {
			t.Errorf("%d/%d at or before 10/1 = %v, want %v", c.offset, c.index, got, c.want)
		}
	}
}
