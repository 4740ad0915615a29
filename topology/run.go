package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/secret"
)

// pipelineRun is one running instance (replica) of a topology.
type pipelineRun struct {
	t         *Topology
	cfg       Config
	log       *slog.Logger
	metrics   *metrics.Metrics
	brokers   []string
	settings  kafka.Settings
	replicaID string
	topics    map[string]*Topic

	controlProducer *kafka.Producer
	producers       map[string]*kafka.Producer // by topic
	recordLimits    map[string]int             // largest message sent, by topic (see limits.go)
	runtime         runtimeTopics              // topics created at run time for NewTopics (newtopics.go)

	stalls  *stallTracker // see health.go
	running atomic.Bool   // every processor reached its running state once (/readyz)
	failure atomic.Pointer[error]
	// processing is the first failure of the pipeline's own processing (failure.go).
	processing atomic.Pointer[processingFailure]
	// units says what each consumer group runs, for its failures; filled before the processors run.
	units map[string]unit
	// lifecycle holds the stages to open before the processors run and to close after (lifecycle.go).
	lifecycle lifecycleStages
	// ctl is the target state and restart requests read from the commands topic (control.go).
	ctl *controlState
	// status publishes this replica's status and keeps the other replicas' (status.go); httpAddr is where
	// this replica serves HTTP ("" when it does not).
	status   *statusBoard
	httpAddr string
	// registryHandler is the embedded schema registry's REST API once it is open (schemas.go).
	registryHandler atomic.Pointer[http.Handler]
	// batch is the state of a batch run (batch.go), nil in a real-time run.
	batch *batchRun
}

// Run runs the topology with the configuration from the environment (ConfigFromEnv) until ctx ends or
// something fails. See RunWith.
func (t *Topology) Run(ctx context.Context) error {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return err
	}
	return t.RunWith(ctx, cfg)
}

