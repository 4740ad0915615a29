package topology

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/stream"
)

// Backpressure on the Kafka -> sink edge of a flow.
//
// A flow's processor hands each consumed record (after its ELT stages) to the flow's batcher. With the
// default policy, BLOCK, the processor waits while the batcher's queue is full: the flow pulls from Kafka at
// the sink's pace, Kafka holds the backlog, nothing is dropped, and memory is bounded by the queue (twice the
// batch size) and the batch being written. The other policies put a bounded buffer between the processor
// and the batcher (sinkEdge) and say what happens when it is full:
//
//   - ERROR: the processor waits at most Wait for the batcher to take a record, then the flow fails with an
//     ErrBackpressure error naming the edge, the sink and the record's topic, partition and offset (the
//     pipeline's failure path: it stops and commits nothing after that record).
//   - DROP: while MaxRecords records or MaxBytes bytes are pending, each newly consumed record is discarded.
//     Its offset is marked done at once: the flow's committed offset still never passes a pending record
//     (offsets are committed in order, see orderedCommitGroup), and passes the dropped one once the records
//     before it were written. Dropped records are counted (sluice_backpressure_dropped_total).
//   - LATEST: only the newest pending record of each key (per partition) is kept: a record whose key is
//     already pending replaces the pending one where it stands in the queue, and the replaced one is
//     counted (sluice_backpressure_coalesced_total). At most MaxRecords distinct keys (and MaxBytes) are
//     pending; beyond that the processor waits (BLOCK). Records without a key are never coalesced. The
//     replaced record's offset is marked done at once; the committed offset cannot pass the record that
//     replaced it (later in the same partition) until the sink wrote it, so a crash replays the newest
//     value, never loses it. The right choice in front of an upsert sink: it ends with the newest value of
//     every key, having written fewer of the intermediate ones.
//   - BUFFER: up to MaxRecords records and MaxBytes bytes wait in memory; beyond that, records are appended
//     to segment files in SpillDir (default <DataDir>/backpressure/<pipeline>/<flow>/pid-<pid>), at most
//     MaxDiskBytes of them, and read back in order when the memory drains. A spilled record keeps nothing
//     in memory: its offset's mark is held back in the consumer-group session (flowSession.held) until
//     the sink wrote it, so the committed offset never passes a record that is only on disk, and a crash
//     or a rebalance delivers it again from Kafka (the spill files of a past session are discarded). When
//     the disk limit is reached too, Then applies: BLOCK (wait), ERROR (wait at most Wait, then fail) or
//     DROP (discard the newest). Spilled records are counted (sluice_backpressure_spilled_total).
//
// The counts are per replica, in /metrics and in the pipeline status (each replica's backpressure).

// BackpressureMode is what a flow does when its sink does not keep up with Kafka.
type BackpressureMode int

const (
	// BackpressureBlock (the default) pulls from Kafka at the sink's pace: nothing is dropped.
	BackpressureBlock BackpressureMode = iota
	// BackpressureError fails the flow when the sink has not taken a record for BackpressurePolicy.Wait.
	BackpressureError
	// BackpressureDrop discards the newest records while MaxRecords or MaxBytes are pending.
	BackpressureDrop
	// BackpressureLatest keeps only the newest pending record of each key.
	BackpressureLatest
	// BackpressureBuffer buffers in memory, then on disk, then applies BackpressurePolicy.Then.
	BackpressureBuffer
)

// String names the mode as the documentation and error messages do: BLOCK, ERROR, DROP, LATEST, BUFFER.
func (m BackpressureMode) String() string {
	switch m {
	case BackpressureBlock:
		return "BLOCK"
	case BackpressureError:
		return "ERROR"
	case BackpressureDrop:
		return "DROP"
	case BackpressureLatest:
		return "LATEST"
	case BackpressureBuffer:
		return "BUFFER"
	}
	return fmt.Sprintf("BackpressureMode(%d)", int(m))
}

// Defaults of a BackpressurePolicy's zero fields.
const (
	DefaultBackpressureMaxRecords   = 10_000
	DefaultBackpressureMaxBytes     = 64 << 20
	DefaultBackpressureWait         = 30 * time.Second
	DefaultBackpressureMaxDiskBytes = 1 << 30
)

