package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
)

// The control side of the operator API: pause, resume, stop and restart on every replica, and the offsets
// (offsets.go).
//
// Every replica of a pipeline follows one compacted topic, <pipeline>.commands (commandsTopic), with two
// keys:
//   - "target-state": {"state":"RUNNING|PAUSED|STOPPED","at":...}, the state every replica is asked to be
//     in. It persists: a replica started later, or restarted, reads it at start-up before it starts any
//     processor, so a paused pipeline comes up paused and a stopped one starts no processor.
//   - "restart": the last restart request {"id":...,"flow":...,"source":...,"task":...,"at":...}. Requests
//     older than a replica's start are history and not applied again.
//
// An API call on any replica writes its command to the topic and answers 202 once Kafka acknowledged it;
// every replica (that one included) applies it when its commands reader sees it, within about a second.
// What the states mean on a replica:
//   - PAUSED: source tasks block before their next Read and keep their claims; flows write nothing new
//     to their sinks (a write in flight finishes and commits; records already consumed wait). The
//     processors keep their partitions.
//   - STOPPED: the processors stop as on a clean shutdown (tasks save their final positions, flows write
//     what they hold and commit) and leave their consumer groups, so that offsets may be changed. The HTTP
//     server and the commands reader keep running.
//   - RUNNING: everything runs; from STOPPED, the processors are built again and re-read the positions and
//     committed offsets.

// commandTimeout bounds how long an API call waits for Kafka to acknowledge its command.
const commandTimeout = 10 * time.Second

// The keys of the commands topic.
const (
	commandTargetState = "target-state"
	commandRestart     = "restart"
)

// targetStateCommand is the value of the "target-state" key.
type targetStateCommand struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
}

// restartCommand is the value of the "restart" key: the whole pipeline when Flow and Source are empty,
// else one flow's processors, one source's processor, or one task of a source.
type restartCommand struct {
	ID     string    `json:"id"`
	Flow   string    `json:"flow,omitempty"`
	Source string    `json:"source,omitempty"`
	Task   string    `json:"task,omitempty"`
	At     time.Time `json:"at"`
}

// what names what a restart command restarts, as an operator reads it.
func (c restartCommand) what() string {
	switch {
	case c.Task != "":
		return fmt.Sprintf("task %q of source %q", c.Task, c.Source)
	case c.Source != "":
		return fmt.Sprintf("source %q", c.Source)
	case c.Flow != "":
		return fmt.Sprintf("flow %q", c.Flow)
	}
	return "every processor"
}

// controlState is this replica's view of the commands topic and what it applied. Its methods are safe for
// concurrent use; on a nil controlState (a pipelineRun built by a test without RunWith) the pipeline
// always runs.
type controlState struct {
	mu       sync.Mutex
	target   string           // the target state read from the commands topic
	applied  string           // the state this replica reached (STOPPED only once its processors stopped)
	restarts []restartCommand // restart requests not yet applied
	tasks    map[string][]string

	wake     chan struct{}                 // signalled on every change, for the run loop
	unpaused atomic.Pointer[chan struct{}] // closed while the target is not PAUSED
	ready    atomic.Bool                   // the commands reader caught up and commands can be sent
}

func newControlState() *controlState {
	c := &controlState{target: opsapi.StateRunning, applied: opsapi.StateRunning, wake: make(chan struct{}, 1)}
	open := make(chan struct{})
	close(open)
	c.unpaused.Store(&open)
	return c
}

// setTarget records the target state and opens or closes the pause gate.
func (c *controlState) setTarget(state string) {
	c.mu.Lock()
	c.target = state
	gate := *c.unpaused.Load()
	select {
	case <-gate: // open
		if state == opsapi.StatePaused {
			closed := make(chan struct{})
			c.unpaused.Store(&closed)
		}
	default:
		if state != opsapi.StatePaused {
			close(gate)
		}
	}
	c.mu.Unlock()
	signal(c.wake)
}

