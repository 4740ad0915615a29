package topology

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// How a source is compiled onto goka.
//
// Each source gets a processor group <pipeline>.<source> whose input is the compacted control topic
// <pipeline>.<source>.control, keyed by task key, and whose group table holds a TaskState per task. A task
// lives in the control partition its key hashes to; the replica that goka assigns that partition runs it.
//
// A task talks to the table only through control messages, which the processor applies in partition order:
//   - claim: "I run this task now". The processor records the new owner and answers the claimant with the
//     stored position. Because the claim is applied after every earlier message of its partition, the answer
//     includes every position a previous owner managed to send before it died or moved.
//   - position: the task's HighestContiguousAck. Applied only if sent by the current owner, so a replica
//     that lost the task (and does not know it yet) can never move the position back.
//   - release: the final position when a task stops; clears the owner.

type controlKind string

const (
	controlClaim    controlKind = "claim"
	controlPosition controlKind = "position"
	controlRelease  controlKind = "release"
)

type controlMessage struct {
	Kind     controlKind     `json:"kind"`
	Owner    string          `json:"owner"`
	Position stream.Position `json:"position,omitempty"`
}

// TaskState is what a source's group table holds for one task.
type TaskState struct {
	// Position is the Position of the task's last record that Kafka acknowledged, with every record before
	// it; nil before the first.
	Position stream.Position `json:"position,omitempty"`
	// Owner names the replica run that holds the task, empty when nobody runs it.
	Owner string `json:"owner,omitempty"`
	// Updated is when the processor last changed this state.
	Updated time.Time `json:"updated"`
}

type sourceRunner struct {
	p       *pipelineRun
	n       *SourceNode
	group   string
	control string
	tasks   []sources.Task
	proc    *goka.Processor
	labels  []string
	stages  stageChain

	recordsRead, recordsAcked prometheus.Counter
	read, acked               atomic.Int64  // for progress lines
	health                    *component    // stall tracking: records read and not yet acknowledged by Kafka
	observer                  *taskObserver // task states and lags (observe.go)
	edge                      *sourceEdge   // an ERROR or DROP policy on the source -> Kafka edge (backpressure_source.go)

	mu       sync.Mutex
	claims   map[string]chan stream.Position
	releases map[string]chan struct{}
	events   []sourceEvent
	wake     chan struct{}
	managed  chan struct{} // closed when manage returned
	owners   atomic.Int64
	live     []*taskHandle // the tasks manage runs now, for the status (setLiveTasks)
}

// sourceEvent is what manage reacts to, in order: stop everything (a rebalance began), run the tasks of
// these partitions (a rebalance ended), or a task ended by itself.
type sourceEvent struct {
	stopAll     bool
	stopped     chan struct{} // closed once stopAll was carried out (nil: nobody waits)
	assigned    map[int32]bool
	exited      *taskHandle
	restartTask string // the operator's restart of a task (control.go): released and claimed again
}

type taskHandle struct {
	task   sources.Task
	owner  string
	cancel context.CancelFunc
	clean  atomic.Bool // on stop, wait until the processor applied the release
	done   chan struct{}
	err    error
	ended  bool // the source reported ErrEndOfInput
	// lastError is the error of the task's transient failures while it retries (nil once it reads again).
	lastError atomic.Pointer[string]
}

func (p *pipelineRun) newSourceRunner(ctx context.Context, n *SourceNode) (*sourceRunner, error) {
	tasks, err := n.src.Tasks(metrics.WithEnv(ctx, p.env("source", n.name)))
	if err != nil {
		return nil, fmt.Errorf("source %q: split into tasks: %w", n.name, err)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Key < tasks[j].Key })
	for i, task := range tasks {
		if task.Key == "" {
			return nil, fmt.Errorf("source %q: task %d has an empty key", n.name, i)
		}
		if i > 0 && tasks[i-1].Key == task.Key {
			return nil, fmt.Errorf("source %q: two tasks share the key %q", n.name, task.Key)
		}
	}
	r := &sourceRunner{
		p: p, n: n, tasks: tasks,
		group:    sourceGroup(p.t.name, n.name),
		control:  controlTopic(p.t.name, n.name),
		labels:   []string{p.t.name, n.name},
		claims:   map[string]chan stream.Position{},
		releases: map[string]chan struct{}{},
		wake:     make(chan struct{}, 1),
		managed:  make(chan struct{}),
		stages:   p.newStageChain(stageScope{source: n.name}, n.stages),
	}
	r.recordsRead = p.metrics.SourceRecords.WithLabelValues(r.labels...)
	r.recordsAcked = p.metrics.SourceRecordsAcked.WithLabelValues(r.labels...)
	r.health = p.stalls.component("source", n.name)
	r.observer = p.newTaskObserver(n.name)
	r.edge = r.newSourceEdge()
	if err := r.newProcessor(); err != nil {
		return nil, err
	}
	p.log.Info("source ready", "source", n.name, "tasks", len(tasks), "group", r.group, "control_topic", r.control)
	return r, nil
}