// BackpressurePolicy says what a flow does when its sink is slower than Kafka delivers (see the package's
// backpressure notes in backpressure.go and README's operator section). Zero fields take the defaults
// above; Validate refuses negative ones and fields that make no sense for the mode.
type BackpressurePolicy struct {
	Mode BackpressureMode
	// MaxRecords bounds the records pending in memory (DROP, BUFFER) or the distinct keys pending (LATEST).
	MaxRecords int
	// MaxBytes bounds the bytes (Kafka key and value, as consumed) pending in memory (DROP, LATEST, BUFFER).
	MaxBytes int64
	// Wait is how long ERROR (or BUFFER then ERROR) lets the sink not take a record before the flow fails.
	Wait time.Duration
	// Then is what BUFFER does once memory and disk are full: BLOCK (default), ERROR or DROP.
	Then BackpressureMode
	// SpillDir is where BUFFER writes its segment files; default <DataDir>/backpressure/<pipeline>/<flow>/
	// pid-<process id> (so that replicas sharing a data dir do not share it; the directories of processes
	// that are gone are removed at start). A SpillDir that is set must be this replica's alone: segment
	// files left in it from an earlier run are removed at start.
	SpillDir string
	// MaxDiskBytes bounds what BUFFER keeps in SpillDir.
	MaxDiskBytes int64
}

// ErrBackpressure is the error (wrapped) of a flow whose ERROR backpressure policy ran out of patience.
var ErrBackpressure = errors.New("backpressure")

// Backpressure sets the flow's backpressure policy on its Kafka -> sink edge (default BLOCK). It is a
// SinkOption: t.Flow("f").From(tp).To(sink, topology.Backpressure(topology.BackpressurePolicy{Mode:
// topology.BackpressureLatest, MaxRecords: 50_000})).
func Backpressure(p BackpressurePolicy) SinkOption {
	return func(f *Flow) { f.backpressure = &p }
}