// addRestart queues a restart request for the run loop.
func (c *controlState) addRestart(r restartCommand) {
	c.mu.Lock()
	c.restarts = append(c.restarts, r)
	c.mu.Unlock()
	signal(c.wake)
}

// take returns the target state and the restart requests queued since the last call.
func (c *controlState) take() (string, []restartCommand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.restarts
	c.restarts = nil
	return c.target, r
}

func (c *controlState) setApplied(state string) {
	c.mu.Lock()
	c.applied = state
	c.mu.Unlock()
}

// state is the state this replica reached: PAUSED and RUNNING as soon as they are the target (the gates
// act at once), STOPPED once the processors stopped.
func (c *controlState) state() string {
	if c == nil {
		return opsapi.StateRunning
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.target == opsapi.StateStopped || c.applied == opsapi.StateStopped {
		return c.applied
	}
	return c.target
}

// awaitUnpaused returns true at once unless the pipeline is paused; then it waits until it is not
// (true), or ctx ends or abort is closed (false). abort may be nil.
func (c *controlState) awaitUnpaused(ctx context.Context, abort <-chan struct{}) bool {
	if c == nil {
		return true
	}
	gate := *c.unpaused.Load()
	select {
	case <-gate:
		return true
	default:
	}
	select {
	case <-gate:
		return true
	case <-ctx.Done():
		return false
	case <-abort:
		return false
	}
}

// paused reports whether the target state is PAUSED.
func (c *controlState) paused() bool {
	if c == nil {
		return false
	}
	select {
	case <-*c.unpaused.Load():
		return false
	default:
		return true
	}
}

// targetState is the state this replica is in as the operator API reports it: RUNNING or PAUSED as soon as
// the commands topic asks for them, STOPPED once its processors stopped (before that, the state it is
// leaving).
func (p *pipelineRun) targetState() string { return p.ctl.state() }

// followCommands reads the commands topic from its start and applies the target state it holds before it
// returns (within StartupTimeout), so that the processors start in that state; restart requests it finds
// there are history and are not applied. Then it follows the topic in a goroutine until ctx ends and
// applies each new command. The returned function stops the reader.
func (p *pipelineRun) followCommands(ctx context.Context) (func(), error) {
	topic := commandsTopic(p.t.name)
	cfg := kafka.StartupConfig(p.saramaConfig("sluice-commands"), p.cfg.StartupTimeout)
	client, err := kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a metadata request for topic "+topic,
		func() (sarama.Client, error) { return sarama.NewClient(p.brokers, cfg) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return nil, fmt.Errorf("commands topic %s: %w", topic, err)
	}
	fail := func(err error) (func(), error) {
		_ = client.Close()
		return nil, fmt.Errorf("commands topic %s: %w", topic, err)
	}
	end, err := kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a list-offsets request for topic "+topic,
		func() (int64, error) { return client.GetOffset(topic, 0, sarama.OffsetNewest) }, nil)
	if err != nil {
		return fail(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fail(err)
	}
	pc, err := kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a fetch from topic "+topic,
		func() (sarama.PartitionConsumer, error) {
			return consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
		},
		func(pc sarama.PartitionConsumer) { _ = pc.Close() })
	if err != nil {
		_ = consumer.Close()
		return fail(err)
	}
	caughtUp := make(chan struct{})
	if end == 0 {
		close(caughtUp)
	}
	readCtx, stopReading := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lastRestart := ""
		errs := pc.Errors()
		for {
			select {
			case <-readCtx.Done():
				return
			case err, ok := <-errs: // drained, or the consumer would block; it retries by itself
				if !ok {
					errs = nil
					continue
				}
				p.log.Warn("reading the commands topic", "topic", topic, "err", inOwnWords(err))
			case msg, ok := <-pc.Messages():
				if !ok {
					return
				}
				history := msg.Offset < end // written before this replica started
				p.applyCommand(string(msg.Key), msg.Value, history, &lastRestart)
				if msg.Offset >= end-1 {
					select {
					case <-caughtUp:
					default:
						close(caughtUp)
					}
				}
			}
		}
	}()
	stop := func() {
		stopReading()
		<-done
		_ = pc.Close()
		_ = consumer.Close()
		_ = client.Close()
	}
	timer := time.NewTimer(p.cfg.StartupTimeout)
	defer timer.Stop()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	case <-timer.C:
		stop()
		return nil, fmt.Errorf("commands topic %s: not read up to offset %d within %v", topic, end, p.cfg.StartupTimeout)
	}
	p.log.Info("commands topic read", "topic", topic, "target_state", p.ctl.state())
	p.ctl.ready.Store(true)
	return stop, nil
}

