package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sinks"
)

// Zero-downtime rebuilds of a flow's sink index (issue 19; issue 14's rewind reuses them).
//
// A flow whose sink writes through a name that points to a destination (sinks.Retargeter: the
// Elasticsearch sink with Config.Alias) can have its destination rebuilt from the flow's topic while the
// pipeline runs and users search the alias:
//
//  1. The sink names the index behind the alias (the old index) and a new one (Retarget); the new index is
//     created, and must not exist yet.
//  2. A copy of the flow runs on the replica that was asked: the same topic, decoding and stateless stages,
//     in a fresh consumer group <pipeline>.<flow>.rebuild.<new index> that starts at the earliest offsets,
//     writing into the new index. The live flow keeps writing through the alias into the old index.
//  3. When the copy's committed offsets have reached the live group's committed offsets on every partition,
//     the alias moves in one _aliases call (remove old, add new). Searches of the alias see the old index
//     until then and the new one after it, never neither.
//  4. The copy keeps running until it has passed the topic's end offsets as read just after the swap: a
//     record the live flow wrote into the old index just before the swap (a write in flight, not yet
//     committed) is below those offsets, so it reaches the new index too; a record produced after them is
//     written by the live flow through the alias, which then points to the new index. The overlap, written
//     by both, is idempotent: documents carry external versions.
//  5. The copy stops, its consumer group is deleted, and the old index is dropped if asked.
//
// A failure before the swap (the copy failed, the sink refused, the pipeline stopped) stops the copy,
// deletes its group and the new index, leaves the alias on the old index and says why (status, log).
// Records the live flow set aside in its dead-letter topic are skipped by the copy, not sent there again.
// The copy blocks when the new index is behind (backpressure BLOCK), whatever the flow's policy.
// Progress (state, records written, lag) is logged every 5 s and served by
// GET /pipelines/{name}/flows/{flow}/rebuild.
//
// The copy runs on one replica, the one asked (POST on its API, or Topology.Rebuild in its process); the
// other replicas keep running the live flow. A replica runs one rebuild per flow at a time.

// RebuildOptions configures a rebuild.
type RebuildOptions struct {
	// Index names the new index; "" lets the sink name it (orders-000002 after orders-000001).
	Index string
	// DropOld deletes the old index once the alias points to the new one and the copy stopped.
	DropOld bool
}

// RebuildStatus is the state and progress of a rebuild (see opsapi.RebuildStatus).
type RebuildStatus = opsapi.RebuildStatus

// rebuildProgressEvery is how often a running rebuild logs its progress and checks its offsets.
const (
	rebuildProgressEvery = 5 * time.Second
	rebuildPollEvery     = 250 * time.Millisecond
)

// runningRebuilders maps a *Topology that RunWith runs in this process to its *rebuilder.
var runningRebuilders sync.Map

// rebuilder runs the rebuilds of one running pipeline.
type rebuilder struct {
	p     *pipelineRun
	flows map[string]*sinkRunner
	ctx   context.Context // ends when the pipeline stops
	wg    sync.WaitGroup

	mu     sync.Mutex
	last   map[string]*rebuildRun // the last rebuild of each flow
	closed bool                   // the pipeline stops: no new rebuild starts
}

// startRebuilds makes the running flows rebuildable (Topology.Rebuild, the API) until the returned function
// is called, which stops the rebuilds still running (they fail, leaving the alias where it is) and waits.
func (p *pipelineRun) startRebuilds(ctx context.Context, flows []*sinkRunner) func() {
	ctx, cancel := context.WithCancel(ctx)
	rb := &rebuilder{p: p, flows: map[string]*sinkRunner{}, ctx: ctx, last: map[string]*rebuildRun{}}
	for _, r := range flows {
		rb.flows[r.f.name] = r
	}
	runningRebuilders.Store(p.t, rb)
	runningRebuilders.Store(p, rb)
	return func() {
		runningRebuilders.Delete(p.t)
		runningRebuilders.Delete(p)
		rb.mu.Lock()
		rb.closed = true
		rb.mu.Unlock()
		cancel()
		rb.wg.Wait()
	}
}

