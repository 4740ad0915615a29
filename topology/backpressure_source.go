package topology

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
)

// Backpressure on the source -> Kafka edge.
//
// A source task hands each record's messages to the producer and keeps the record pending until Kafka
// acknowledged them (ackTracker). With the default policy, BLOCK, a task whose producer buffer is full
// waits: it reads at Kafka's pace, and memory is bounded by the producer's buffers. A source may choose:
//
//   - ERROR: when Kafka has acknowledged nothing of the source's for Wait while messages are pending (or the
//     producer has not taken a message within Wait), the next record fails the task, and with it the
//     pipeline, with an ErrBackpressure error naming the source, task and the record's position; nothing
//     after the record is sent and the saved position stays before it.
//   - DROP: while MaxRecords messages or MaxBytes bytes of the source (all its tasks on this replica) are
//     sent and not yet acknowledged by Kafka, each newly read record is discarded. Its position counts as
//     done: the saved position moves past it once the records before it were acknowledged. Counted in
//     sluice_backpressure_dropped_total{edge="source-kafka"}.
//
// LATEST and BUFFER are for flows (the Kafka -> sink edge): in front of Kafka, Kafka itself is the buffer
// and the records of a key are already coalesced by a compacted topic. Validate refuses them on a source.

// sourceBackpressureEdge is the edge label of the source -> Kafka edge in metrics and status.
const sourceBackpressureEdge = "source-kafka"

// SourceBackpressure sets a source's backpressure policy on its source -> Kafka edge: BLOCK (default),
// ERROR or DROP (see backpressure_source.go). It is a SourceOption: t.Source("logs", src,
// topology.SourceBackpressure(topology.BackpressurePolicy{Mode: topology.BackpressureDrop, MaxRecords: 10_000})).
func SourceBackpressure(p BackpressurePolicy) SourceOption {
	return func(s *SourceNode) { s.backpressure = &p }
}

// validateBackpressure reports the mistakes in a source's backpressure policy, naming the source and field.
func (s *SourceNode) validateBackpressure(add func(string, ...any)) {
	p := s.backpressure
	if p == nil {
		return
	}
	bad := func(field, format string, a ...any) {
		add("source %q: SourceBackpressure %s: %s", s.name, field, fmt.Sprintf(format, a...))
	}
	switch p.Mode {
	case BackpressureBlock, BackpressureError, BackpressureDrop:
	case BackpressureLatest, BackpressureBuffer:
		bad("Mode", "%s applies to flows (their Kafka -> sink edge); a source takes BLOCK, ERROR or DROP", p.Mode)
		return
	default:
		bad("Mode", "unknown mode %d (BLOCK, ERROR or DROP)", int(p.Mode))
		return
	}
	if p.MaxRecords < 0 {
		bad("MaxRecords", "must not be negative, got %d", p.MaxRecords)
	}
	if p.MaxBytes < 0 {
		bad("MaxBytes", "must not be negative, got %d", p.MaxBytes)
	}
	if p.Wait < 0 {
		bad("Wait", "must not be negative, got %v", p.Wait)
	}
	if p.Wait != 0 && p.Mode != BackpressureError {
		bad("Wait", "applies to ERROR only, the mode is %s", p.Mode)
	}
	if p.Mode != BackpressureDrop && (p.MaxRecords != 0 || p.MaxBytes != 0) {
		bad("MaxRecords", "MaxRecords and MaxBytes apply to DROP only, the mode is %s", p.Mode)
	}
	if p.Then != BackpressureBlock || p.SpillDir != "" || p.MaxDiskBytes != 0 {
		bad("Then", "Then, SpillDir and MaxDiskBytes apply to a flow's BUFFER only")
	}
}

// sourceEdge applies a source's ERROR or DROP policy; nil (BLOCK) sends as before.
type sourceEdge struct {
	r             *sourceRunner
	pol           BackpressurePolicy
	pending       atomic.Int64 // messages sent and not yet answered by Kafka
	pendingBytes  atomic.Int64
	progress      atomic.Int64 // Unix ns of Kafka's last answer, or of the send that made pending non-zero
	dropped       atomic.Int64
	droppedMetric interface{ Inc() }
}

func (r *sourceRunner) newSourceEdge() *sourceEdge {
	if r.n.backpressure == nil || r.n.backpressure.Mode == BackpressureBlock {
		return nil
	}
	return &sourceEdge{r: r, pol: r.n.backpressure.effective("", "", ""),
		droppedMetric: r.p.metrics.BackpressureDropped.WithLabelValues(r.p.t.name, sourceBackpressureEdge, r.n.name, "")}
}

// drop reports whether a record whose messages are msgs is discarded (DROP with too much pending), and
// counts it.
func (e *sourceEdge) drop(msgs []kafka.Message) bool {
	if e == nil || e.pol.Mode != BackpressureDrop || len(msgs) == 0 {
		return false
	}
	if e.pending.Load() < int64(e.pol.MaxRecords) && e.pendingBytes.Load() < e.pol.MaxBytes {
		return false
	}
	e.dropped.Add(1)
	e.droppedMetric.Inc()
	return true
}

// send hands msg to producer; ack is called once Kafka answered. Under ERROR it waits at most Wait for the
// producer to take it and then returns an ErrBackpressure error (ack is then never called).
func (e *sourceEdge) send(producer *kafka.Producer, msg kafka.Message, ack kafka.Ack) error {
	if e == nil {
		return producer.Send(context.Background(), msg, ack)
	}
	if e.pol.Mode == BackpressureError && e.pending.Load() > 0 {
		if since := time.Since(time.Unix(0, e.progress.Load())); since > e.pol.Wait {
			return fmt.Errorf("%w ERROR on the edge source %q -> topic %q: Kafka has acknowledged nothing for %v (Wait %v) with %d messages pending; the task stops and its position stays before this record",
				ErrBackpressure, e.r.n.name, msg.Topic, since.Round(time.Millisecond), e.pol.Wait, e.pending.Load())
		}
	}
	size := int64(len(msg.Key) + len(msg.Value))
	if e.pending.Add(1) == 1 {
		e.progress.Store(time.Now().UnixNano())
	}
	e.pendingBytes.Add(size)
	answered := func(p int32, o int64, err error) {
		e.progress.Store(time.Now().UnixNano())
		e.pending.Add(-1)
		e.pendingBytes.Add(-size)
		ack(p, o, err)
	}
	ctx := context.Background()
	if e.pol.Mode == BackpressureError {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.pol.Wait)
		defer cancel()
	}
	err := producer.Send(ctx, msg, answered)
	if err != nil {
		e.pending.Add(-1)
		e.pendingBytes.Add(-size)
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w ERROR on the edge source %q -> topic %q: the producer has not taken a record for %v; the task stops and its position stays before this record",
				ErrBackpressure, e.r.n.name, msg.Topic, e.pol.Wait)
		}
	}
	return err
}

// backpressureStatus is the source's entry in this replica's status; ok is false for BLOCK.
func (r *sourceRunner) backpressureStatus() (BackpressureCounts, string, bool) {
	e := r.edge
	if e == nil {
		return BackpressureCounts{}, "", false
	}
	return BackpressureCounts{Dropped: e.dropped.Load(), Pending: int(e.pending.Load())}, e.pol.Mode.String(), true
}
