package topology

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
)

// How a flow is compiled onto goka.
//
// Each flow is a processor group <pipeline>.<flow> with the flow's topic as input and no table. The callback
// decodes the record, runs the fused stateless ELT stages, takes goka's DeferCommit and queues the result
// for the flow's batcher. One batcher per flow writes batches to the sink in queue order; only after a
// write returned nil does it call the commit functions of the records it carried, in queue order, which is
// offset order per partition. So a partition's committed offset never passes a record the sink has not
// acknowledged (goka marks offsets with sarama, which only moves them forward), and then commits them
// synchronously (see committer).
//
// The sink writes with its session's context (committer.current): when the partitions are revoked or the
// pipeline stops, the batcher goes on writing what it holds for sinkDrainTimeout, then that context is
// cancelled. A cancelled write is not an error of the flow: its records and everything still queued are
// handed back to goka unmarked (abandon), so goka's wait for pending commits ends and they are delivered
// again. The batcher reports to the flow's stall-tracking component: pending while records are queued or a
// write is in flight (with the sink's retries, see sinks.ReportRetry), progress at each acknowledged batch.

type sinkRunner struct {
	p      *pipelineRun
	f      *Flow
	group  string
	proc   *goka.Processor
	labels []string
	stages stageChain
	sink   sinks.Sink // the flow's sink, or a topicSink
	// sinkName names the sink for logs and /readyz; health is the flow's stall-tracking component.
	sinkName string
	health   *component

	committer     committer
	pendingCommit chan struct{} // closed when the last batch's commit finished; batcher goroutine only

	queue  chan sinkItem
	failed chan struct{} // closed when the sink failed; failErr holds why
	stop   chan struct{} // closed when the processor has stopped: the batcher drains and returns
	exited chan struct{}

	failErr  error
	failOnce sync.Once
	written  atomic.Int64 // records the sink acknowledged, for progress lines
	lag      atomic.Int64 // summed over this replica's partitions, for progress lines
	mu       sync.Mutex
	next     map[int32]int64 // next offset to process, per partition, for lag
	env      metrics.Env     // given to the sink's Open and Write (observe.go)
	counters sinkCounters    // consumed and acknowledged records and bytes, end-to-end latency (observe.go)

	// retryError is the last error of a sink write being retried, "" once a write succeeded (status); mu.
	retryError string
	// rebuild is set on a rebuild's copy of the flow (rebuild.go): its failure fails the rebuild, not the
	// pipeline, and what the live flow set aside is skipped rather than dead-lettered again.
	rebuild *rebuildRun
	// edge buffers between consume and the batcher under a DROP, LATEST or BUFFER policy (backpressure.go).
	edge *sinkEdge
}

// sinkItem is one consumed Kafka record: what the stages made of it, how to commit it, and the record as
// read (for the dead-letter topic).
type sinkItem struct {
	records []stream.Record
	commit  func(error)
	origin  origin
	redrive *redriven // a record of the flow's redrive topic (redrive.go), else nil
}

func (p *pipelineRun) newSinkRunner(ctx context.Context, f *Flow) (*sinkRunner, error) {
	r := &sinkRunner{
		p: p, f: f,
		group:  flowGroup(p.t.name, f.name),
		labels: []string{p.t.name, f.name},
		queue:  make(chan sinkItem, 2*f.batchSize),
		failed: make(chan struct{}),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
		next:   map[int32]int64{},
		stages: p.newStageChain(stageScope{flow: f.name}, statelessStages(f.steps)),
		sink:   f.sink,
	}
	if f.toTopic != nil {
		r.sink = &topicSink{p: p, to: f.toTopic, from: f.from.name, stopAtRejection: f.deadLetter == nil}
	}
	r.sinkName = describeSink(f, r.sink)
	r.health = p.stalls.component("flow", f.name)
	r.env = p.env("flow", f.name)
	r.counters = p.newSinkCounters(f.name)
	if err := r.sink.Open(metrics.WithEnv(ctx, r.env)); err != nil {
		return nil, fmt.Errorf("flow %q: open sink: %w", f.name, err)
	}
	if err := r.newProcessor(); err != nil {
		_ = r.sink.Close()
		return nil, err
	}
	if err := r.setBackpressure(); err != nil {
		_ = r.sink.Close()
		return nil, err
	}
	p.log.Info("flow ready", "flow", f.name, "topic", f.from.name, "group", r.group)
	return r, nil
}