// newProcessor builds the source's goka processor. Its table lives in memory: a new processor recovers it
// from the table topic, so it sees positions written there while the pipeline was stopped (offsets.go).
func (r *sourceRunner) newProcessor() error {
	g := goka.DefineGroup(goka.Group(r.group),
		goka.Input(goka.Stream(r.control), jsonCodec[controlMessage]{}, r.apply),
		goka.Persist(jsonCodec[TaskState]{}),
	)
	opts := append(r.p.gokaOptions(storage.MemoryBuilder()), goka.WithRebalanceCallback(r.onAssign),
		goka.WithConsumerGroupBuilder(hookedBuilder(r.p.consumerGroupBuilder, sessionHooks{beforeCleanup: r.stopTasksForHandover})))
	proc, err := goka.NewProcessor(r.p.brokers, g, opts...)
	if err != nil {
		return fmt.Errorf("source %q: create processor: %w", r.n.name, err)
	}
	r.proc = proc
	return nil
}

// renew prepares a stopped source (processor and task manager returned) to run again: a new processor and
// no leftover events, claims or releases.
func (r *sourceRunner) renew() error {
	r.mu.Lock()
	r.events = nil
	r.claims = map[string]chan stream.Position{}
	r.releases = map[string]chan struct{}{}
	r.mu.Unlock()
	select {
	case <-r.wake:
	default:
	}
	r.managed = make(chan struct{})
	return r.newProcessor()
}

// apply is the processor callback: it applies one control message to the task's TaskState.
func (r *sourceRunner) apply(ctx goka.Context, msg any) {
	m := msg.(*controlMessage)
	var st TaskState
	if v := ctx.Value(); v != nil {
		st = *v.(*TaskState)
	}
	switch m.Kind {
	case controlClaim:
		// Tasks run where their control partition is, so a claim this replica did not make (or no longer
		// waits for) comes from a replica that lost the partition, or is a replay: it must not take the task
		// from its current owner.
		r.mu.Lock()
		c, ok := r.claims[m.Owner]
		delete(r.claims, m.Owner)
		r.mu.Unlock()
		if !ok {
			return
		}
		st.Owner, st.Updated = m.Owner, time.Now().UTC()
		ctx.SetValue(&st)
		c <- st.Position
	case controlPosition, controlRelease:
		if st.Owner != m.Owner {
			r.p.log.Warn("ignored a position from a task owner that was replaced", "source", r.n.name,
				"task", ctx.Key(), "sender", m.Owner, "owner", st.Owner)
		} else {
			st.Position, st.Updated = m.Position, time.Now().UTC()
			if m.Kind == controlRelease {
				st.Owner = ""
			}
			ctx.SetValue(&st)
			r.p.metrics.SourcePositionsSaved.WithLabelValues(r.labels...).Inc()
		}
		if m.Kind == controlRelease {
			r.mu.Lock()
			if c, ok := r.releases[m.Owner]; ok {
				close(c)
				delete(r.releases, m.Owner)
			}
			r.mu.Unlock()
		}
	}
}

// onAssign is goka's rebalance callback: the control partitions this replica owns from now on.
func (r *sourceRunner) onAssign(assignment goka.Assignment) {
	set := map[int32]bool{}
	for p := range assignment {
		set[p] = true
	}
	r.push(sourceEvent{assigned: set})
}