// Rebuild rebuilds the sink index of flow while the pipeline runs (see "Zero-downtime rebuilds" in
// rebuild.go): it returns once the alias points to the new index and the copy has stopped (DONE), or with
// the failure (the alias then stays on the old index). The pipeline must be running in this process
// (RunWith, from another goroutine). When ctx ends before the swap, the rebuild fails as above.
func (t *Topology) Rebuild(ctx context.Context, flow string, opts RebuildOptions) (RebuildStatus, error) {
	v, ok := runningRebuilders.Load(t)
	if !ok {
		return RebuildStatus{}, fmt.Errorf("rebuild flow %q: pipeline %s is not running in this process (RunWith starts it; rebuild a pipeline of another process through its API)", flow, t.name)
	}
	rb := v.(*rebuilder)
	run, err := rb.prepare(ctx, flow, opts)
	if err != nil {
		return RebuildStatus{}, err
	}
	runCtx, cancel := context.WithCancel(rb.ctx)
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	defer cancel()
	rb.execute(runCtx, run)
	st := run.status()
	if st.State != opsapi.RebuildDone {
		return st, errors.New(st.Error)
	}
	return st, nil
}

// rebuildRun is one rebuild.
type rebuildRun struct {
	live   *sinkRunner
	rt     sinks.Retargeter
	target sinks.Sink
	done   chan struct{}

	mu sync.Mutex
	st opsapi.RebuildStatus
}

func (r *rebuildRun) status() opsapi.RebuildStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

func (r *rebuildRun) update(f func(st *opsapi.RebuildStatus)) {
	r.mu.Lock()
	f(&r.st)
	r.mu.Unlock()
}

// prepare checks that flow can be rebuilt now and names the indices; nothing is created yet. The caller
// must then call execute (prepare counted it in rb.wg).
func (rb *rebuilder) prepare(ctx context.Context, flow string, opts RebuildOptions) (*rebuildRun, error) {
	p := rb.p
	live, ok := rb.flows[flow]
	if !ok {
		return nil, &rebuildRefused{status: http.StatusNotFound, text: fmt.Sprintf("rebuild: pipeline %s has no flow %q", p.t.name, flow)}
	}
	rt, ok := live.sink.(sinks.Retargeter)
	if !ok {
		return nil, &rebuildRefused{status: http.StatusBadRequest, text: fmt.Sprintf("rebuild flow %q: its sink (%s) does not write through an alias: nothing can be rebuilt behind it (give the Elasticsearch sink an Alias)", flow, live.sinkName)}
	}
	rb.mu.Lock()
	if prev := rb.last[flow]; prev != nil {
		select {
		case <-prev.done:
		default:
			rb.mu.Unlock()
			st := prev.status()
			return nil, &rebuildRefused{status: http.StatusConflict, text: fmt.Sprintf("rebuild flow %q: a rebuild into index %s is running (%s); wait for it", flow, st.NewIndex, st.State)}
		}
	}
	rb.mu.Unlock()
	alias, old, err := rt.Pointer(ctx)
	if err != nil {
		return nil, &rebuildRefused{status: http.StatusBadRequest, text: fmt.Sprintf("rebuild flow %q: %v", flow, err)}
	}
	dest := opts.Index
	if dest == "" {
		dest = rt.NextDestination(old)
	}
	if dest == old {
		return nil, &rebuildRefused{status: http.StatusBadRequest, text: fmt.Sprintf("rebuild flow %q: alias %s points to index %s already; name a new index", flow, alias, dest)}
	}
	target, err := rt.Retarget(dest)
	if err != nil {
		return nil, &rebuildRefused{status: http.StatusBadRequest, text: fmt.Sprintf("rebuild flow %q: %v", flow, err)}
	}
	run := &rebuildRun{live: live, rt: rt, target: target, done: make(chan struct{}), st: opsapi.RebuildStatus{
		Pipeline: p.t.name, Flow: flow, Replica: p.replicaID, Alias: alias, OldIndex: old, NewIndex: dest, DropOld: opts.DropOld,
		Group: flowGroup(p.t.name, flow) + ".rebuild." + dest, State: opsapi.RebuildCopying, Started: time.Now().UTC(),
	}}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.closed {
		return nil, &rebuildRefused{status: http.StatusServiceUnavailable, text: fmt.Sprintf("rebuild flow %q: pipeline %s is stopping", flow, p.t.name)}
	}
	if prev := rb.last[flow]; prev != nil {
		select {
		case <-prev.done:
		default:
			return nil, &rebuildRefused{status: http.StatusConflict, text: fmt.Sprintf("rebuild flow %q: another rebuild started meanwhile", flow)}
		}
	}
	rb.last[flow] = run
	rb.wg.Add(1) // done by execute
	return run, nil
}

