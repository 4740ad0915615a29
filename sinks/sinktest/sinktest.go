// Package sinktest is the conformance suite of sink connectors: the contract of package sinks written as
// tests that any connector runs against a real instance of its destination, in the manner of watermill's
// tests.TestPubSub and Conduit's AcceptanceTest.
//
// Run checks:
//   - Write: Open, a batch written is durable when Write returns nil (read back from the destination),
//     Close returns nil.
//   - Rewrite: the engine writes a batch again after a failure, a restart or a retry. A sink that claims
//     Idempotent then holds each record once; any other sink holds each at least once.
//   - Rejected (when Config.Bad is set): a batch mixing good and bad records fails with a
//     *sinks.RejectedError (possibly wrapped) whose indices are in range and are exactly the bad records',
//     and every other record of the batch is durable.
//   - Errors (one subtest per Config.Faults entry): with the fault injected, Write fails with an error
//     classified as the fault says (sinks.IsRetryable), never a rejection; once the fault is repaired, the
//     same batch written again is durable.
//
// Records are compared by Config.ID, which names a record as Config.ReadBack names what the destination
// holds.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
)

// Config says how to build the connector under test and how to read its destination back.
type Config struct {
	// NewSink returns a new, unopened sink over the test's destination. The suite opens and closes it.
	NewSink func(t *testing.T) sinks.Sink
	// Record returns the i-th good record; distinct i give distinct records (by ID). The suite sets Offset.
	Record func(i int) stream.Record
	// ReadBack returns the ID of every record the destination holds now, each copy once (a record
	// written twice to a log appears twice; a document overwritten once). It may poll until the
	// destination shows what was acknowledged, if the destination is eventually consistent.
	ReadBack func(t *testing.T) []string
	// ID names a record as ReadBack does.
	ID func(stream.Record) string
	// Idempotent is true when writing a batch twice leaves one copy of each record (a sink keyed by a
	// document id), false when it may leave two (an append-only log).
	Idempotent bool
	// Bad returns the i-th record the destination refuses for good (bad data); nil: the sink never rejects.
	Bad func(i int) stream.Record
	// Faults are failures of the destination the suite injects, one subtest each.
	Faults []Fault
	// BatchSize is the size of the batches written (default 10).
	BatchSize int
	// Timeout bounds each Write (default 30 s).
	Timeout time.Duration
}

// Fault is a failure of the destination and how the sink must classify the Write error it causes.
type Fault struct {
	Name string
	// Inject makes the destination fail (or the open sink s: a closed file) and returns how to repair it
	// (nil: it cannot be repaired, the suite does not write again).
	Inject func(t *testing.T, s sinks.Sink) (repair func())
	// Retryable is the class the Write error must have: sinks.IsRetryable(err) == Retryable. A sink that
	// retries by itself until a timeout of its own returns a permanent error once it gives up.
	Retryable bool
}