func (r *sourceRunner) push(ev sourceEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	signal(r.wake)
}

// stopTasksForHandover stops every task of this replica before its partitions are handed over (goka's
// Cleanup), so that a task's old and new owner do not produce at the same time: the new owner's claim then
// follows the old owner's release. It gives up waiting after handoverWait, or when the manager is gone.
func (r *sourceRunner) stopTasksForHandover() {
	done := make(chan struct{})
	r.push(sourceEvent{stopAll: true, stopped: done})
	select {
	case <-done:
	case <-r.managed:
	case <-time.After(handoverWait):
		r.p.log.Warn("source tasks still stopping when the partitions were handed over", "source", r.n.name)
	}
}

// handoverWait bounds how long a rebalance waits for this replica's source tasks to stop; it stays below
// the consumer group's rebalance timeout (30s).
const handoverWait = 20 * time.Second

// watchState turns the processor leaving its running state (a rebalance began, or shutdown) into a stop of
// every task, before the partitions move to another replica. It drains goka's observer promptly, as goka
// blocks on it.
func (r *sourceRunner) watchState(ctx context.Context) {
	obs := r.proc.StateReader().ObserveStateChange()
	defer obs.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case s, ok := <-obs.C():
			if !ok {
				return
			}
			// Only Stopping: it comes before the next assignment, whereas Stopped races with it.
			if s == goka.ProcStateStopping {
				r.push(sourceEvent{stopAll: true})
			}
		}
	}
}

// manage runs and stops this replica's tasks as ownership changes, until ctx ends; then it stops every
// task cleanly (final positions applied to the table) and returns. A task error stops the pipeline.
func (r *sourceRunner) manage(ctx context.Context) error {
	defer close(r.managed)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go r.watchState(watchCtx)

	running := map[string]*taskHandle{}
	ended := map[string]bool{}
	// stop stops tasks and returns the first error one of them ended with (a produce failure, a final
	// position it could not save): like the error of a task that ended by itself, it stops the pipeline.
	stop := func(keys []string, clean bool) error {
		for _, k := range keys {
			running[k].clean.Store(clean)
			running[k].cancel()
		}
		var first error
		for _, k := range keys {
			<-running[k].done
			if err := running[k].err; err != nil && first == nil {
				first = err
			}
			delete(running, k)
		}
		r.p.metrics.SourceTasksRunning.WithLabelValues(r.labels...).Set(float64(len(running)))
		r.setLiveTasks(running)
		return first
	}
	all := func() []string {
		keys := make([]string, 0, len(running))
		for k := range running {
			keys = append(keys, k)
		}
		return keys
	}
	for {
		select {
		case <-ctx.Done():
			return stop(all(), true)
		case <-r.wake:
		}
		r.mu.Lock()
		events := r.events
		r.events = nil
		r.mu.Unlock()
		for _, ev := range events {
			switch {
			case ev.exited != nil:
				h := ev.exited
				if running[h.task.Key] != h {
					continue // stopped on purpose, already removed
				}
				delete(running, h.task.Key)
				if h.err != nil {
					_ = stop(all(), false)
					return h.err
				}
				if h.ended {
					ended[h.task.Key] = true
				}
			case ev.restartTask != "":
				h := running[ev.restartTask]
				if h == nil {
					continue // not run by this replica
				}
				r.p.log.Info("restarting source task", "source", r.n.name, "task", h.task.Key)
				if err := stop([]string{h.task.Key}, true); err != nil {
					_ = stop(all(), false)
					return err
				}
				running[h.task.Key] = r.start(ctx, h.task)
			case ev.stopAll:
				// A task that failed by itself just before is among these: its error must stop the pipeline
				// rather than be dropped and the task silently restarted after the rebalance.
				err := stop(all(), false)
				if ev.stopped != nil {
					close(ev.stopped)
				}
				if err != nil {
					return err
				}
			default:
				var leave []string
				for k, h := range running {
					if !ev.assigned[kafka.PartitionFor(h.task.Key, r.n.controlPartitions)] {
						leave = append(leave, k)
					}
				}
				if err := stop(leave, false); err != nil {
					_ = stop(all(), false)
					return err
				}
				for _, task := range r.tasks {
					if running[task.Key] == nil && !ended[task.Key] && ev.assigned[kafka.PartitionFor(task.Key, r.n.controlPartitions)] {
						running[task.Key] = r.start(ctx, task)
					}
				}
			}
			r.p.metrics.SourceTasksRunning.WithLabelValues(r.labels...).Set(float64(len(running)))
			r.setLiveTasks(running)
		}
	}
}