// validateBackpressure reports the mistakes in a flow's backpressure policy, naming the flow and field.
func (f *Flow) validateBackpressure(add func(string, ...any)) {
	p := f.backpressure
	if p == nil {
		return
	}
	bad := func(field, format string, a ...any) {
		add("flow %q: Backpressure %s: %s", f.name, field, fmt.Sprintf(format, a...))
	}
	if p.Mode < BackpressureBlock || p.Mode > BackpressureBuffer {
		bad("Mode", "unknown mode %d (BLOCK, ERROR, DROP, LATEST or BUFFER)", int(p.Mode))
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
	if p.MaxDiskBytes < 0 {
		bad("MaxDiskBytes", "must not be negative, got %d", p.MaxDiskBytes)
	}
	if p.Mode != BackpressureBuffer {
		if p.Then != BackpressureBlock {
			bad("Then", "applies to BUFFER only, the mode is %s", p.Mode)
		}
		if p.SpillDir != "" || p.MaxDiskBytes != 0 {
			bad("SpillDir", "SpillDir and MaxDiskBytes apply to BUFFER only, the mode is %s", p.Mode)
		}
	} else if p.Then != BackpressureBlock && p.Then != BackpressureError && p.Then != BackpressureDrop {
		bad("Then", "must be BLOCK, ERROR or DROP, got %s", p.Then)
	}
	waits := p.Mode == BackpressureError || (p.Mode == BackpressureBuffer && p.Then == BackpressureError)
	if p.Wait != 0 && !waits {
		bad("Wait", "applies to ERROR (or BUFFER then ERROR) only, the mode is %s", p.Mode)
	}
	if (p.Mode == BackpressureBlock || p.Mode == BackpressureError) && (p.MaxRecords != 0 || p.MaxBytes != 0) {
		bad("MaxRecords", "MaxRecords and MaxBytes do not apply to %s: its memory is bounded by the batch size", p.Mode)
	}
}

// effective returns the policy with defaults filled in; dataDir, pipeline and flow make the spill directory.
func (p BackpressurePolicy) effective(dataDir, pipeline, flow string) BackpressurePolicy {
	if p.MaxRecords == 0 {
		p.MaxRecords = DefaultBackpressureMaxRecords
	}
	if p.MaxBytes == 0 {
		p.MaxBytes = DefaultBackpressureMaxBytes
	}
	if p.Wait == 0 {
		p.Wait = DefaultBackpressureWait
	}
	if p.MaxDiskBytes == 0 {
		p.MaxDiskBytes = DefaultBackpressureMaxDiskBytes
	}
	if p.SpillDir == "" {
		p.SpillDir = filepath.Join(dataDir, "backpressure", pipeline, flow)
	}
	return p
}

// backpressureEdge is the edge label of the Kafka -> sink edge in metrics and status.
const backpressureEdge = "kafka-sink"

// BackpressureCounts are what a flow's backpressure policy did on this replica since it started.
type BackpressureCounts struct {
	Dropped, Coalesced, Spilled int64
	// Pending is what waits in memory now, SpilledPending what waits on disk.
	Pending, SpilledPending int
}

// sinkEdge is the bounded buffer between a flow's processor and its batcher (modes DROP, LATEST, BUFFER).
// offer runs in goka's partition goroutines; pump, one goroutine per run of the batcher, moves records on.
type sinkEdge struct {
	r   *sinkRunner
	pol BackpressurePolicy

	mu       sync.Mutex
	mem      []*edgeItem // FIFO, oldest first
	memBytes int64
	byKey    map[edgeKey]*edgeItem // LATEST: the pending record of each key
	spill    *spillQueue           // BUFFER
	spillOf  *flowSession          // the session whose records the spill holds
	moved    chan struct{}         // closed and replaced whenever the pump takes a record (space freed)
	arrived  chan struct{}         // signalled when a record is added

	dropped, coalesced, spilled atomic.Int64
}

type edgeKey struct {
	partition int32
	key       string
}

type edgeItem struct {
	it    sinkItem
	bytes int64
}

func itemBytes(it sinkItem) int64 { return int64(len(it.origin.key) + len(it.origin.value)) }

// newSinkEdge makes the edge of a flow whose policy is not BLOCK or ERROR, and clears its spill directory.
func (r *sinkRunner) newSinkEdge() (*sinkEdge, error) {
	pol := r.f.backpressure.effective(r.p.cfg.DataDir, r.p.t.name, r.f.name)
	if pol.Mode == BackpressureBuffer && r.f.backpressure.SpillDir == "" {
		dir, err := processSpillDir(pol.SpillDir)
		if err != nil {
			return nil, fmt.Errorf("flow %q: Backpressure BUFFER: spill directory: %w", r.f.name, err)
		}
		pol.SpillDir = dir
	}
	e := &sinkEdge{r: r, pol: pol, moved: make(chan struct{}), arrived: make(chan struct{}, 1)}
	if pol.Mode == BackpressureLatest {
		e.byKey = map[edgeKey]*edgeItem{}
	}
	if pol.Mode == BackpressureBuffer {
		sq, err := newSpillQueue(pol.SpillDir)
		if err != nil {
			return nil, fmt.Errorf("flow %q: Backpressure BUFFER: spill directory: %w", r.f.name, err)
		}
		e.spill = sq
	}
	return e, nil
}

// enqueue hands a consumed record to the flow's batcher under the flow's backpressure policy.
func (r *sinkRunner) enqueue(it sinkItem) {
	switch {
	case r.edge != nil:
		r.edge.offer(it)
	case r.f.backpressure != nil && r.f.backpressure.Mode == BackpressureError && r.rebuild == nil:
		// (A rebuild's copy of the flow reads history at full speed: it always blocks.)
		r.enqueueWithin(it, r.f.backpressure.effective("", "", "").Wait, "ERROR")
	default:
		// BLOCK: waits while the batcher is behind; Kafka holds the backlog.
		select {
		case r.queue <- it:
		case <-r.failed:
			it.commit(r.failErr)
		}
	}
}

// enqueueWithin waits at most wait for the batcher to take it, then fails the flow (ErrBackpressure).
func (r *sinkRunner) enqueueWithin(it sinkItem, wait time.Duration, mode string) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r.queue <- it:
	case <-r.failed:
		it.commit(r.failErr)
	case <-timer.C:
		r.failBackpressure(it, wait, mode)
	}
}

// failBackpressure fails the flow because the sink has not taken it for wait (ErrBackpressure).
func (r *sinkRunner) failBackpressure(it sinkItem, wait time.Duration, mode string) {
	r.fail(fmt.Errorf("flow %q: %w %s on the edge topic %q -> %s: the sink has not taken a record for %v (record at topic %q partition %d offset %d); the flow stops and commits nothing from that record on",
		r.f.name, ErrBackpressure, mode, r.f.from.name, r.sinkName, wait, it.origin.topic, it.origin.partition, it.origin.offset),
		"edge", backpressureEdge)
	it.commit(r.failErr)
}