// rebuildRefused is a rebuild that could not start, with the API status that says why.
type rebuildRefused struct {
	status int
	text   string
}

func (e *rebuildRefused) Error() string { return e.text }

// execute runs a prepared rebuild to its end (DONE or FAILED); prepare counted it in rb.wg.
func (rb *rebuilder) execute(ctx context.Context, run *rebuildRun) {
	defer rb.wg.Done()
	defer close(run.done)
	p := rb.p
	st := run.status()
	log := p.log.With("flow", st.Flow, "alias", st.Alias, "old_index", st.OldIndex, "new_index", st.NewIndex, "group", st.Group)
	log.Info("rebuild starting: a copy of the flow fills the new index from the earliest offsets of its topic", "topic", run.live.f.from.name)
	err := rb.copyAndSwap(ctx, run, log)
	run.update(func(s *opsapi.RebuildStatus) {
		s.Finished = time.Now().UTC()
		if err != nil {
			s.State, s.Error = opsapi.RebuildFailed, err.Error()
		} else {
			s.State = opsapi.RebuildDone
		}
	})
	st = run.status()
	if err != nil {
		log.Error("rebuild failed", "err", err, "records", st.Records)
		return
	}
	log.Info("rebuild done: the alias points to the new index", "records", st.Records, "dropped_old", st.DropOld,
		"duration", st.Finished.Sub(st.Started).Round(time.Millisecond).String())
}