func (r *sourceRunner) start(ctx context.Context, task sources.Task) *taskHandle {
	// Only manage stops a task (after saying whether to stop cleanly), so its context does not inherit ctx's
	// cancellation.
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &taskHandle{
		task:   task,
		owner:  fmt.Sprintf("%s#%d", r.p.replicaID, r.owners.Add(1)),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		h.err = r.runTask(tctx, h)
		if errors.Is(h.err, sources.ErrEndOfInput) {
			h.ended, h.err = true, nil
		}
		if h.err != nil {
			r.p.log.Error("source task failed", "source", r.n.name, "task", task.Key, "err", h.err)
		}
		cancel()
		close(h.done)
		r.push(sourceEvent{exited: h})
	}()
	return h
}

// sendControl produces a control message and waits until Kafka acknowledged it.
func (r *sourceRunner) sendControl(key string, m controlMessage) error {
	value, err := jsonCodec[controlMessage]{}.Encode(&m)
	if err != nil {
		return err
	}
	acked := make(chan error, 1)
	err = r.p.controlProducer.Send(context.Background(),
		kafka.Message{Topic: r.control, Key: []byte(key), Value: value},
		func(_ int32, _ int64, err error) { acked <- err })
	if err != nil {
		return err
	}
	if err := <-acked; err != nil {
		return fmt.Errorf("source %q task %q: save %s: %w", r.n.name, key, m.Kind, inOwnWords(err))
	}
	return nil
}

// claim makes h's owner the task's owner and returns the task's stored position.
func (r *sourceRunner) claim(ctx context.Context, h *taskHandle) (stream.Position, error) {
	reply := make(chan stream.Position, 1)
	r.mu.Lock()
	r.claims[h.owner] = reply
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.claims, h.owner)
		r.mu.Unlock()
	}()
	if err := r.sendControl(h.task.Key, controlMessage{Kind: controlClaim, Owner: h.owner}); err != nil {
		return nil, err
	}
	select {
	case pos := <-reply:
		return pos, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release saves the final position; with wait, it also waits (a bounded time) until the processor applied it,
// so that the table holds it when the process exits.
func (r *sourceRunner) release(h *taskHandle, pos stream.Position, wait bool) error {
	applied := make(chan struct{})
	if wait {
		r.mu.Lock()
		r.releases[h.owner] = applied
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			delete(r.releases, h.owner)
			r.mu.Unlock()
		}()
	}
	if err := r.sendControl(h.task.Key, controlMessage{Kind: controlRelease, Owner: h.owner, Position: pos}); err != nil {
		return err
	}
	if wait {
		select {
		case <-applied:
		case <-time.After(10 * time.Second):
			r.p.log.Warn("final position not yet applied to the table; it will be on the next start", "source", r.n.name, "task", h.task.Key)
		}
	}
	return nil
}

// savePositions sends the task's HighestContiguousAck whenever it moves, one control message at a time,
// and once Kafka acknowledged each, tells the reader through commits (sources.Committer).
func (r *sourceRunner) savePositions(ctx context.Context, h *taskHandle, tr *ackTracker, last stream.Position, commits *commitHook) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tr.changed:
		}
		pos, completed, err := tr.savedState()
		if err != nil {
			return err
		}
		if bytes.Equal(pos, last) {
			continue
		}
		if err := r.sendControl(h.task.Key, controlMessage{Kind: controlPosition, Owner: h.owner, Position: pos}); err != nil {
			return err
		}
		commits.saved(pos, completed)
		last = pos
	}
}

// String shows the state as an operator reads it: position JSON, owner and update time.
func (s TaskState) String() string {
	owner := s.Owner
	if owner == "" {
		owner = "none"
	}
	return fmt.Sprintf("position=%s owner=%s updated=%s", s.Position, owner, s.Updated.Format(time.RFC3339Nano))
}