// offer adds a consumed record to the edge, or drops it, coalesces it or waits, as the policy says. A
// record of the flow's redrive topic (redrive.go) is never dropped, coalesced or spilled: it waits for room
// in memory, as under BLOCK, since its redrive is accounted for only once the sink wrote it.
func (e *sinkEdge) offer(it sinkItem) {
	r := e.r
	size := itemBytes(it)
	mode := e.pol.Mode
	if it.redrive != nil {
		mode = BackpressureBlock
	}
	for {
		e.mu.Lock()
		select {
		case <-r.failed:
			e.mu.Unlock()
			it.commit(r.failErr)
			return
		default:
		}
		full := len(e.mem) > 0 && (len(e.mem) >= e.pol.MaxRecords || e.memBytes+size > e.pol.MaxBytes)
		switch mode {
		case BackpressureDrop:
			if full {
				e.mu.Unlock()
				e.drop(it)
				return
			}
		case BackpressureLatest:
			if len(it.origin.key) > 0 {
				k := edgeKey{it.origin.partition, string(it.origin.key)}
				if old, ok := e.byKey[k]; ok {
					superseded := old.it
					e.memBytes += size - old.bytes
					old.it, old.bytes = it, size
					e.mu.Unlock()
					e.coalesced.Add(1)
					r.p.metrics.BackpressureCoalesced.WithLabelValues(r.p.t.name, backpressureEdge, "", r.f.name).Inc()
					superseded.commit(nil)
					return
				}
				if !full {
					ei := &edgeItem{it: it, bytes: size}
					e.byKey[k] = ei
					e.push(ei)
					e.mu.Unlock()
					return
				}
			}
		case BackpressureBuffer:
			if full || e.spill.count() > 0 {
				sess, _ := r.committer.current()
				if sess == nil {
					break // between sessions: wait in memory's queue like BLOCK
				}
				if e.spill.count() > 0 && e.spillOf != sess {
					e.discardSpill() // the records of an ended session: delivered again from Kafka
				}
				if e.spill.bytes()+spillEntrySize(it.origin) <= e.pol.MaxDiskBytes {
					e.spillOf = sess
					if err := e.spill.append(it.origin); err != nil {
						e.mu.Unlock()
						r.fail(fmt.Errorf("flow %q: Backpressure BUFFER: spill to %s: %w", r.f.name, e.pol.SpillDir, err), "edge", backpressureEdge)
						it.commit(r.failErr)
						return
					}
					sess.held.hold(it.origin.topic, it.origin.partition, it.origin.offset)
					signal(e.arrived)
					e.mu.Unlock()
					e.spilled.Add(1)
					r.p.metrics.BackpressureSpilled.WithLabelValues(r.p.t.name, backpressureEdge, "", r.f.name).Inc()
					it.commit(nil) // goka lets go of the record; its mark is held until the sink wrote it
					return
				}
				switch e.pol.Then {
				case BackpressureDrop:
					e.mu.Unlock()
					e.drop(it)
					return
				case BackpressureError:
					e.mu.Unlock()
					e.waitOrFail(it)
					return
				}
				full = true // BLOCK: wait until the pump takes something
			}
		}
		if !full {
			e.push(&edgeItem{it: it, bytes: size})
			e.mu.Unlock()
			return
		}
		moved := e.moved
		e.mu.Unlock()
		select {
		case <-moved:
		case <-r.failed:
		}
	}
}

// push appends to the memory FIFO; mu held.
func (e *sinkEdge) push(ei *edgeItem) {
	e.mem = append(e.mem, ei)
	e.memBytes += ei.bytes
	signal(e.arrived)
}

func (e *sinkEdge) drop(it sinkItem) {
	e.dropped.Add(1)
	e.r.p.metrics.BackpressureDropped.WithLabelValues(e.r.p.t.name, backpressureEdge, "", e.r.f.name).Inc()
	it.commit(nil)
}