// applyCommand applies one message of the commands topic. A restart request that is history (written
// before this replica started) only updates lastRestart; one with an id already seen is ignored.
func (p *pipelineRun) applyCommand(key string, value []byte, history bool, lastRestart *string) {
	switch key {
	case commandTargetState:
		var c targetStateCommand
		if err := json.Unmarshal(value, &c); err != nil || !slices.Contains([]string{opsapi.StateRunning, opsapi.StatePaused, opsapi.StateStopped}, c.State) {
			p.log.Warn("ignored a target state on the commands topic that is not RUNNING, PAUSED or STOPPED", "value", string(value))
			return
		}
		if !history {
			p.log.Info("target state", "state", c.State, "requested_at", c.At)
		}
		p.ctl.setTarget(c.State)
	case commandRestart:
		var c restartCommand
		if err := json.Unmarshal(value, &c); err != nil || c.ID == "" {
			p.log.Warn("ignored a restart request on the commands topic without an id", "value", string(value))
			return
		}
		if c.ID == *lastRestart {
			return
		}
		*lastRestart = c.ID
		if !history {
			p.log.Info("restart requested", "what", c.what(), "id", c.ID, "requested_at", c.At)
			p.ctl.addRestart(c)
		}
	default:
		p.log.Warn("ignored a message with an unknown key on the commands topic", "key", key)
	}
}