// newProcessor builds the flow's goka processor.
func (r *sinkRunner) newProcessor() error {
	edges := []goka.Edge{goka.Input(goka.Stream(r.f.from.name), new(codec.Bytes), r.consume)}
	if in := r.redriveInput(); in != nil { // redrive.go
		edges = append(edges, in)
	}
	g := goka.DefineGroup(goka.Group(r.group), edges...)
	opts := append(r.p.gokaOptions(storage.MemoryBuilder()), goka.WithNilHandling(goka.NilProcess),
		goka.WithConsumerGroupBuilder(r.committer.builder(r.p.batch.builder(r.p.consumerGroupBuilder)))) // replaces the shared builder; batch.go
	proc, err := goka.NewProcessor(r.p.brokers, g, opts...)
	if err != nil {
		return fmt.Errorf("flow %q: create processor: %w", r.f.name, err)
	}
	r.proc = proc
	return nil
}

// renew prepares a stopped flow (processor and batcher returned) to run again with a new processor, which
// starts at the group's committed offsets, and a new queue: what the old one held was not written and is
// delivered again.
func (r *sinkRunner) renew() error {
	r.queue = make(chan sinkItem, 2*r.f.batchSize)
	r.stop = make(chan struct{})
	r.exited = make(chan struct{})
	r.pendingCommit = nil
	if err := r.setBackpressure(); err != nil {
		return err
	}
	return r.newProcessor()
}

// consume is the processor callback for one Kafka record.
func (r *sinkRunner) consume(ctx goka.Context, msg any) {
	if r.p.batch.skip(r.group, string(ctx.Topic()), ctx.Partition(), ctx.Offset()) {
		return // past a batch run's end offsets: left alone, its offset is not committed (batch.go)
	}
	value, _ := msg.([]byte)
	rec := stream.Record{
		Topic:     string(ctx.Topic()),
		Partition: ctx.Partition(),
		Offset:    ctx.Offset(),
		Timestamp: ctx.Timestamp(),
	}
	o := origin{topic: rec.Topic, partition: rec.Partition, offset: rec.Offset, value: value, timestamp: rec.Timestamp}
	if key := ctx.Key(); key != "" {
		o.key = []byte(key)
	}
	for k, v := range ctx.Headers() {
		o.headers = append(o.headers, sarama.RecordHeader{Key: []byte(k), Value: v})
	}
	red := r.redriveOf(ctx, &rec) // redrive.go: the stages see a redriven record as read at its origin
	r.counters.consumed(o)
	commit := ctx.DeferCommit()
	var out []stream.Record
	err := r.decode(ctx, &rec, value)
	red.clean(&rec)
	if err == nil {
		out, err = r.stages.run(ctx.Context(), rec)
	}
	if err != nil && r.f.deadLetter != nil {
		// The record is set aside, and its (empty) item still goes through the queue so that its offset is
		// committed in order.
		if dlErr := r.sendDeadLetter(red.at(o), stageOf(err), err, nil); dlErr == nil {
			err, out, red = nil, nil, nil // a redriven record's new dead letter replaces the old one
		} else {
			err = dlErr
		}
	}
	if err != nil {
		// Fails the processor, and with it the pipeline. Until goka notices, it may hand us later records:
		// fail marks the flow so that neither they nor anything still queued is committed, which would move
		// the offset past this record.
		if se, ok := err.(*stageError); ok {
			r.fail(recordFailure(r.f.name, "", recordIn(ctx, r.f.from), err), "stage", se.stage)
		} else {
			r.fail(recordFailure(r.f.name, "", recordIn(ctx, r.f.from), err))
		}
		commit(r.failErr)
		return
	}
	// The flow's backpressure policy (backpressure.go); by default this blocks while the batcher is behind
	// and Kafka holds the backlog.
	r.enqueue(sinkItem{records: out, commit: commit, origin: o, redrive: red})
}

