package topology

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
)

// Status across replicas, as Kafka Connect's status topic.
//
// Every replica publishes its opsapi.ReplicaStatus (its state, the source tasks it runs, the flow and
// stateful-step partitions it processes) on the compacted topic <pipeline>.status, keyed by its replica
// id, every statusPublishEvery and at once when its state or the work it holds changes; a clean stop
// publishes a tombstone, a failure a last FAILED status. Every replica reads that topic from its start
// (statustopic.go) and keeps what each other replica published last; an entry not updated for
// statusExpiry (3 publish intervals, or Config.SessionTimeout if longer) counts as gone, as a replica that
// stops publishing loses its partitions after SessionTimeout. GET /pipelines/{name}/status merges this
// replica's own status (taken at the request) with the live entries of the others. Publishing and
// reading are best effort: failures are logged (at most once per statusLogEvery) and retried, never fatal.

const (
	// statusPublishEvery is how often a replica publishes its status when nothing changes.
	statusPublishEvery = 2 * time.Second
	// statusCheckEvery is how often a replica looks for a change of its state or of the work it holds.
	statusCheckEvery = 250 * time.Millisecond
	// statusLogEvery bounds how often failures to publish or read the status topic are logged.
	statusLogEvery = 30 * time.Second
)

// statusExpiry is how long another replica's status counts as live without an update.
func (p *pipelineRun) statusExpiry() time.Duration {
	return max(3*statusPublishEvery, p.cfg.SessionTimeout)
}

// replicaState is this replica's state: FAILED once the pipeline failed, STARTING until every processor
// reached its running state, else the state it is asked to be in (targetState).
func (p *pipelineRun) replicaState() string {
	switch {
	case p.failure.Load() != nil:
		return opsapi.StateFailed
	case !p.running.Load() && p.targetState() != opsapi.StateStopped: // a replica started while STOPPED runs no processor
		return opsapi.StateStarting
	}
	return p.targetState()
}

// pipelineTarget is the state every replica is asked to reach (the commands topic's target state, see
// control.go), which this replica may not have reached yet.
func (p *pipelineRun) pipelineTarget() string {
	if p.ctl != nil {
		p.ctl.mu.Lock()
		target := p.ctl.target
		p.ctl.mu.Unlock()
		if target != "" {
			return target
		}
	}
	return p.targetState()
}

// statusParts are the runners whose work a status shows; run attaches them each time it starts them.
type statusParts struct {
	srcs  []*sourceRunner
	snks  []*sinkRunner
	joins []processorRunner
}

// attachStatus tells the status publisher which runners hold this replica's work from now on.
func (p *pipelineRun) attachStatus(srcs []*sourceRunner, snks []*sinkRunner, joins []processorRunner) {
	if p.status == nil {
		return
	}
	p.status.mu.Lock()
	p.status.parts = statusParts{srcs: srcs, snks: snks, joins: joins}
	p.status.mu.Unlock()
	p.status.poke()
}