// RunWith validates the topology, starts the embedded broker unless cfg.Brokers is set, creates missing
// topics, and runs every source and flow until ctx ends or one fails.
//
// When ctx ends, source tasks stop reading, wait for Kafka to acknowledge what they sent and save their
// final positions; flows write what they hold and commit; then the broker closes. The error is nil after a
// clean stop, else the first failure (a source that cannot read, a sink that cannot write). A failure of
// the running pipeline is logged once at error level where it happened, and the error has the same text: it
// names the flow and stage, the source and task, the sink, and the record (topic/partition@offset and key,
// a batch's span, a source position), never the engine's wording; Logged(err) reports true for it.
//
// Start-up waits at most cfg.StartupTimeout for each answer from Kafka and fails naming the brokers and
// the request. When ctx ends before or during start-up, RunWith stops what it started and returns nil:
// whatever failed because of that stop is part of a clean stop. Once running, transient Kafka failures
// (a broker restart, a leader change) are retried for cfg.RetryTimeout before the pipeline gives up.
//
// The operator API pauses, stops, resumes and restarts the processors of every replica through the topic
// <pipeline>.commands (see control.go and docs/api.md). RunWith reads it before it starts any processor:
// a pipeline whose target state is PAUSED starts paused, one that is STOPPED starts none. A stopped
// pipeline's RunWith keeps serving HTTP and reading commands until ctx ends, and then returns nil.
func (t *Topology) RunWith(ctx context.Context, cfg Config) (err error) {
	defer func() { err = secret.Error(err) }() // runs last: the error returned holds no secret
	if err := t.Validate(); err != nil {
		return err
	}
	if err := resolveKafkaSecrets(&cfg.Kafka); err != nil { // secrets.go
		return err
	}
	if err := resolveRegistrySecrets(&cfg); err != nil { // schemas.go
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	batch, err := newBatchRun(ctx, t, cfg) // batch.go: nil unless cfg.Mode is ModeBatch
	if err != nil {
		return err
	}
	if cfg.Logger != nil {
		// Every log line of the run, the connectors' and goka's included, passes through secret.Redact.
		cfg.Logger = slog.New(secret.NewHandler(cfg.Logger.Handler()))
	}
	started := false
	defer func() {
		if err != nil && !started && ctx.Err() != nil {
			log := cfg.Logger
			if log == nil {
				log = slog.New(secret.NewHandler(slog.Default().Handler()))
			}
			log.Info("pipeline stopped during start-up", "pipeline", t.name, "cause", err)
			err = nil
		}
	}()
	p := &pipelineRun{
		t: t, cfg: cfg, log: cfg.Logger,
		brokers:   cfg.Brokers,
		replicaID: replicaID(),
		topics:    map[string]*Topic{},
		producers: map[string]*kafka.Producer{},
		units:     map[string]unit{},
		ctl:       newControlState(),
	}
	if p.log == nil {
		p.log = slog.New(secret.NewHandler(slog.NewTextHandler(os.Stderr, nil)))
	}
	p.log = p.log.With("pipeline", t.name)
	p.batch = batch
	defer func() { err = t.missingACL(err, p.principal()) }() // a refused ACL is named (acls.go)
	if cfg.Registerer == nil {
		p.metrics = metrics.New()
	} else if p.metrics, err = metrics.NewOn(cfg.Registerer, cfg.gatherer()); err != nil {
		return fmt.Errorf("config: Registerer: %w", err)
	}
	defer p.metrics.Close()
	ctx = metrics.WithEnv(ctx, p.env())
	p.stalls = newStallTracker(t.name, cfg.StallTimeout, p.log, p.metrics.Stalled)
	p.settings = kafka.Settings{SessionTimeout: cfg.SessionTimeout, RetryTimeout: cfg.RetryTimeout}
	for _, tp := range t.topics {
		p.topics[tp.name] = tp
	}
	joins, flows := t.compileFlows()
	for _, j := range joins {
		p.topics[j.out.name] = j.out
	}

	sec := kafka.Security(cfg.Kafka)
	if cfg.Embedded() {
		b, err := broker.Start(broker.Config{Addr: cfg.BrokerAddr, DataDir: cfg.DataDir, Logger: p.log, Security: sec})
		if err != nil {
			return err
		}
		defer b.Close()
		p.brokers = b.Addrs()
		sec = b.ClientSecurity(sec) // trust the CA it generated
	}
	// Every client of the run (kafka.SaramaConfig of p.settings) uses the same TLS and SASL; wrong
	// credentials fail here, at once, naming the user and the mechanism.
	if p.settings.Auth, err = kafka.NewAuth(sec); err != nil {
		return err
	}
	if err := kafka.CheckAuth(ctx, p.brokers, p.settings.Auth, cfg.StartupTimeout); err != nil {
		return err
	}
	p.status = newStatusBoard(p)
	p.log.Info("pipeline starting", "replica", p.replicaID, "brokers", p.brokers, "embedded", cfg.Embedded(), "data_dir", cfg.DataDir)

	if cfg.HTTPAddr != "" && cfg.HTTPAddr != "off" {
		stopHTTP, err := p.serveHTTP(cfg.HTTPAddr)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	if err := p.ensureTopics(ctx, joins); err != nil {
		return err
	}
	// schemas.go: before anything encodes or decodes; closed after the producers and processors, whose
	// closing is deferred later and so runs earlier.
	closeRegistry, err := p.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer closeRegistry()
	if err := p.checkACLs(ctx); err != nil { // acls.go
		return err
	}
	stopStatus := p.status.start()
	defer func() { stopStatus(p.failure.Load() != nil) }() // a tombstone unless the running pipeline failed
	if err := p.checkPartitioning(ctx, joins); err != nil {
		return err
	}
	if err := p.checkRecordLimits(ctx); err != nil {
		return err
	}
	if err := p.openProducers(ctx); err != nil {
		return err
	}
	defer p.closeProducers()
	stopCommands, err := p.followCommands(ctx) // the target state, before any processor starts (control.go)
	if err != nil {
		return err
	}
	defer stopCommands()

	var sourcesRun []*sourceRunner
	var sinksRun []*sinkRunner
	defer func() {
		for _, s := range sinksRun {
			if cerr := s.sink.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("flow %q: close sink: %w", s.f.name, cerr)
			}
		}
	}()
	for _, f := range flows {
		r, err := p.newSinkRunner(ctx, f)
		if err != nil {
			return err
		}
		sinksRun = append(sinksRun, r)
		p.units[r.group] = r.unit()
	}
	defer p.startRebuilds(ctx, sinksRun)() // rebuild.go: stops running rebuilds before the sinks close
	var joinsRun []processorRunner
	for _, j := range joins {
		var r processorRunner
		var err error
		if j.join != nil {
			r, err = p.newJoinRunner(j)
		} else {
			j.keyed = panicSafeKeyed{Keyed: j.keyed, log: p.log}
			r, err = p.newKeyedRunner(j)
		}
		if err != nil {
			return err
		}
		joinsRun = append(joinsRun, r)
		p.units[j.group] = r.unit()
	}
	defer func() { // after the source runners stopped (see lifecycle.go)
		if cerr := p.closeSources(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for _, n := range p.batch.sources(t.sources) { // a batch run reads its sources bounded (batch.go)
		r, err := p.newSourceRunner(ctx, n)
		if err != nil {
			return err
		}
		sourcesRun = append(sourcesRun, r)
		p.units[r.group] = r.unit()
	}
	if ctx.Err() != nil {
		p.log.Info("pipeline stopped during start-up")
		return nil
	}
	if err := p.lifecycle.open(ctx); err != nil {
		return err
	}
	defer func() {
		if cerr := p.lifecycle.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	started = true
	if p.batch != nil {
		return p.runBatch(ctx, sourcesRun, sinksRun, joinsRun) // batch.go
	}
	return p.run(ctx, sourcesRun, sinksRun, joinsRun)
}

// processorRunner is a stateful stage's goka processor.
type processorRunner interface {
	processor() *goka.Processor
	unit() unit
}

// runUnit is one supervised processor: a flow's sink processor (with its batcher), a stateful step's
// processor, or a source's processor with its task manager. Each can be stopped and started again on its
// own (control.go: stop, resume, restart); a started-again unit runs a new goka processor, which re-reads
// its table and committed offsets.
type runUnit struct {
	flow, source string // what it belongs to
	sink         *sinkRunner
	step         processorRunner
	src          *sourceRunner

	ran         bool               // it ran once: a new start needs a new processor
	stopManager context.CancelFunc // a source's task manager
	managerDone chan struct{}
	stopProc    context.CancelFunc
	procDone    chan struct{}
}

// run supervises the processors and source managers until ctx ends or something fails, and applies the
// operator's commands (control.go): a STOPPED target stops every unit, a RUNNING or PAUSED one starts them
// again, a restart stops and starts the units it names. The first failure stops everything and is the
// run's error; a stop (of ctx or of a unit) stops sources' task managers first (while their processors still
// apply final positions), then the processors.
func (p *pipelineRun) run(ctx context.Context, srcs []*sourceRunner, snks []*sinkRunner, joins []processorRunner) error {
	p.attachStatus(srcs, snks, joins)
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)

	// fail records err as the run's failure if it is the first and stops the run; it reports whether it was
	// the first. RunWith returns only the first: what fails after it follows from the stop it caused.
	fail := func(err error) bool {
		if err == nil || errors.Is(err, context.Canceled) {
			return false
		}
		first := p.failure.CompareAndSwap(nil, &err)
		cancelRun(err)
		return first
	}

	// runProc runs a goka processor until procCtx ends. One that the stop cancelled before it was ready
	// fails with goka's start-up errors ("error waiting for start up tables"): that is part of a clean stop,
	// not a failure. A failure that is not a processing failure (logged where it happened) is logged here,
	// once, in the user's words (engineFailure); u says what the processor runs.
	runProc := func(procCtx context.Context, proc *goka.Processor, u unit) {
		var ready atomic.Bool
		readyCtx, stopWaiting := context.WithCancel(procCtx)
		defer stopWaiting()
		go func() {
			select {
			case <-proc.StateReader().WaitForState(goka.ProcStateRunning):
				ready.Store(true)
			case <-readyCtx.Done():
			}
		}()
		err := proc.Run(metrics.WithEnv(procCtx, p.env(u.attrs...)))
		if err != nil && procCtx.Err() != nil && !ready.Load() {
			p.log.Debug("processor stopped during start-up", "err", err)
			return
		}
		if err != nil && procCtx.Err() != nil && p.failure.Load() != nil {
			// Stopped because of a failure already reported: what a processor says about its own stop (Kafka
			// gone, say) follows from it and is not a second failure of the run.
			p.log.Warn("processor stopped with an error after the pipeline failed", append(u.attrs, "err", engineFailure(u.where, err))...)
			return
		}
		reported := p.reportable(err) // once, not once per record and partition as goka collected it
		if reported == nil || errors.As(reported, new(*processingFailure)) {
			fail(reported)
			return
		}
		reported = engineFailure(u.where, err)
		if fail(reported) {
			p.log.Error(u.failed, append(u.attrs, "err", reported)...)
		} else {
			p.log.Warn("processor stopped with an error after the pipeline failed", append(u.attrs, "err", reported)...)
		}
	}

	var units []*runUnit
	for _, s := range snks {
		units = append(units, &runUnit{flow: s.f.name, sink: s})
	}
	for _, j := range joins {
		units = append(units, &runUnit{flow: stepFlow(j), step: j})
	}
	tasks := map[string][]string{}
	for _, s := range srcs {
		units = append(units, &runUnit{source: s.n.name, src: s})
		for _, t := range s.tasks {
			tasks[s.n.name] = append(tasks[s.n.name], t.Key)
		}
	}
	p.ctl.setTasks(tasks)

	start := func(u *runUnit) error {
		if u.ran {
			if err := p.renew(u); err != nil {
				return err
			}
		}
		u.ran = true
		procCtx, stopProc := context.WithCancel(context.Background())
		u.stopProc, u.procDone = stopProc, make(chan struct{})
		done := u.procDone
		switch {
		case u.sink != nil:
			s := u.sink
			go s.batch()
			go func() {
				defer close(done)
				runProc(procCtx, s.proc, s.unit())
				close(s.stop)
				<-s.exited
			}()
		case u.step != nil:
			j := u.step
			go func() {
				defer close(done)
				runProc(procCtx, j.processor(), j.unit())
			}()
		default:
			s := u.src
			go func() {
				defer close(done)
				runProc(procCtx, s.proc, s.unit())
			}()
			managerCtx, stopManager := context.WithCancel(runCtx)
			u.stopManager, u.managerDone = stopManager, make(chan struct{})
			managed := u.managerDone
			go func() {
				defer close(managed)
				fail(s.manage(metrics.WithEnv(managerCtx, p.env("source", s.n.name)))) // a task's failure was logged where it happened (sourceRunner.start)
			}()
		}
		return nil
	}
	// stop stops units: every source's task manager first (its tasks save their final positions while the
	// processor still applies them), then the processors, each as on a stop of the pipeline.
	stop := func(list []*runUnit) {
		for _, u := range list {
			if u.stopManager != nil {
				u.stopManager()
			}
		}
		for _, u := range list {
			if u.managerDone != nil {
				<-u.managerDone
			}
			u.stopManager, u.managerDone = nil, nil
		}
		for _, u := range list {
			if u.stopProc != nil {
				u.stopProc()
			}
		}
		for _, u := range list {
			if u.procDone != nil {
				<-u.procDone
			}
			u.stopProc, u.procDone = nil, nil
		}
	}
	// The readiness watcher (markRunning) reads the units' processors: it is stopped before any unit gets a
	// new one.
	var stopWatch context.CancelFunc
	var watchDone chan struct{}
	watchReady := func() {
		var steps []processorRunner
		for _, u := range units {
			if u.step != nil {
				steps = append(steps, u.step)
			}
		}
		var watchCtx context.Context
		watchCtx, stopWatch = context.WithCancel(runCtx)
		watchDone = make(chan struct{})
		done := watchDone
		p.attachStatus(srcs, snks, steps)
		go func() {
			defer close(done)
			p.markRunning(watchCtx, srcs, snks, steps)
		}()
	}
	unwatchReady := func() {
		if stopWatch != nil {
			stopWatch()
			<-watchDone
			stopWatch = nil
		}
	}
	restart := func(list []*runUnit) error {
		unwatchReady()
		stop(list)
		defer watchReady()
		for _, u := range list {
			if err := start(u); err != nil {
				return err
			}
		}
		return nil
	}

	lagCtx, stopLag := context.WithCancel(runCtx)
	defer stopLag()
	go p.trackLag(lagCtx, srcs, snks)
	go p.stalls.run(lagCtx)

	active := false
	target, _ := p.ctl.take() // restart requests read at start-up are history
	if target == opsapi.StateStopped {
		p.ctl.setApplied(opsapi.StateStopped)
		p.log.Info("pipeline stopped by the operator: no processor started; resume it to start them", "target_state", target)
	} else if err := restart(units); err != nil {
		fail(err)
	} else {
		active = true
		p.ctl.setApplied(target)
		p.log.Info("pipeline running", "sources", len(srcs), "flows", len(snks), "joins", len(joins), "target_state", target)
	}
	for runCtx.Err() == nil {
		select {
		case <-runCtx.Done():
			continue
		case <-p.ctl.wake:
		}
		target, restarts := p.ctl.take()
		switch {
		case target == opsapi.StateStopped && active:
			p.log.Info("pipeline stopping its processors", "cause", "target state STOPPED")
			unwatchReady()
			stop(units)
			active = false
			p.ctl.setApplied(opsapi.StateStopped)
			p.log.Info("pipeline stopped its processors; offsets may be changed; resume starts them again")
			continue
		case target != opsapi.StateStopped && !active:
			p.log.Info("pipeline starting its processors", "target_state", target)
			if err := restart(units); err != nil {
				fail(err)
				continue
			}
			active = true
		}
		p.ctl.setApplied(target)
		for _, rq := range restarts {
			if !active {
				p.log.Info("restart request ignored: the processors are stopped", "what", rq.what(), "id", rq.ID)
				continue
			}
			if rq.Task != "" {
				for _, u := range units {
					if u.src != nil && u.source == rq.Source {
						u.src.push(sourceEvent{restartTask: rq.Task})
					}
				}
				continue
			}
			var list []*runUnit
			for _, u := range units {
				if (rq.Source == "" && rq.Flow == "") || (rq.Source != "" && u.source == rq.Source) || (rq.Flow != "" && u.flow == rq.Flow) {
					list = append(list, u)
				}
			}
			p.log.Info("restarting", "what", rq.what(), "processors", len(list), "id", rq.ID)
			if err := restart(list); err != nil {
				fail(err)
				break
			}
		}
	}

	if cause := context.Cause(runCtx); p.failure.Load() != nil {
		p.log.Info("pipeline stopping", "cause", "the failure logged above") // logged once, where it happened
	} else {
		p.log.Info("pipeline stopping", "cause", cause)
	}
	unwatchReady()
	stop(units)
	p.log.Info("pipeline stopped")
	if err := p.failure.Load(); err != nil {
		return &loggedError{err: *err}
	}
	return nil
}

// stepFlow is the flow a stateful step belongs to.
func stepFlow(r processorRunner) string {
	switch r := r.(type) {
	case *joinRunner:
		return r.spec.flowName
	case *keyedRunner:
		return r.spec.flowName
	}
	return ""
}

// renew gives a unit that ran a new goka processor (and fresh per-run state), so that it starts again
// from what Kafka holds: its table recovered from the table topic, its committed offsets.
func (p *pipelineRun) renew(u *runUnit) error {
	switch {
	case u.sink != nil:
		return u.sink.renew()
	case u.src != nil:
		return u.src.renew()
	}
	var spec *joinSpec
	switch r := u.step.(type) {
	case *joinRunner:
		spec = r.spec
	case *keyedRunner:
		spec = r.spec
	}
	var err error
	if spec.join != nil {
		u.step, err = p.newJoinRunner(spec)
	} else {
		u.step, err = p.newKeyedRunner(spec)
	}
	return err
}

// unit is what a processor runs, for its failures: where (`flow "index"`), the message of its error line
// and the line's attributes.
type unit struct {
	where, failed string
	attrs         []any
}

// unit names a flow's processor as its flow.
func (r *sinkRunner) unit() unit {
	return unit{where: fmt.Sprintf("flow %q", r.f.name), failed: "flow failed", attrs: []any{"flow", r.f.name}}
}

// unit names a source's processor (which keeps its tasks' positions) as its source.
func (r *sourceRunner) unit() unit {
	return unit{where: fmt.Sprintf("source %q", r.n.name), failed: "source failed", attrs: []any{"source", r.n.name}}
}

// unit names a stateful stage's processor as its flow and stage.
func (r *joinRunner) unit() unit {
	return unit{where: fmt.Sprintf("flow %q: stage %q", r.spec.flowName, r.stageName()), failed: "flow failed",
		attrs: []any{"flow", r.spec.flowName, "stage", r.stageName()}}
}

func (p *pipelineRun) ensureTopics(ctx context.Context, joins []*joinSpec) error {
	specs := make([]kafka.TopicSpec, 0, len(p.t.topics)+2*len(p.t.sources)+3*len(joins)+1)
	specs = append(specs, kafka.TopicSpec{Name: statusTopic(p.t.name), Partitions: 1, Compact: true})
	for _, tp := range p.t.topics {
		specs = append(specs, kafka.TopicSpec{Name: tp.name, Partitions: tp.partitions, MaxMessageBytes: p.topicMaxBytes(tp.name)})
	}
	for _, s := range p.t.sources {
		group := sourceGroup(p.t.name, s.name)
		specs = append(specs,
			kafka.TopicSpec{Name: controlTopic(p.t.name, s.name), Partitions: s.controlPartitions, Compact: true},
			kafka.TopicSpec{Name: tableTopic(group), Partitions: s.controlPartitions, Compact: true},
		)
	}
	specs = append(specs, kafka.TopicSpec{Name: commandsTopic(p.t.name), Partitions: 1, Compact: true})
	specs = append(specs, kafka.TopicSpec{Name: auditTopic(p.t.name), Partitions: 1, Compact: true})
	specs = append(specs, p.redriveTopicSpecs()...) // redrive.go
	for _, j := range joins {
		specs = append(specs,
			kafka.TopicSpec{Name: j.out.name, Partitions: j.partitions, MaxMessageBytes: p.topicMaxBytes(j.out.name)},
			kafka.TopicSpec{Name: loopTopic(j.group), Partitions: j.partitions},
			kafka.TopicSpec{Name: tableTopic(j.group), Partitions: j.partitions, Compact: true},
		)
	}
	return kafka.EnsureTopicsWithin(ctx, p.cfg.StartupTimeout, p.brokers, p.saramaConfig("sluice-admin"), int16(p.cfg.Replication), specs)
}

// openProducers connects the control producer and one producer per topic, each within StartupTimeout.
func (p *pipelineRun) openProducers(ctx context.Context) error {
	open := func(cfg *sarama.Config) (*kafka.Producer, error) {
		return kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a producer's metadata request",
			func() (*kafka.Producer, error) { return kafka.NewProducer(p.brokers, cfg) },
			func(pr *kafka.Producer) { _ = pr.Close() })
	}
	var err error
	if p.controlProducer, err = open(p.saramaConfig("sluice-control")); err != nil {
		return err
	}
	for _, tp := range p.topics {
		s := p.settings
		s.ClientID = "sluice-" + tp.name
		s.Compression, _ = kafka.ParseCompression(tp.compression)
		cfg := kafka.SaramaConfig(s)
		cfg.Producer.MaxMessageBytes = p.producerMaxBytes(tp.name)
		if p.producers[tp.name], err = open(cfg); err != nil {
			return err
		}
	}
	return nil
}

func (p *pipelineRun) producerFor(topic string) *kafka.Producer {
	if pr := p.producers[topic]; pr != nil {
		return pr
	}
	return p.runtime.producer(topic) // newtopics.go
}

func (p *pipelineRun) closeProducers() {
	p.runtime.close()
	for _, pr := range p.producers {
		if pr != nil {
			_ = pr.Close()
		}
	}
	if p.controlProducer != nil {
		_ = p.controlProducer.Close()
	}
}