// copyAndSwap does the work of a rebuild; its error says what failed and where the alias is.
func (rb *rebuilder) copyAndSwap(ctx context.Context, run *rebuildRun, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}) (err error) {
	p := rb.p
	st := run.status()
	f := run.live.f
	topic := f.from.name
	// Kafka calls go through one client with the offsets deadline.
	client, err := p.offsetsClient(ctx)
	if err != nil {
		return fmt.Errorf("the alias stays on %s: %w", st.OldIndex, err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("the alias stays on %s: %w", st.OldIndex, err)
	}
	deleteGroup := func() {
		_, derr := kafka.Within(context.Background(), offsetsTimeout, p.brokers, "deleting consumer group "+st.Group,
			func() (struct{}, error) { return struct{}{}, admin.DeleteConsumerGroup(st.Group) }, nil)
		if derr != nil && !errors.Is(derr, sarama.ErrGroupIDNotFound) {
			log.Warn("rebuild: could not delete the copy's consumer group; delete it by hand", "err", inOwnWords(derr))
		}
	}
	deleteGroup() // left over from an earlier rebuild into the same index that failed: start from the earliest offsets

	copyRunner, opened, err := rb.newCopy(ctx, run)
	if err != nil {
		if opened { // the new index was created: it goes again
			if derr := run.rt.Drop(context.Background(), st.NewIndex); derr != nil {
				log.Warn("rebuild: could not delete the new index after the failure; delete it by hand", "err", derr)
			}
		}
		return fmt.Errorf("the alias stays on %s: %w", st.OldIndex, err)
	}
	procCtx, stopProc := context.WithCancel(context.Background())
	procDone := make(chan error, 1)
	go copyRunner.batch()
	go func() {
		err := copyRunner.proc.Run(metrics.WithEnv(procCtx, copyRunner.env))
		close(copyRunner.stop)
		<-copyRunner.exited
		procDone <- err
	}()
	stopped := false
	var procErr error
	stopCopy := func() {
		if stopped {
			return
		}
		stopped = true
		stopProc()
		procErr = <-procDone
		if cerr := run.target.Close(); cerr != nil {
			log.Warn("rebuild: closing the copy's sink", "err", cerr)
		}
	}
	swapped := false
	defer func() {
		stopCopy()
		deleteGroup()
		if err != nil && !swapped {
			if derr := run.rt.Drop(context.Background(), st.NewIndex); derr != nil {
				log.Warn("rebuild: could not delete the new index after the failure; delete it by hand", "err", derr)
			}
			err = fmt.Errorf("the alias stays on %s: %w", st.OldIndex, err)
		}
	}()

	partitions, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "the partitions of topic "+topic,
		func() ([]int32, error) { return client.Partitions(topic) }, nil)
	if err != nil {
		return err
	}
	// positions returns group's next offset per partition: its commit, else the partition's earliest offset.
	positions := func(group string) (map[int32]int64, error) {
		return kafka.Within(ctx, offsetsTimeout, p.brokers, "the committed offsets of group "+group, func() (map[int32]int64, error) {
			resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: partitions})
			if errors.Is(err, sarama.ErrGroupIDNotFound) {
				resp, err = nil, nil // no member committed yet
			}
			if err != nil {
				return nil, err
			}
			out := map[int32]int64{}
			for _, part := range partitions {
				if resp == nil {
					// no commits: the partition's earliest offset, below
				} else if b := resp.GetBlock(topic, part); b != nil && b.Err == sarama.ErrNoError && b.Offset >= 0 {
					out[part] = b.Offset
					continue
				}
				oldest, err := client.GetOffset(topic, part, sarama.OffsetOldest)
				if err != nil {
					return nil, err
				}
				out[part] = oldest
			}
			return out, nil
		}, nil)
	}
	// lag is how far the copy is behind goal, in records; 0 when it reached it on every partition.
	lag := func(copyAt, goal map[int32]int64) int64 {
		var n int64
		for part, g := range goal {
			if d := g - copyAt[part]; d > 0 {
				n += d
			}
		}
		return n
	}
	// await polls until the copy reached the goal goalFn returns, reporting progress.
	await := func(what string, goalFn func() (map[int32]int64, error)) error {
		tick := time.NewTicker(rebuildPollEvery)
		defer tick.Stop()
		lastLog := time.Now()
		for {
			goal, err := goalFn()
			if err != nil {
				return err
			}
			copyAt, err := positions(st.Group)
			if err != nil {
				return err
			}
			behind := lag(copyAt, goal)
			run.update(func(s *opsapi.RebuildStatus) { s.Lag, s.Records = behind, copyRunner.written.Load() })
			if behind == 0 {
				return nil
			}
			if time.Since(lastLog) >= rebuildProgressEvery {
				lastLog = time.Now()
				cur := run.status()
				log.Info("rebuild progress", "state", cur.State, "records", cur.Records, "lag", cur.Lag, "waiting_for", what)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("stopped while the copy %s (pipeline stopping, or the caller gave up): %w", what, ctx.Err())
			case <-copyRunner.failed:
				return fmt.Errorf("the copy of flow %q failed: %w", f.name, copyRunner.failErr)
			case perr := <-procDone:
				procDone <- perr // for stopCopy
				if perr == nil {
					perr = errors.New("it stopped")
				}
				return fmt.Errorf("the copy of flow %q stopped before it %s: %w", f.name, what, engineFailure(fmt.Sprintf("flow %q (rebuild)", f.name), perr))
			case <-tick.C:
			}
		}
	}

	if err := await("caught up with the live flow's committed offsets", func() (map[int32]int64, error) {
		return positions(run.live.group)
	}); err != nil {
		return err
	}
	if err := run.rt.Repoint(ctx, st.OldIndex, st.NewIndex); err != nil {
		return err
	}
	swapped = true
	run.update(func(s *opsapi.RebuildStatus) { s.State, s.Swapped = opsapi.RebuildSwapped, time.Now().UTC() })
	log.Info("rebuild swapped the alias to the new index; the copy runs on past the topic's end offsets as of the swap")
	ends, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "the end offsets of topic "+topic, func() (map[int32]int64, error) {
		return topicOffsets(client, topic, partitions, sarama.OffsetNewest) // rewind.go
	}, nil)
	if err == nil {
		err = await("passed the topic's end offsets as of the swap", func() (map[int32]int64, error) { return ends, nil })
	}
	if err != nil {
		return fmt.Errorf("the alias points to %s already, but the copy did not pass the offsets of the swap, so documents written into %s just before it may be missing from %s (%w); rebuild again, or restart flow %q from offsets before the swap",
			st.NewIndex, st.OldIndex, st.NewIndex, err, f.name)
	}
	run.update(func(s *opsapi.RebuildStatus) { s.State = opsapi.RebuildFinishing })
	stopCopy()
	if procErr != nil && !errors.Is(procErr, context.Canceled) {
		log.Warn("rebuild: the copy's processor stopped with an error after it finished", "err", engineFailure(fmt.Sprintf("flow %q (rebuild)", f.name), procErr))
	}
	run.update(func(s *opsapi.RebuildStatus) { s.Records, s.Lag = copyRunner.written.Load(), 0 })
	if st.DropOld {
		if err := run.rt.Drop(ctx, st.OldIndex); err != nil {
			return fmt.Errorf("the alias points to %s, but the old index was not dropped: %w", st.NewIndex, err)
		}
	}
	return nil
}