// waitOrFail is BUFFER then ERROR with memory and disk full: wait at most Wait for space, else fail.
func (e *sinkEdge) waitOrFail(it sinkItem) {
	deadline := time.Now().Add(e.pol.Wait)
	for {
		e.mu.Lock()
		room := e.spill.count() == 0 && len(e.mem) < e.pol.MaxRecords ||
			e.spill.bytes()+spillEntrySize(it.origin) <= e.pol.MaxDiskBytes
		moved := e.moved
		e.mu.Unlock()
		if room {
			e.offer(it)
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			e.r.failBackpressure(it, e.pol.Wait, "BUFFER then ERROR (memory and spill files full)")
			return
		}
		timer := time.NewTimer(left)
		select {
		case <-moved:
		case <-e.r.failed:
			timer.Stop()
			it.commit(e.r.failErr)
			return
		case <-timer.C:
		}
		timer.Stop()
	}
}

// discardSpill forgets what the spill holds (the records of an ended session, which Kafka delivers again);
// mu held.
func (e *sinkEdge) discardSpill() {
	if n := e.spill.count(); n > 0 {
		e.r.p.log.Info("backpressure BUFFER: discarding the spilled records of an ended session; Kafka delivers them again",
			"flow", e.r.f.name, "records", n)
	}
	e.spill.reset()
	e.spillOf = nil
}

// take removes the oldest pending record: from memory first, then from the spill (read back, decoded and run
// through the flow's stages again). ok is false when nothing is pending.
func (e *sinkEdge) take() (it sinkItem, ok bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.mem) > 0 {
		ei := e.mem[0]
		e.mem[0] = nil
		e.mem = e.mem[1:]
		e.memBytes -= ei.bytes
		if e.byKey != nil && len(ei.it.origin.key) > 0 {
			delete(e.byKey, edgeKey{ei.it.origin.partition, string(ei.it.origin.key)})
		}
		e.freed()
		return ei.it, true, nil
	}
	if e.spill == nil || e.spill.count() == 0 {
		return sinkItem{}, false, nil
	}
	sess := e.spillOf
	o, err := e.spill.next()
	if err != nil {
		return sinkItem{}, false, fmt.Errorf("read back from %s: %w", e.pol.SpillDir, err)
	}
	e.freed()
	o.topic = e.r.f.from.name
	out, err := e.r.reprocess(o)
	if err != nil {
		return sinkItem{}, false, fmt.Errorf("topic %q partition %d offset %d read back from the spill: %w", o.topic, o.partition, o.offset, err)
	}
	r := e.r
	return sinkItem{records: out, origin: o, commit: func(err error) {
		// Only a write in the session that spilled the record marks it; after that session ended, Kafka
		// delivers it again.
		if cur, _ := r.committer.current(); err == nil && cur == sess {
			sess.held.release(sess, o.topic, o.partition, o.offset)
		}
	}}, true, nil
}

// freed wakes offers waiting for space; mu held.
func (e *sinkEdge) freed() {
	close(e.moved)
	e.moved = make(chan struct{})
}