// replicaStatus returns this replica's status now. Lag and offsets not yet processed here come from the
// offsets the status publisher last read from Kafka (at most statusPublishEvery old).
func (p *pipelineRun) replicaStatus(ctx context.Context) opsapi.ReplicaStatus {
	st := opsapi.ReplicaStatus{ID: p.replicaID, State: p.replicaState(), HTTPAddr: p.httpAddr, Updated: time.Now().UTC()}
	if err := p.failure.Load(); err != nil {
		st.Error = (*err).Error()
	}
	b := p.status
	if b == nil {
		return st
	}
	b.mu.Lock()
	parts, offsets := b.parts, b.offsets
	b.mu.Unlock()
	workState := st.State
	if workState == opsapi.StateStarting {
		workState = opsapi.StateRunning // the task or partition runs; the replica waits for others
	}
	for _, s := range parts.srcs {
		if c, mode, ok := s.backpressureStatus(); ok { // backpressure_source.go
			st.Backpressure = append(st.Backpressure, opsapi.BackpressureStatus{Source: s.n.name, Edge: sourceBackpressureEdge,
				Mode: mode, Dropped: c.Dropped, Pending: c.Pending})
		}
		stalled := s.health.stalledHolders()
		for _, h := range s.liveTasks() {
			ts := opsapi.TaskStatus{Source: s.n.name, Task: h.task.Key, State: workState, Replica: p.replicaID,
				Stalled: stalled[h.task.Key]}
			if ts.State == opsapi.StateRunning && s.taskState(h.task.Key) == "starting" {
				ts.State = opsapi.StateStarting // claiming the task, or opening its reader
			}
			if e := h.lastError.Load(); e != nil {
				ts.LastError = *e
			}
			if lag, unit, ok := s.taskLag(h.task.Key); ok {
				ts.Lag, ts.LagUnit = &lag, unit
			}
			st.Tasks = append(st.Tasks, ts)
		}
	}
	for _, s := range parts.snks {
		if bs, ok := s.backpressureStatus(); ok {
			st.Backpressure = append(st.Backpressure, bs)
		}
		claimed, next, lastErr := s.partitionSnapshot()
		stalled := s.health.stalledHolders()[batcherHolder]
		for _, part := range claimed {
			ps := opsapi.PartitionStatus{Flow: s.f.name, Group: s.group, Topic: s.f.from.name, Partition: part,
				State: workState, Replica: p.replicaID, LastError: lastErr, Stalled: stalled}
			n, ok := next[part]
			ps.Offset, ps.Lag = offsets.position(s.group, s.f.from.name, part, n, ok)
			st.Partitions = append(st.Partitions, ps)
		}
	}
	for _, j := range parts.joins {
		sr, ok := j.(stepRunner)
		if !ok {
			continue
		}
		spec := sr.step()
		statsCtx, cancel := context.WithTimeout(ctx, time.Second)
		stats := j.processor().StatsWithContext(statsCtx)
		cancel()
		if stats == nil {
			continue
		}
		for part, ps := range stats.Group {
			n, ok := int64(0), false
			if in := ps.Input[spec.in.name]; in != nil && in.Count > 0 {
				n, ok = in.LastOffset+1, true
			}
			out := opsapi.PartitionStatus{Flow: spec.flowName, Step: sr.stageName(), Group: spec.group, Topic: spec.in.name,
				Partition: part, State: workState, Replica: p.replicaID}
			out.Offset, out.Lag = offsets.position(spec.group, spec.in.name, part, n, ok)
			st.Partitions = append(st.Partitions, out)
		}
	}
	st.Rebuilds = p.rebuildStatuses() // rebuild.go
	sortTasks(st.Tasks)
	sortPartitions(st.Partitions)
	return st
}

// statusShape is what, when it changes, makes a replica publish at once: its state and which tasks and
// flow partitions it holds (cheap to take: no Kafka request, no goka stats).
func (p *pipelineRun) statusShape() string {
	var b strings.Builder
	b.WriteString(p.replicaState())
	if p.status == nil {
		return b.String()
	}
	p.status.mu.Lock()
	parts := p.status.parts
	p.status.mu.Unlock()
	for _, s := range parts.srcs {
		keys := []string{}
		for _, h := range s.liveTasks() {
			keys = append(keys, h.task.Key)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "|%s:%s", s.n.name, strings.Join(keys, ","))
	}
	for _, s := range parts.snks {
		claimed, _, lastErr := s.partitionSnapshot()
		fmt.Fprintf(&b, "|%s:%v:%s", s.f.name, claimed, lastErr)
	}
	return b.String()
}