// newCopy builds the rebuild's copy of the live flow: its decoding and stateless stages, the retargeted
// sink (opened here, which creates the new index: opened) and a processor in the copy's group.
func (rb *rebuilder) newCopy(ctx context.Context, run *rebuildRun) (_ *sinkRunner, opened bool, _ error) {
	p, live := rb.p, run.live
	st := run.status()
	// The copy blocks when the new index is behind, whatever the flow's backpressure policy: dropping,
	// coalescing or failing on its edge would leave the new index incomplete or fail the rebuild for
	// nothing (Kafka holds the backlog).
	f := *live.f
	f.backpressure = nil
	r := &sinkRunner{
		p: p, f: &f,
		group:   st.Group,
		labels:  []string{p.t.name, live.f.name + "/rebuild"},
		queue:   make(chan sinkItem, 2*live.f.batchSize),
		failed:  make(chan struct{}),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
		next:    map[int32]int64{},
		stages:  live.stages,
		sink:    run.target,
		rebuild: run,
	}
	r.sinkName = describeSink(live.f, run.target)
	r.env = p.env("flow", live.f.name, "rebuild", st.NewIndex)
	r.counters = p.newSinkCounters(live.f.name + "/rebuild")
	openCtx, cancel := context.WithTimeout(ctx, p.cfg.StartupTimeout)
	defer cancel()
	if err := run.target.Open(metrics.WithEnv(openCtx, r.env)); err != nil {
		return nil, false, fmt.Errorf("open the sink of the new index: %w", err)
	}
	if err := r.newProcessor(); err != nil {
		_ = run.target.Close()
		return nil, true, err
	}
	return r, true, nil
}

// copyFailed is sinkRunner.fail for a rebuild's copy: the failure is the rebuild's, not the pipeline's.
func (r *rebuildRun) copyFailed(err error) error {
	return fmt.Errorf("rebuild into %s: %w", r.status().NewIndex, err)
}