// Run runs the suite as subtests of t. The subtests write distinct records to the same destination.
func Run(t *testing.T, cfg Config) {
	if cfg.NewSink == nil || cfg.Record == nil || cfg.ReadBack == nil || cfg.ID == nil {
		t.Fatal("sinktest: Config.NewSink, Record, ReadBack and ID are required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	s := &suite{cfg: cfg}
	t.Run("Write", s.write)
	t.Run("Rewrite", s.rewrite)
	if cfg.Bad != nil {
		t.Run("Rejected", s.rejected)
	}
	for _, f := range cfg.Faults {
		t.Run("Errors/"+f.Name, func(t *testing.T) { s.fault(t, f) })
	}
}

type suite struct {
	cfg  Config
	next atomic.Int64 // the next record index, so that subtests write distinct records
}

// batch returns n new good records.
func (s *suite) batch(n int) []stream.Record {
	out := make([]stream.Record, n)
	for i := range out {
		k := int(s.next.Add(1))
		out[i] = s.cfg.Record(k)
		out[i].Offset = int64(k)
	}
	return out
}

// open returns an opened sink, closed (and checked) at the end of the test.
func (s *suite) open(t *testing.T) sinks.Sink {
	t.Helper()
	sink := s.cfg.NewSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := sink.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := sink.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sink
}

func (s *suite) writeBatch(t *testing.T, sink sinks.Sink, batch []stream.Record) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	return sink.Write(ctx, batch)
}

// copies counts the copies of each of recs the destination holds.
func (s *suite) copies(t *testing.T, recs []stream.Record) map[string]int {
	t.Helper()
	held := map[string]int{}
	for _, id := range s.cfg.ReadBack(t) {
		held[id]++
	}
	out := map[string]int{}
	for _, r := range recs {
		out[s.cfg.ID(r)] = held[s.cfg.ID(r)]
	}
	return out
}

// durable fails the test unless the destination holds every record of recs, exactly once when once.
func (s *suite) durable(t *testing.T, recs []stream.Record, once bool, after string) {
	t.Helper()
	for id, n := range s.copies(t, recs) {
		switch {
		case n == 0:
			t.Errorf("%s: record %s is not in the destination", after, id)
		case once && n > 1:
			t.Errorf("%s: record %s is in the destination %d times, want once (the sink claims Idempotent)", after, id, n)
		}
	}
}

func (s *suite) write(t *testing.T) {
	sink := s.open(t)
	batch := s.batch(s.cfg.BatchSize)
	if err := s.writeBatch(t, sink, batch); err != nil {
		t.Fatalf("Write: %v", err)
	}
	s.durable(t, batch, true, "after Write returned nil")
	if err := s.writeBatch(t, sink, nil); err != nil {
		t.Errorf("Write of an empty batch: %v", err)
	}
}

func (s *suite) rewrite(t *testing.T) {
	sink := s.open(t)
	batch := s.batch(s.cfg.BatchSize)
	for i := range 2 {
		if err := s.writeBatch(t, sink, batch); err != nil {
			t.Fatalf("Write %d of the same batch: %v", i+1, err)
		}
	}
	s.durable(t, batch, s.cfg.Idempotent, "after the same batch was written twice")
	// A new sink value over the same destination (a restarted process) writes the batch a third time.
	if err := s.writeBatch(t, s.open(t), batch); err != nil {
		t.Fatalf("Write of the same batch by a new sink: %v", err)
	}
	s.durable(t, batch, s.cfg.Idempotent, "after a new sink wrote the batch again")
}

func (s *suite) rejected(t *testing.T) {
	sink := s.open(t)
	good := s.batch(s.cfg.BatchSize)
	batch := slices.Clone(good)
	var badAt []int
	for _, at := range []int{1, len(batch) + 1} { // one in the middle, one at the end
		k := int(s.next.Add(1))
		bad := s.cfg.Bad(k)
		bad.Offset = int64(k)
		batch = slices.Insert(batch, at, bad)
		badAt = append(badAt, at)
	}
	err := s.writeBatch(t, sink, batch)
	var rej *sinks.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Write of a batch with bad records at %v: %v; want a *sinks.RejectedError", badAt, err)
	}
	var got []int
	for _, x := range rej.Rejections {
		if x.Index < 0 || x.Index >= len(batch) {
			t.Errorf("rejection index %d out of the batch's range [0, %d)", x.Index, len(batch))
		}
		if x.Reason == nil {
			t.Errorf("rejection of record %d has no Reason", x.Index)
		}
		got = append(got, x.Index)
	}
	slices.Sort(got)
	if !slices.Equal(got, badAt) {
		t.Errorf("rejected indices %v, want %v", got, badAt)
	}
	s.durable(t, good, true, "after a Write that rejected "+fmt.Sprint(badAt))
}

func (s *suite) fault(t *testing.T, f Fault) {
	sink := s.open(t)
	if err := s.writeBatch(t, sink, s.batch(1)); err != nil {
		t.Fatalf("Write before the fault: %v", err)
	}
	repair := f.Inject(t, sink)
	batch := s.batch(s.cfg.BatchSize)
	err := s.writeBatch(t, sink, batch)
	var rej *sinks.RejectedError
	switch {
	case err == nil:
		t.Fatalf("Write during fault %q returned nil", f.Name)
	case errors.As(err, &rej):
		t.Fatalf("Write during fault %q: %v; a failure of the destination is not a rejection", f.Name, err)
	case sinks.IsRetryable(err) != f.Retryable:
		t.Fatalf("Write during fault %q: %v: IsRetryable = %v, want %v", f.Name, err, sinks.IsRetryable(err), f.Retryable)
	}
	if repair == nil {
		return
	}
	repair()
	if err := s.writeBatch(t, sink, batch); err != nil {
		t.Fatalf("Write of the same batch after the fault was repaired: %v", err)
	}
	s.durable(t, batch, false, "after the fault was repaired")
}