func (r *sinkRunner) decode(ctx goka.Context, rec *stream.Record, value []byte) error {
	tp := r.f.from
	var err error
	if key := ctx.Key(); key != "" {
		if rec.KeySchema, rec.Key, err = tp.keyCodec.Decode([]byte(key)); err != nil {
			return fmt.Errorf("decode key with %s: %w", tp.keyCodec.Name(), err)
		}
	}
	if value != nil {
		if rec.ValueSchema, rec.Value, err = tp.valueCodec.Decode(value); err != nil {
			return fmt.Errorf("decode value with %s: %w", tp.valueCodec.Name(), err)
		}
	}
	for k, v := range ctx.Headers() {
		rec.Headers = append(rec.Headers, stream.Header{Key: k, Value: v})
	}
	return nil
}

// batch runs the flow's batcher until stop is closed and the queue is empty.
func (r *sinkRunner) batch() {
	defer close(r.exited)
	defer r.runPump()() // a DROP, LATEST or BUFFER edge's pump (backpressure.go)
	linger := r.f.linger
	var (
		items   []sinkItem
		records []stream.Record
		owners  []int // owners[i] is the index in items of the Kafka record records[i] came from
	)
	add := func(it sinkItem) {
		items = append(items, it)
		records = append(records, it.records...)
		for range it.records {
			owners = append(owners, len(items)-1)
		}
	}
	for {
		items, records, owners = items[:0], records[:0], owners[:0]
		select {
		case it := <-r.queue:
			r.health.wait(batcherHolder, "records queued for "+r.sinkName)
			add(it)
		case <-r.stop:
			r.awaitCommit()
			return
		}
		timer := time.NewTimer(linger)
	fill:
		for len(records) < r.f.batchSize {
			select {
			case it := <-r.queue:
				add(it)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		r.write(items, records, owners)
		if len(r.queue) == 0 {
			r.health.done(batcherHolder)
		}
	}
}

// batcherHolder is the batcher's name as a holder of pending work in the flow's stall-tracking component.
const batcherHolder = "batcher"

// describeSink names a flow's sink for logs and /readyz: its String method if it has one.
func describeSink(f *Flow, s sinks.Sink) string {
	if f.toTopic != nil {
		return "topic " + f.toTopic.name
	}
	if named, ok := s.(fmt.Stringer); ok {
		return named.String()
	}
	return fmt.Sprintf("the sink of flow %q", f.name)
}

func (r *sinkRunner) write(items []sinkItem, records []stream.Record, owners []int) {
	select {
	case <-r.failed:
		for _, it := range items {
			it.commit(r.failErr)
		}
		return
	default:
	}
	// At most one written batch is ever uncommitted: the previous batch's commit must be done before this
	// batch is written.
	if r.pendingCommit != nil {
		r.health.wait(batcherHolder, "Kafka to commit the offsets of the previous batch")
	}
	r.awaitCommit()
	sess, writeCtx := r.committer.current()
	if writeCtx.Err() != nil {
		r.abandon(sess, items, len(records))
		return
	}
	if r.p.ctl.paused() {
		// Paused by the operator (control.go): nothing new reaches the sink. The batch waits (and is not a
		// stall) until the pipeline resumes; when the session ends first (a rebalance, a stop), it is handed
		// back unwritten and delivered again.
		r.health.done(batcherHolder)
		resumed := r.p.ctl.awaitUnpaused(writeCtx, sess.ending)
		r.health.wait(batcherHolder, "records queued for "+r.sinkName)
		if !resumed {
			r.abandon(sess, items, len(records))
			return
		}
	}
	var rejected map[int]bool
	if len(records) > 0 {
		what := fmt.Sprintf("sink write of %s to %s", countRecords(len(records)), r.sinkName)
		r.health.wait(batcherHolder, what)
		ctx := sinks.WithRetryReporter(metrics.WithEnv(writeCtx, r.env), func(attempt int, err error) {
			r.health.wait(batcherHolder, fmt.Sprintf("%s (attempt %d: %v)", what, attempt, err))
		})
		delivered := len(records)
		if err := r.writeRetrying(ctx, writeCtx, records, what); err != nil {
			if writeCtx.Err() != nil {
				r.abandon(sess, items, len(records))
				return
			}
			var derr error
			rejected, derr = r.deadLetterRejected(err, items, owners)
			if derr != nil {
				r.fail(fmt.Errorf("flow %q: sink write of %s (%s) to %s: %w",
					r.f.name, countRecords(len(records)), batchSpan(items, r.f.from), r.sinkName, derr))
				for _, it := range items {
					it.commit(r.failErr)
				}
				return
			}
			delivered -= len(rejected)
		}
		r.counters.acknowledged(items, owners, rejected, time.Now())
		r.p.metrics.SinkRecords.WithLabelValues(r.labels...).Add(float64(delivered))
		r.p.metrics.SinkBatches.WithLabelValues(r.labels...).Inc()
		r.written.Add(int64(delivered))
	}
	r.markRedriven(items, owners, rejected) // redrive.go: before the redrive offsets are committed
	r.mu.Lock()
	for _, it := range items {
		if it.redrive == nil {
			r.next[it.origin.partition] = it.origin.offset + 1
		}
	}
	r.mu.Unlock()
	for _, it := range items {
		it.commit(nil)
	}
	r.health.progress()
	done := make(chan struct{})
	r.pendingCommit = done
	go func() {
		defer close(done)
		r.committer.commit()
	}()
}

// abandon gives goka back the items of a session whose sink write context was cancelled (its partitions
// were revoked, or the pipeline stopped, and the drain ran out): they count as processed for goka's wait,
// but their offsets are not marked, so they are delivered again. With no live session nothing is marked
// anyway, and goka no longer waits for them.
func (r *sinkRunner) abandon(sess *flowSession, items []sinkItem, records int) {
	if sess == nil {
		return
	}
	if !sess.abandoned.Swap(true) {
		r.p.log.Info("flow stopped writing after the drain of a rebalance or shutdown; unwritten records will be delivered again",
			"flow", r.f.name, "sink", r.sinkName, "records", records, "drain", sinkDrainTimeout.String())
	}
	for _, it := range items {
		it.commit(nil)
	}
}

// deadLetterRejected handles a failed Write: if the sink rejected some records as bad data and the flow has a
// dead-letter topic, it sends them there and returns their indexes in the batch. Rejections in a flow without one are returned
// as an error naming the first rejected record where Kafka holds it and as the sink described it (its
// headers, e.g. the document id); any other failure is returned as it is.
func (r *sinkRunner) deadLetterRejected(err error, items []sinkItem, owners []int) (map[int]bool, error) {
	var rej *sinks.RejectedError
	if !errors.As(err, &rej) {
		return nil, err
	}
	if r.f.deadLetter == nil {
		return nil, rejectionError(err, rej, items, owners, r.f.from)
	}
	rejected := make(map[int]bool, len(rej.Rejections))
	for _, x := range rej.Rejections {
		if x.Index < 0 || x.Index >= len(owners) {
			return nil, fmt.Errorf("sink rejected record %d of a batch of %d: %w", x.Index, len(owners), err)
		}
		it := items[owners[x.Index]]
		if dlErr := r.sendDeadLetter(it.redrive.at(it.origin), StageSink, x.Reason, x.Headers); dlErr != nil {
			return nil, dlErr
		}
		rejected[x.Index] = true
	}
	return rejected, nil
}

// awaitCommit waits for the commit of the previous batch, if one is in flight.
func (r *sinkRunner) awaitCommit() {
	if r.pendingCommit != nil {
		<-r.pendingCommit
		r.pendingCommit = nil
	}
}

// fail records the flow's first failure, logs it with attrs (the only time it is logged) and, from then on,
// commits nothing: records still arriving or queued are handed back to goka with the failure.
func (r *sinkRunner) fail(err error, attrs ...any) {
	r.failOnce.Do(func() {
		if r.rebuild != nil {
			r.failErr = r.rebuild.copyFailed(err)
		} else {
			r.failErr = r.p.failProcessing(err, append([]any{"flow", r.f.name}, attrs...)...)
		}
		close(r.failed)
	})
}

// nextOffsets returns the next offset to process of each partition this replica processes now (the flow's
// live consumer-group session claims it) and processed a record of. Between sessions (a rebalance) it
// returns none; a partition a live session does not claim is forgotten, so that an offset from before
// another replica moved it on is never reported for it again.
func (r *sinkRunner) nextOffsets() map[int32]int64 {
	sess, _ := r.committer.current()
	r.mu.Lock()
	defer r.mu.Unlock()
	if sess == nil {
		return nil
	}
	owned := map[int32]bool{}
	for _, p := range sess.Claims()[r.f.from.name] {
		owned[p] = true
	}
	out := make(map[int32]int64, len(r.next))
	for p, o := range r.next {
		if owned[p] {
			out[p] = o
		} else {
			delete(r.next, p)
		}
	}
	return out
}