// pump moves pending records to the batcher's queue until the processor stopped and nothing is pending.
// Started by batch; it returns before batch does.
func (e *sinkEdge) pump(queue chan<- sinkItem, stop <-chan struct{}, done chan<- struct{}) {
	r := e.r
	defer close(done)
	for {
		it, ok, err := e.take()
		if err != nil {
			r.fail(fmt.Errorf("flow %q: Backpressure BUFFER: %w", r.f.name, err), "edge", backpressureEdge)
			e.mu.Lock()
			e.discardSpill() // nothing of it is committed: Kafka delivers it again after the restart
			e.mu.Unlock()
			continue
		}
		if !ok {
			select {
			case <-e.arrived:
				continue
			case <-stop:
				e.mu.Lock()
				empty := len(e.mem) == 0
				if empty && e.spill != nil {
					e.discardSpill()
				}
				e.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		select {
		case queue <- it:
		case <-r.failed:
			it.commit(r.failErr)
		case <-stop:
			// The processor stopped (its session is over) and the batcher may be gone: the record is handed
			// back unwritten, as abandon does, and delivered again.
			it.commit(nil)
		}
	}
}

// counts returns what the edge did and holds, for the status.
func (e *sinkEdge) counts() BackpressureCounts {
	e.mu.Lock()
	pending, spilled := len(e.mem), 0
	if e.spill != nil {
		spilled = e.spill.count()
	}
	e.mu.Unlock()
	return BackpressureCounts{Dropped: e.dropped.Load(), Coalesced: e.coalesced.Load(), Spilled: e.spilled.Load(),
		Pending: pending, SpilledPending: spilled}
}

// reprocess decodes a record read back from the spill and runs the flow's stateless stages on it again, as
// consume did when it arrived.
func (r *sinkRunner) reprocess(o origin) ([]stream.Record, error) {
	tp := r.f.from
	rec := stream.Record{Topic: o.topic, Partition: o.partition, Offset: o.offset, Timestamp: o.timestamp}
	var err error
	if len(o.key) > 0 {
		if rec.KeySchema, rec.Key, err = tp.keyCodec.Decode(o.key); err != nil {
			return nil, fmt.Errorf("decode key with %s: %w", tp.keyCodec.Name(), err)
		}
	}
	if o.value != nil {
		if rec.ValueSchema, rec.Value, err = tp.valueCodec.Decode(o.value); err != nil {
			return nil, fmt.Errorf("decode value with %s: %w", tp.valueCodec.Name(), err)
		}
	}
	for _, h := range o.headers {
		rec.Headers = append(rec.Headers, stream.Header{Key: string(h.Key), Value: h.Value})
	}
	_, ctx := r.committer.current()
	return r.stages.run(ctx, rec)
}

// heldMarks are the offsets of a session's spilled records: goka's marks for them are swallowed
// (flowSession.MarkOffset) until the sink wrote them and release passes the mark on.
type heldMarks struct {
	mu   sync.Mutex
	held map[heldKey]bool
}

type heldKey struct {
	topic     string
	partition int32
	offset    int64
}

func (h *heldMarks) hold(topic string, partition int32, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		h.held = map[heldKey]bool{}
	}
	h.held[heldKey{topic, partition, offset}] = true
}

// swallow reports whether the mark of the record at offset is held back.
func (h *heldMarks) swallow(topic string, partition int32, offset int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[heldKey{topic, partition, offset}]
}

// release passes the held mark of a written record on to the ordered session, unless the session's records
// were abandoned.
func (h *heldMarks) release(s *flowSession, topic string, partition int32, offset int64) {
	h.mu.Lock()
	delete(h.held, heldKey{topic, partition, offset})
	h.mu.Unlock()
	if !s.abandoned.Load() {
		s.ConsumerGroupSession.MarkOffset(topic, partition, offset+1, "")
	}
}

// setBackpressure gives the flow a fresh edge when its policy needs one (DROP, LATEST, BUFFER). It runs while
// the flow's processor is stopped; mu orders it with the status.
func (r *sinkRunner) setBackpressure() error {
	var e *sinkEdge
	if r.f.backpressure != nil {
		switch r.f.backpressure.Mode {
		case BackpressureDrop, BackpressureLatest, BackpressureBuffer:
			var err error
			if e, err = r.newSinkEdge(); err != nil {
				return err
			}
		}
	}
	r.mu.Lock()
	if old := r.edge; old != nil && e != nil { // the counts go on across a stop and resume
		e.dropped.Store(old.dropped.Load())
		e.coalesced.Store(old.coalesced.Load())
		e.spilled.Store(old.spilled.Load())
	}
	r.edge = e
	r.mu.Unlock()
	return nil
}

// backpressureStatus is the flow's entry in this replica's status; ok is false for BLOCK.
func (r *sinkRunner) backpressureStatus() (opsapi.BackpressureStatus, bool) {
	if r.f.backpressure == nil || r.f.backpressure.Mode == BackpressureBlock {
		return opsapi.BackpressureStatus{}, false
	}
	bs := opsapi.BackpressureStatus{Flow: r.f.name, Edge: backpressureEdge, Mode: r.f.backpressure.Mode.String()}
	r.mu.Lock()
	e := r.edge
	r.mu.Unlock()
	if e != nil {
		c := e.counts()
		bs.Dropped, bs.Coalesced, bs.Spilled, bs.Pending, bs.SpilledPending = c.Dropped, c.Coalesced, c.Spilled, c.Pending, c.SpilledPending
	}
	return bs, true
}

// runPump starts the edge's pump for one run of the batcher and returns what waits for it to end.
func (r *sinkRunner) runPump() func() {
	if r.edge == nil {
		return func() {}
	}
	done := make(chan struct{})
	go r.edge.pump(r.queue, r.stop, done)
	return func() { <-done }
}
