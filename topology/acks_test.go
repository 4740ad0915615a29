package topology

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

func pos(s string) stream.Position { return stream.Position(s) }

// The position only moves to a record once it and every record before it were acknowledged.
func TestAckTrackerHighestContiguous(t *testing.T) {
	tr := newAckTracker(pos("start"))
	a := tr.add(pos("a"), 1)
	b := tr.add(pos("b"), 2) // a record a stage split into two messages
	c := tr.add(pos("c"), 1)
	tr.add(pos("d"), 0) // filtered: completes with the records before it

	check := func(want string, outstanding int) {
		t.Helper()
		got, n, _, err := tr.state()
		if string(got) != want || n != outstanding || err != nil {
			t.Fatalf("state = %s, %d outstanding, %v; want %s, %d", got, n, err, want, outstanding)
		}
	}
	check("start", 4)
	tr.done(c, nil) // out of order: c waits for a and b
	check("start", 4)
	tr.done(a, nil)
	check("a", 3)
	tr.done(b, nil) // one of b's two messages
	check("a", 3)
	tr.done(b, nil)
	check("d", 0) // b, c and the filtered d complete together
}

func TestAckTrackerTruncateAndErrors(t *testing.T) {
	tr := newAckTracker(nil)
	a := tr.add(pos("a"), 1)
	b := tr.add(pos("b"), 1)
	tr.truncate(b) // b was never handed to the producer
	tr.done(b, nil)
	if got, n, _, _ := tr.state(); got != nil || n != 1 {
		t.Fatalf("after truncate: position %s, %d outstanding", got, n)
	}
	tr.done(a, nil)
	if got, n, _, _ := tr.state(); string(got) != "a" || n != 0 {
		t.Fatalf("position %s, %d outstanding; want a, 0", got, n)
	}
	c := tr.add(pos("c"), 1)
	boom := errors.New("broker says no")
	tr.done(c, boom)
	got, _, _, err := tr.state()
	if !errors.Is(err, boom) || string(got) != "a" {
		t.Fatalf("after a failed produce: position %s, err %v; want a, %v", got, err, boom)
	}
}

// The first failed message fences the task: failure reports it, failed is closed (once, however many
// messages fail), and the position stays at the HighestContiguousAck before the failed record even when
// later records are acknowledged.
func TestAckTrackerFence(t *testing.T) {
	tr := newAckTracker(pos("start"))
	a := tr.add(pos("a"), 1)
	b := tr.add(pos("b"), 1)
	c := tr.add(pos("c"), 1)
	if tr.failure() != nil {
		t.Fatal("fenced before any failure")
	}
	select {
	case <-tr.failed:
		t.Fatal("failed closed before any failure")
	default:
	}
	tr.done(a, nil)
	first, second := errors.New("record b refused"), errors.New("record c refused")
	tr.done(b, first)
	tr.done(c, second) // a second failure neither replaces the first nor closes failed again
	tr.done(c, nil)
	select {
	case <-tr.failed:
	default:
		t.Fatal("failed not closed after a failure")
	}
	if err := tr.failure(); !errors.Is(err, first) {
		t.Fatalf("failure() = %v, want %v", err, first)
	}
	if got, outstanding, _, _ := tr.state(); string(got) != "a" || outstanding != 2 {
		t.Fatalf("position %s with %d outstanding; want a (before the failed b), 2", got, outstanding)
	}
}
