package topology

import (
	"sync"

	"github.com/sluicehq/sluice/stream"
)

// ackTracker follows one source task's records from read to Kafka acknowledgement and yields the
// HighestContiguousAck: the Position of the last record such that it and every record read before it were
// acknowledged. A record that became several Kafka messages (through ETL stages) counts as acknowledged when
// all of them are; one that became none (filtered) counts as soon as the records before it do.
type ackTracker struct {
	mu       sync.Mutex
	base     uint64 // sequence number of pending[0]
	pending  []trackedRecord
	position stream.Position // HighestContiguousAck
	acked    int             // records completed, for metrics
	err      error
	changed  chan struct{} // signalled when position advances or an error arrives
	idle     chan struct{} // signalled when nothing is outstanding
	failed   chan struct{} // closed when the first error arrives: the task is fenced

	// health, when set, hears when records become outstanding (as holder, waiting for healthWhat), when
	// they advance, and when none are left (stall detection).
	health             *component
	holder, healthWhat string
}

type trackedRecord struct {
	position    stream.Position
	outstanding int
}

func newAckTracker(start stream.Position) *ackTracker {
	return &ackTracker{position: start, changed: make(chan struct{}, 1), idle: make(chan struct{}, 1), failed: make(chan struct{})}
}

// add registers the next record read, which was turned into messages Kafka messages, and returns its
// sequence number for done.
func (t *ackTracker) add(pos stream.Position, messages int) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.base + uint64(len(t.pending))
	if len(t.pending) == 0 {
		t.health.wait(t.holder, t.healthWhat)
	}
	t.pending = append(t.pending, trackedRecord{position: pos, outstanding: messages})
	t.advance()
	return seq
}

// done records Kafka's answer for one message of record seq. The first error fences the task: failure
// returns it from then on and failed is closed, so that nothing more is sent. The failed record never
// completes, so the position never passes it.
func (t *ackTracker) done(seq uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if t.err == nil {
			t.err = err
			close(t.failed)
		}
		signal(t.changed)
		signal(t.idle) // a stopping task waits on idle: it must see the failure, not its drain deadline
		return
	}
	if seq < t.base || seq >= t.base+uint64(len(t.pending)) {
		return // truncated away
	}
	t.pending[seq-t.base].outstanding--
	t.advance()
}

// truncate forgets record seq and every later one: they were never (fully) handed to the producer, so the
// position must never move past them. Late acknowledgements for them are ignored.
func (t *ackTracker) truncate(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq < t.base {
		return
	}
	if n := seq - t.base; n < uint64(len(t.pending)) {
		t.pending = t.pending[:n]
	}
	if len(t.pending) == 0 {
		t.health.done(t.holder)
		signal(t.idle)
	}
}

// advance pops completed records off the front; called with mu held.
func (t *ackTracker) advance() {
	moved := false
	for len(t.pending) > 0 && t.pending[0].outstanding <= 0 {
		t.position = t.pending[0].position
		t.pending[0] = trackedRecord{}
		t.pending = t.pending[1:]
		t.base++
		t.acked++
		moved = true
	}
	if moved {
		t.health.progress()
		signal(t.changed)
	}
	if len(t.pending) == 0 {
		t.health.done(t.holder)
		signal(t.idle)
	}
}

// failure returns the first produce error, nil while there is none. A task checks it before every send.
func (t *ackTracker) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// state returns the HighestContiguousAck, how many records are still outstanding, how many completed in
// total, and the first produce error.
func (t *ackTracker) state() (stream.Position, int, int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.position, len(t.pending), t.acked, t.err
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