// liveReplicas returns the status every live replica of this pipeline published last, this one's
// included (taken now), sorted by replica id.
func (p *pipelineRun) liveReplicas() []opsapi.ReplicaStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := []opsapi.ReplicaStatus{p.replicaStatus(ctx)}
	if p.status != nil {
		out = append(out, p.status.others(time.Now(), p.statusExpiry())...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// declaredWork is every source task and flow or step partition of the pipeline as this replica knows
// them, so that the merged status also lists work no live replica holds (state UNASSIGNED); a partition
// comes with its group's committed offset (or the oldest) and lag as last read from Kafka.
func (p *pipelineRun) declaredWork() ([]opsapi.TaskStatus, []opsapi.PartitionStatus) {
	if p.status == nil {
		return nil, nil
	}
	p.status.mu.Lock()
	parts, offsets := p.status.parts, p.status.offsets
	p.status.mu.Unlock()
	var tasks []opsapi.TaskStatus
	var partitions []opsapi.PartitionStatus
	for _, s := range parts.srcs {
		for _, task := range s.tasks {
			tasks = append(tasks, opsapi.TaskStatus{Source: s.n.name, Task: task.Key})
		}
	}
	for _, s := range parts.snks {
		for part := range s.f.from.partitions {
			ps := opsapi.PartitionStatus{Flow: s.f.name, Group: s.group, Topic: s.f.from.name, Partition: part}
			ps.Offset, ps.Lag = offsets.position(s.group, s.f.from.name, part, 0, false)
			partitions = append(partitions, ps)
		}
	}
	for _, j := range parts.joins {
		sr, ok := j.(stepRunner)
		if !ok {
			continue
		}
		spec := sr.step()
		for part := range spec.in.partitions {
			ps := opsapi.PartitionStatus{Flow: spec.flowName, Step: sr.stageName(), Group: spec.group, Topic: spec.in.name, Partition: part}
			ps.Offset, ps.Lag = offsets.position(spec.group, spec.in.name, part, 0, false)
			partitions = append(partitions, ps)
		}
	}
	return tasks, partitions
}

// mergeStatus merges the status of the live replicas: every task and partition once, held by the replica
// that published it most recently (two may both report one for a moment while it moves), and every
// declared one no replica holds as UNASSIGNED with no replica (and the offset and lag it was declared
// with). State is FAILED if a replica failed, else
// target if every replica reached it, else STARTING.
func mergeStatus(name, target string, replicas []opsapi.ReplicaStatus, declaredTasks []opsapi.TaskStatus,
	declaredParts []opsapi.PartitionStatus) opsapi.Status {
	out := opsapi.Status{Name: name, State: target, Replicas: replicas, Tasks: []opsapi.TaskStatus{}, Partitions: []opsapi.PartitionStatus{}}
	if out.Replicas == nil {
		out.Replicas = []opsapi.ReplicaStatus{}
	}
	byRecency := slices.Clone(replicas)
	sort.SliceStable(byRecency, func(i, j int) bool { return byRecency[i].Updated.After(byRecency[j].Updated) })
	type taskKey struct{ source, task string }
	type partKey struct {
		group, topic string
		partition    int32
	}
	tasks := map[taskKey]bool{}
	parts := map[partKey]bool{}
	for _, r := range byRecency {
		switch {
		case r.State == opsapi.StateFailed:
			out.State = opsapi.StateFailed
		case r.State != target && out.State != opsapi.StateFailed:
			out.State = opsapi.StateStarting
		}
		for _, t := range r.Tasks {
			k := taskKey{t.Source, t.Task}
			if !tasks[k] {
				tasks[k] = true
				out.Tasks = append(out.Tasks, t)
			}
		}
		for _, ps := range r.Partitions {
			k := partKey{ps.Group, ps.Topic, ps.Partition}
			if !parts[k] {
				parts[k] = true
				out.Partitions = append(out.Partitions, ps)
			}
		}
	}
	for _, t := range declaredTasks {
		if k := (taskKey{t.Source, t.Task}); !tasks[k] {
			tasks[k] = true
			t.State, t.Replica = opsapi.StateUnassigned, ""
			out.Tasks = append(out.Tasks, t)
		}
	}
	for _, ps := range declaredParts {
		if k := (partKey{ps.Group, ps.Topic, ps.Partition}); !parts[k] {
			parts[k] = true
			ps.State, ps.Replica = opsapi.StateUnassigned, ""
			out.Partitions = append(out.Partitions, ps)
		}
	}
	sortTasks(out.Tasks)
	sortPartitions(out.Partitions)
	return out
}

func sortTasks(ts []opsapi.TaskStatus) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Source != ts[j].Source {
			return ts[i].Source < ts[j].Source
		}
		return ts[i].Task < ts[j].Task
	})
}

func sortPartitions(ps []opsapi.PartitionStatus) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Flow != b.Flow {
			return a.Flow < b.Flow
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
}

// The read side of the operator API.

// statusRoutes registers GET / (opsapi.Root), GET /pipelines (the names), GET /pipelines/{name}
// (opsapi.Pipeline) and GET /pipelines/{name}/status (opsapi.Status), and a catch-all that answers every
// path no route serves with 404 and every method a route does not take with 405 (an Allow header naming
// those it takes), both as opsapi.Error, instead of the mux's plain text.
func (p *pipelineRun) statusRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.serveRoot)
	mux.HandleFunc("GET /pipelines", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []string{p.t.name})
	})
	mux.HandleFunc("GET /pipelines/{name}", func(w http.ResponseWriter, r *http.Request) {
		if p.knownPipeline(w, r) {
			writeJSON(w, http.StatusOK, p.t.describe())
		}
	})
	mux.HandleFunc("GET /pipelines/{name}/acls", p.serveACLs) // acls.go
	mux.HandleFunc("GET /pipelines/{name}/status", func(w http.ResponseWriter, r *http.Request) {
		if !p.knownPipeline(w, r) {
			return
		}
		tasks, parts := p.declaredWork()
		writeJSON(w, http.StatusOK, mergeStatus(p.t.name, p.pipelineTarget(), p.liveReplicas(), tasks, parts))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			if slices.Contains(allowed, http.MethodGet) {
				allowed = append(allowed, http.MethodHead)
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeOpsError(w, http.StatusMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
			return
		}
		writeOpsError(w, http.StatusNotFound, "no endpoint %s %s (see docs/api.md)", r.Method, r.URL.Path)
	})
}