// rebuildStatuses returns the last rebuild of each flow on this replica, by flow, for its status.
func (p *pipelineRun) rebuildStatuses() []opsapi.RebuildStatus {
	v, ok := runningRebuilders.Load(p)
	if !ok {
		return nil
	}
	rb := v.(*rebuilder)
	rb.mu.Lock()
	runs := make([]*rebuildRun, 0, len(rb.last))
	for _, run := range rb.last {
		runs = append(runs, run)
	}
	rb.mu.Unlock()
	out := make([]opsapi.RebuildStatus, 0, len(runs))
	for _, run := range runs {
		out = append(out, run.status())
	}
	slices.SortFunc(out, func(a, b opsapi.RebuildStatus) int { return strings.Compare(a.Flow, b.Flow) })
	return out
}

// rebuildRoutes registers POST and GET /pipelines/{name}/flows/{flow}/rebuild.
func (p *pipelineRun) rebuildRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /pipelines/{name}/flows/{flow}/rebuild", p.serveRebuild)
	mux.HandleFunc("GET /pipelines/{name}/flows/{flow}/rebuild", p.serveRebuildStatus)
}

func (p *pipelineRun) rebuilderOrAnswer(w http.ResponseWriter) *rebuilder {
	v, ok := runningRebuilders.Load(p)
	if !ok {
		writeOpsError(w, http.StatusServiceUnavailable, "pipeline %s is not running its flows on replica %s (starting or stopping); try again shortly", p.t.name, p.replicaID)
		return nil
	}
	return v.(*rebuilder)
}

// serveRebuild is POST /pipelines/{name}/flows/{flow}/rebuild with an optional opsapi.RebuildRequest body:
// 202 with the rebuild's status once it started on this replica.
func (p *pipelineRun) serveRebuild(w http.ResponseWriter, r *http.Request) {
	if !p.controlReady(w, r) {
		return
	}
	rb := p.rebuilderOrAnswer(w)
	if rb == nil {
		return
	}
	var req opsapi.RebuildRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeOpsError(w, http.StatusBadRequest, "rebuild: reading the request: %v", err)
		return
	}
	if strings.TrimSpace(string(body)) != "" {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeOpsError(w, http.StatusBadRequest, "rebuild: the body is not {\"index\": \"name\", \"drop_old\": true|false}: %v", err)
			return
		}
	}
	if p.ctl.state() == opsapi.StateStopped {
		writeOpsError(w, http.StatusConflict, "pipeline %s is STOPPED on replica %s: resume it before a rebuild (the copy runs beside the live flow)", p.t.name, p.replicaID)
		return
	}
	run, err := rb.prepare(r.Context(), r.PathValue("flow"), RebuildOptions{Index: req.Index, DropOld: req.DropOld})
	if err != nil {
		status := http.StatusBadRequest
		var refused *rebuildRefused
		if errors.As(err, &refused) {
			status = refused.status
		}
		writeOpsError(w, status, "%v", err)
		return
	}
	go rb.execute(rb.ctx, run)
	writeJSON(w, http.StatusAccepted, run.status())
}

// serveRebuildStatus is GET /pipelines/{name}/flows/{flow}/rebuild: the flow's last rebuild on this replica.
func (p *pipelineRun) serveRebuildStatus(w http.ResponseWriter, r *http.Request) {
	if !p.knownPipeline(w, r) {
		return
	}
	rb := p.rebuilderOrAnswer(w)
	if rb == nil {
		return
	}
	flow := r.PathValue("flow")
	if _, ok := rb.flows[flow]; !ok {
		writeOpsError(w, http.StatusNotFound, "pipeline %s has no flow %q", p.t.name, flow)
		return
	}
	rb.mu.Lock()
	run := rb.last[flow]
	rb.mu.Unlock()
	if run == nil {
		writeOpsError(w, http.StatusNotFound, "flow %q has not been rebuilt on replica %s since it started", flow, p.replicaID)
		return
	}
	writeJSON(w, http.StatusOK, run.status())
}