// sendCommand writes a command to the commands topic and waits until Kafka acknowledged it.
func (p *pipelineRun) sendCommand(ctx context.Context, key string, v any) error {
	value, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	topic := commandsTopic(p.t.name)
	acked := make(chan error, 1)
	if err := p.controlProducer.Send(ctx, kafka.Message{Topic: topic, Key: []byte(key), Value: value},
		func(_ int32, _ int64, err error) { acked <- err }); err != nil {
		return fmt.Errorf("write %s to topic %s: %w", key, topic, err)
	}
	select {
	case err := <-acked:
		if err != nil {
			return fmt.Errorf("write %s to topic %s: %w", key, topic, inOwnWords(err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("write %s to topic %s: Kafka did not acknowledge it within %v", key, topic, commandTimeout)
	}
}

// controlRoutes registers PUT /pipelines/{name}/pause|resume|stop, POST /pipelines/{name}/restart and
// GET/PATCH/DELETE /pipelines/{name}/offsets (offsets.go).
func (p *pipelineRun) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /pipelines/{name}/pause", p.serveTarget(opsapi.StatePaused))
	mux.HandleFunc("PUT /pipelines/{name}/resume", p.serveTarget(opsapi.StateRunning))
	mux.HandleFunc("PUT /pipelines/{name}/stop", p.serveTarget(opsapi.StateStopped))
	mux.HandleFunc("POST /pipelines/{name}/restart", p.serveRestart)
	mux.HandleFunc("GET /pipelines/{name}/offsets", p.serveOffsets)
	mux.HandleFunc("PATCH /pipelines/{name}/offsets", p.servePatchOffsets)
	mux.HandleFunc("DELETE /pipelines/{name}/offsets", p.serveResetOffsets)
}

// controlReady answers 404 for another pipeline's name and 503 while the commands reader is not yet
// reading (start-up); it reports whether the call may go on.
func (p *pipelineRun) controlReady(w http.ResponseWriter, r *http.Request) bool {
	if !p.knownPipeline(w, r) { // status.go
		return false
	}
	if p.ctl == nil || !p.ctl.ready.Load() {
		writeOpsError(w, http.StatusServiceUnavailable, "pipeline %s is starting: its commands topic %s is not read yet; try again shortly", p.t.name, commandsTopic(p.t.name))
		return false
	}
	return true
}

func (p *pipelineRun) serveTarget(state string) http.HandlerFunc {
	verbs := map[string]string{opsapi.StatePaused: "pause", opsapi.StateRunning: "resume", opsapi.StateStopped: "stop"}
	return func(w http.ResponseWriter, r *http.Request) {
		if !p.controlReady(w, r) {
			return
		}
		if err := p.sendCommand(r.Context(), commandTargetState, targetStateCommand{State: state, At: time.Now().UTC()}); err != nil {
			writeOpsError(w, http.StatusServiceUnavailable, "%s pipeline %s: %v", verbs[state], p.t.name, err)
			return
		}
		writeJSON(w, http.StatusAccepted, opsapi.StateChange{Name: p.t.name, Target: state,
			Message: fmt.Sprintf("every replica of pipeline %s moves to %s within about a second", p.t.name, state)})
	}
}

// serveRestart is POST /pipelines/{name}/restart: the whole pipeline, ?flow=F, ?source=S or
// ?source=S&task=T.
func (p *pipelineRun) serveRestart(w http.ResponseWriter, r *http.Request) {
	if !p.controlReady(w, r) {
		return
	}
	q := r.URL.Query()
	c := restartCommand{Flow: q.Get("flow"), Source: q.Get("source"), Task: q.Get("task"), At: time.Now().UTC()}
	switch {
	case c.Flow != "" && (c.Source != "" || c.Task != ""):
		writeOpsError(w, http.StatusBadRequest, "restart: give flow, or source (with task), not both")
		return
	case c.Task != "" && c.Source == "":
		writeOpsError(w, http.StatusBadRequest, "restart: task %q needs its source (?source=S&task=T)", c.Task)
		return
	case c.Flow != "" && !slices.ContainsFunc(p.t.flows, func(f *Flow) bool { return f.name == c.Flow }):
		writeOpsError(w, http.StatusBadRequest, "restart: flow: pipeline %s has no flow %q", p.t.name, c.Flow)
		return
	case c.Source != "" && !slices.ContainsFunc(p.t.sources, func(s *SourceNode) bool { return s.name == c.Source }):
		writeOpsError(w, http.StatusBadRequest, "restart: source: pipeline %s has no source %q", p.t.name, c.Source)
		return
	}
	if c.Task != "" {
		tasks, known := p.ctl.taskKeys(c.Source)
		if !known {
			writeOpsError(w, http.StatusServiceUnavailable, "restart: source %q has not split its work into tasks yet; try again shortly", c.Source)
			return
		}
		if !slices.Contains(tasks, c.Task) {
			writeOpsError(w, http.StatusBadRequest, "restart: task: source %q has no task %q (its tasks: %q)", c.Source, c.Task, tasks)
			return
		}
	}
	if state := p.ctl.state(); state == opsapi.StateStopped {
		writeOpsError(w, http.StatusConflict, "pipeline %s is STOPPED on replica %s: resume it (PUT /pipelines/%s/resume), which starts every processor", p.t.name, p.replicaID, p.t.name)
		return
	}
	c.ID = newCommandID()
	if err := p.sendCommand(r.Context(), commandRestart, c); err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "restart %s of pipeline %s: %v", c.what(), p.t.name, err)
		return
	}
	writeJSON(w, http.StatusAccepted, opsapi.StateChange{Name: p.t.name, Target: p.ctl.state(),
		Message: fmt.Sprintf("every replica of pipeline %s restarts %s", p.t.name, c.what())})
}

func newCommandID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setTasks records the task keys of each source, for restart requests naming a task.
func (c *controlState) setTasks(tasks map[string][]string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.tasks = tasks
	c.mu.Unlock()
}

// taskKeys returns the task keys of a source, and false before its tasks are known.
func (c *controlState) taskKeys(source string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tasks[source]
	return t, ok
}