// knownPipeline answers 404 and returns false unless the request's {name} is this pipeline.
func (p *pipelineRun) knownPipeline(w http.ResponseWriter, r *http.Request) bool {
	if name := r.PathValue("name"); name != p.t.name {
		writeOpsError(w, http.StatusNotFound, "no pipeline %q here (this replica runs %q)", name, p.t.name)
		return false
	}
	return true
}

// writeOpsError answers code with an opsapi.Error whose message is format and args.
func writeOpsError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, opsapi.Error{ErrorCode: code, Message: fmt.Sprintf(format, args...)})
}

func (p *pipelineRun) serveRoot(w http.ResponseWriter, _ *http.Request) {
	version, commit := buildVersion()
	root := opsapi.Root{Version: version, Commit: commit, Replica: p.replicaID, Pipelines: []string{p.t.name}}
	if p.status != nil {
		root.ClusterID = p.status.cluster()
	}
	writeJSON(w, http.StatusOK, root)
}

// sluiceModule is the module path whose version GET / reports.
const sluiceModule = "github.com/sluicehq/sluice"

// buildVersion returns Sluice's version as the binary was built with it (the main module's when it is
// Sluice itself, else the version of the Sluice dependency; "(devel)" when unknown) and the VCS commit
// the binary was built from ("-dirty" appended when the tree had changes; "" when unknown).
func buildVersion() (version, commit string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)", ""
	}
	version = info.Main.Version
	if info.Main.Path != sluiceModule {
		for _, d := range info.Deps {
			if d.Path == sluiceModule {
				version = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					version = d.Replace.Version
				}
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if commit != "" && dirty {
		commit += "-dirty"
	}
	return version, commit
}

// Hooks on the runners: snapshots taken under their own locks.

// setLiveTasks records the tasks manage runs now, for the status.
func (r *sourceRunner) setLiveTasks(running map[string]*taskHandle) {
	live := make([]*taskHandle, 0, len(running))
	for _, h := range running {
		live = append(live, h)
	}
	r.mu.Lock()
	r.live = live
	r.mu.Unlock()
}

// liveTasks returns the tasks this replica runs now.
func (r *sourceRunner) liveTasks() []*taskHandle {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

// partitionSnapshot returns the input partitions the flow's live session claims (none between sessions),
// sorted, the next offset to process of those it processed a record of, and the last error of a sink
// write being retried ("" when the last write succeeded).
func (r *sinkRunner) partitionSnapshot() ([]int32, map[int32]int64, string) {
	sess, _ := r.committer.current()
	var claimed []int32
	if sess != nil {
		claimed = slices.Clone(sess.Claims()[r.f.from.name])
		slices.Sort(claimed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make(map[int32]int64, len(claimed))
	for _, part := range claimed {
		if o, ok := r.next[part]; ok {
			next[part] = o
		}
	}
	return claimed, next, r.retryError
}

// stepRunner is a stateful step's runner (joinRunner, keyedRunner) as the status sees it.
type stepRunner interface {
	step() *joinSpec   // the stateful step it runs
	stageName() string // the step's name
}

// step returns the stateful step the runner runs.
func (r *joinRunner) step() *joinSpec { return r.spec }

// stalledHolders returns the holders with pending work of a component declared stalled (none when it is
// not).
func (c *component) stalledHolders() map[string]bool {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stalledSince.IsZero() {
		return nil
	}
	out := make(map[string]bool, len(c.waits))
	for h := range c.waits {
		out[h] = true
	}
	return out
}

// statusOffsets are the partition offsets the status publisher last read from Kafka.
type statusOffsets struct {
	committed map[string]map[int32]int64 // by group+"\x00"+topic, -1 for none
	oldest    map[string]map[int32]int64 // by topic
	newest    map[string]map[int32]int64 // by topic: the high-water mark
}

// position returns a partition's next offset to process and its lag: next when this replica processed a
// record of it (known), else the group's committed offset, else the partition's oldest offset (where a new
// group starts), else -1; lag is the high-water mark minus that (0 when unknown).
func (o statusOffsets) position(group, topic string, part int32, next int64, known bool) (int64, int64) {
	if c, ok := o.committed[group+"\x00"+topic][part]; ok && c >= 0 && (!known || c > next) {
		next, known = c, true
	}
	if !known {
		if old, ok := o.oldest[topic][part]; ok {
			next, known = old, true
		}
	}
	if !known {
		return -1, 0
	}
	if hwm, ok := o.newest[topic][part]; ok && hwm > next {
		return next, hwm - next
	}
	return next, 0
}
