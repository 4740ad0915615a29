package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sources"
)

// Batch runs.
//
// In ModeBatch a pipeline processes what there is and returns, instead of running until it is stopped:
//   - Each flow reads its topic up to the end offsets the run captured once, per partition: at start-up,
//     before any processor runs, for a topic that nothing of the pipeline writes; for a topic the
//     pipeline's own sources (or another of its flows, writing to a topic) write, once those finished, so
//     that the run carries what its sources read through to the sinks.
//   - Each source reads its tasks up to the end of their input and ends (sources.Bounded): a file source
//     reads its files to their end, a sqltable source its tables until caught up, the MySQL source the
//     binlog up to the server's GTID position when the task opened. A source that cannot bound itself
//     (PostgreSQL's logical replication, as built today) fails the run at start-up, naming the source.
//   - Records past a flow's end offsets are neither processed nor committed: they are left to the next run
//     (or to whatever else consumes the topic).
//   - The run is over once every source task ended and every flow's group committed its end offsets (the
//     sink acknowledged everything before them, dead letters included). Then the pipeline stops as on a
//     stop, logs a summary ("batch finished" with records, written, dead_letters and duration, a "batch flow
//     finished" line per flow and a "batch source finished" line per source) and RunWith returns nil.
//
// A batch run uses the pipeline's own consumer groups and source positions, like a real-time run of the
// same pipeline: the next batch run of it goes on where this one ended. Give a batch pipeline its own name:
// real-time pipelines of other names on the same topics (other groups) are not disturbed, while a
// real-time run of the same name would share its groups. Pipelines with stateful steps (Join, Keyed) do not
// run in batch mode yet: start-up refuses them, naming the flow and step. A batch run counts on one replica
// (each replica finishes when its own processors reached the end offsets, and tasks it does not run are not
// waited for): run a batch pipeline as one process.
//
// While it runs, a "batch progress" line every batchProgressEvery gives, per flow, the records processed of
// those up to the end offsets (and the source records read, until the sources ended), and the pipeline's
// state: a batch paused or stopped through the operator API waits until it is resumed. When ctx ends first,
// or the pipeline fails, RunWith returns an error naming how far the batch got; what was committed stays
// committed, and the next run goes on from there.

// Mode says how a pipeline runs.
type Mode string

const (
	// ModeStream runs until the pipeline is stopped (the default; the empty Mode means it too).
	ModeStream Mode = "stream"
	// ModeBatch processes everything up to the end offsets present at start and returns (see batch.go).
	ModeBatch Mode = "batch"
)

// batchProgressEvery is how often a batch run logs its progress.
var batchProgressEvery = 5 * time.Second

// batchPollEvery is how often a batch run reads its groups' committed offsets and its tasks' states.
const batchPollEvery = 200 * time.Millisecond

// BatchSummary is what a batch run did.
type BatchSummary struct {
	Pipeline string
	// Records is the number of Kafka records the flows processed up to their end offsets, summed over the
	// flows (a record that went to a dead-letter topic counts: it was processed).
	Records int64
	// Written is the number of records the sinks acknowledged, summed over the flows (stages may drop or
	// expand records, and dead letters are not written).
	Written int64
	// DeadLetters is the number of records the run set aside, at its sources and flows.
	DeadLetters int64
	// SourceRecords is the number of records the sources read and Kafka acknowledged.
	SourceRecords int64
	// Duration is the run's wall-clock time, start-up included.
	Duration time.Duration
	// Flows and Sources hold the same per flow and per source, by name.
	Flows   map[string]BatchFlowSummary
	Sources map[string]BatchSourceSummary
}

// BatchFlowSummary is what a batch run did in one flow.
type BatchFlowSummary struct {
	Topic       string
	Records     int64
	Written     int64
	DeadLetters int64
	// EndOffsets are the offsets, per partition of Topic, the flow drained to (the next offset after the
	// last record it processed).
	EndOffsets map[int32]int64
}

// BatchSourceSummary is what a batch run did in one source.
type BatchSourceSummary struct {
	Tasks       int
	Records     int64
	DeadLetters int64
}

// RunBatch runs the topology in ModeBatch with cfg (whatever cfg.Mode says) and returns its summary: see
// RunWith and batch.go. The error is nil once every flow drained to its end offsets and every source task
// ended; the summary then counts everything. After a failure, or when ctx ends first, the error says so
// and the summary counts what was done.
func (t *Topology) RunBatch(ctx context.Context, cfg Config) (BatchSummary, error) {
	s := &BatchSummary{Pipeline: t.name}
	cfg.Mode = ModeBatch
	err := t.RunWith(context.WithValue(ctx, batchSummaryKey{}, s), cfg)
	return *s, err
}

type batchSummaryKey struct{}

// modeFromEnv sets c.Mode from SLUICE_MODE (stream or batch).
func modeFromEnv(c *Config) error {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("SLUICE_MODE")))
	if v == "" {
		return nil
	}
	c.Mode = Mode(v)
	if err := c.Mode.validate(); err != nil {
		return fmt.Errorf("SLUICE_MODE: %w", err)
	}
	return nil
}

func (m Mode) validate() error {
	switch m {
	case "", ModeStream, ModeBatch:
		return nil
	}
	return fmt.Errorf("mode %q is neither %q nor %q", string(m), ModeStream, ModeBatch)
}

// batchRun is the state of a batch run; nil in a real-time run (every method is a no-op on nil).
type batchRun struct {
	t       *Topology
	started time.Time
	summary *BatchSummary // what RunBatch reads; always set
	bounded map[string]sources.Source

	mu    sync.Mutex
	flows map[string]*batchFlow // by consumer group
}

// batchFlow is one flow's bound and count.
type batchFlow struct {
	r     *sinkRunner
	topic string
	// fedBySources and fedByFlows (consumer groups) say what of the pipeline writes topic: its end offsets
	// are captured once those finished. Neither: captured at start-up, before any processor runs.
	fedBySources bool
	fedByFlows   []string
	end          map[int32]int64 // nil until captured
	from         map[int32]int64 // the group's position when the run started, for progress
	seen         map[int32]int64 // the highest offset counted, per partition
	records      int64
	done         bool
}

// newBatchRun checks that t can run as a batch and returns the run's state; nil, nil in ModeStream.
func newBatchRun(ctx context.Context, t *Topology, cfg Config) (*batchRun, error) {
	if err := cfg.Mode.validate(); err != nil {
		return nil, fmt.Errorf("config: Mode (SLUICE_MODE): %w", err)
	}
	if cfg.Mode != ModeBatch {
		return nil, nil
	}
	b := &batchRun{t: t, started: time.Now(), bounded: map[string]sources.Source{}, flows: map[string]*batchFlow{}}
	if s, ok := ctx.Value(batchSummaryKey{}).(*BatchSummary); ok {
		b.summary = s
	} else {
		b.summary = &BatchSummary{Pipeline: t.name}
	}
	for _, n := range t.sources {
		bs, ok := n.src.(sources.Bounded)
		if !ok {
			return nil, fmt.Errorf("batch mode: source %q cannot bound its input (it reads a change log or a stream without an end): run this pipeline in stream mode",
				n.name)
		}
		b.bounded[n.name] = bs.Bounded()
	}
	joins, _ := t.compileFlows()
	for _, j := range joins {
		return nil, fmt.Errorf("batch mode: flow %q has the stateful step %q, which batch runs do not support yet: run this pipeline in stream mode",
			j.flowName, j.out.step)
	}
	return b, nil
}

// sources returns the pipeline's source nodes as the run reads them: in a batch run, each with its
// bounded source.
func (b *batchRun) sources(nodes []*SourceNode) []*SourceNode {
	if b == nil {
		return nodes
	}
	out := make([]*SourceNode, len(nodes))
	for i, n := range nodes {
		c := *n
		c.src = b.bounded[n.name]
		out[i] = &c
	}
	return out
}

// skip reports whether the flow of group must leave the record at topic/partition@offset alone: in a batch
// run, one at or past the flow's end offset (or of a topic the run did not bound, such as a redrive topic,
// once the end is known). It counts the others, once each.
func (b *batchRun) skip(group, topic string, partition int32, offset int64) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.flows[group]
	if f == nil {
		return false // not a flow of the run (a rebuild's copy)
	}
	if f.end != nil && (topic != f.topic || offset >= f.end[partition]) {
		return true
	}
	if topic == f.topic {
		if seen, ok := f.seen[partition]; !ok || offset > seen {
			f.seen[partition] = offset
			f.records++
		}
	}
	return false
}

// beyond is skip without counting, for offsets being marked.
func (b *batchRun) beyond(group, topic string, partition int32, offset int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.flows[group]
	return f != nil && f.end != nil && (topic != f.topic || offset >= f.end[partition])
}

// builder wraps a flow's consumer-group builder so that, in a batch run, offsets past the flow's end are
// never marked (goka marks a record it handed to a callback that did not defer its commit): the group's
// committed offset stops at the end, and what lies past it is left to the next run.
func (b *batchRun) builder(build goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	if b == nil {
		return build
	}
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		return hookedBuilder(build, sessionHooks{setup: func(s sarama.ConsumerGroupSession) sarama.ConsumerGroupSession {
			return &batchSession{ConsumerGroupSession: s, b: b, group: group}
		}})(brokers, group, clientID)
	}
}

// batchSession is a flow's session in a batch run: marks past the end are dropped.
type batchSession struct {
	sarama.ConsumerGroupSession
	b     *batchRun
	group string
}

func (s *batchSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	if !s.b.beyond(s.group, topic, partition, offset-1) {
		s.ConsumerGroupSession.MarkOffset(topic, partition, offset, metadata)
	}
}

func (s *batchSession) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	if !s.b.beyond(s.group, msg.Topic, msg.Partition, msg.Offset) {
		s.ConsumerGroupSession.MarkMessage(msg, metadata)
	}
}

// errBatchDrained ends a batch run's processors once it reached its end.
var errBatchDrained = errors.New("the batch reached its end offsets")

// runBatch runs the pipeline (pipelineRun.run) until the batch drained, ctx ends or something fails, and
// then logs and fills the summary.
func (p *pipelineRun) runBatch(ctx context.Context, srcs []*sourceRunner, snks []*sinkRunner, joins []processorRunner) error {
	b := p.batch
	client, err := p.offsetsClient(ctx)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	w := &batchWatch{p: p, b: b, client: client, admin: admin, srcs: srcs}
	for _, s := range snks {
		f := &batchFlow{r: s, topic: s.f.from.name, seen: map[int32]int64{}}
		for _, n := range p.t.sources {
			if n.recordTopics || (n.to != nil && n.to.name == f.topic) {
				f.fedBySources = true
			}
		}
		for _, o := range snks {
			if o != s && o.f.toTopic != nil && o.f.toTopic.name == f.topic {
				f.fedByFlows = append(f.fedByFlows, o.group)
			}
		}
		b.flows[s.group] = f
	}
	for _, f := range b.sortedFlows() {
		// Where each flow's group starts, for the progress lines' totals.
		if err := w.start(ctx, f); err != nil {
			return err
		}
		if !f.fedBySources && len(f.fedByFlows) == 0 {
			if err := w.capture(ctx, f); err != nil {
				return err
			}
		}
	}
	runCtx, finish := context.WithCancelCause(ctx)
	defer finish(nil)
	watched := make(chan error, 1)
	go func() {
		err := w.watch(runCtx)
		if err == nil {
			err = errBatchDrained
		}
		finish(err)
		watched <- err
	}()
	runErr := p.run(runCtx, srcs, snks, joins)
	finish(nil)
	watchErr := <-watched
	w.summarize()
	s := b.summary
	switch {
	case runErr != nil:
		return runErr
	case errors.Is(watchErr, errBatchDrained):
		p.log.Info("batch finished", "records", s.Records, "written", s.Written, "dead_letters", s.DeadLetters,
			"source_records", s.SourceRecords, "duration", s.Duration.Round(time.Millisecond).String())
		return nil
	case ctx.Err() != nil:
		w.refreshPositions() // what the stop committed last
		return fmt.Errorf("batch of pipeline %q stopped before it reached its end offsets: %s", p.t.name, w.progressText())
	default:
		p.log.Error("batch failed", "err", watchErr)
		return &loggedError{err: fmt.Errorf("batch of pipeline %q: %w", p.t.name, watchErr)}
	}
}

func (b *batchRun) sortedFlows() []*batchFlow {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*batchFlow, 0, len(b.flows))
	for _, f := range b.flows {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].r.f.name < out[j].r.f.name })
	return out
}

// batchWatch follows a batch run to its end.
type batchWatch struct {
	p      *pipelineRun
	b      *batchRun
	client sarama.Client
	admin  sarama.ClusterAdmin
	srcs   []*sourceRunner

	sourcesEnded bool
	positions    map[string]map[int32]int64 // last read, by group
}

// capture sets f's end offsets to its topic's end offsets now, and f's start to its group's position.
func (w *batchWatch) capture(ctx context.Context, f *batchFlow) error {
	p := w.p
	ends, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "the end offsets of topic "+f.topic, func() (map[int32]int64, error) {
		if err := w.client.RefreshMetadata(f.topic); err != nil {
			return nil, err
		}
		parts, err := w.client.Partitions(f.topic)
		if err != nil {
			return nil, err
		}
		out := map[int32]int64{}
		for _, part := range parts {
			end, err := w.client.GetOffset(f.topic, part, sarama.OffsetNewest)
			if err != nil {
				return nil, err
			}
			out[part] = end
		}
		return out, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("batch: flow %q: %w", f.r.f.name, err)
	}
	var total int64
	for part, end := range ends {
		if _, ok := f.from[part]; !ok {
			f.from[part] = 0 // a partition added since the run started
		}
		if d := end - f.from[part]; d > 0 {
			total += d
		}
	}
	w.b.mu.Lock()
	f.end = ends
	w.b.mu.Unlock()
	p.log.Info("batch end offsets captured", "flow", f.r.f.name, "topic", f.topic, "group", f.r.group,
		"end_offsets", offsetsText(ends), "records_to_process", total)
	return nil
}

// start records where f's group starts: its position on every partition of its topic.
func (w *batchWatch) start(ctx context.Context, f *batchFlow) error {
	parts, err := kafka.Within(ctx, offsetsTimeout, w.p.brokers, "the partitions of topic "+f.topic, func() (map[int32]int64, error) {
		list, err := w.client.Partitions(f.topic)
		out := map[int32]int64{}
		for _, part := range list {
			out[part] = 0
		}
		return out, err
	}, nil)
	if err != nil {
		return fmt.Errorf("batch: flow %q: %w", f.r.f.name, err)
	}
	f.from, err = w.position(ctx, f, parts)
	return err
}

// position returns f's group's next offset per partition of parts: its commit, else the partition's
// earliest offset.
func (w *batchWatch) position(ctx context.Context, f *batchFlow, parts map[int32]int64) (map[int32]int64, error) {
	group, topic := f.r.group, f.topic
	list := make([]int32, 0, len(parts))
	for part := range parts {
		list = append(list, part)
	}
	out, err := kafka.Within(ctx, offsetsTimeout, w.p.brokers, "the committed offsets of group "+group, func() (map[int32]int64, error) {
		resp, err := w.admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: list})
		if errors.Is(err, sarama.ErrGroupIDNotFound) {
			resp, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		out := map[int32]int64{}
		for _, part := range list {
			if resp != nil {
				if blk := resp.GetBlock(topic, part); blk != nil && blk.Err == sarama.ErrNoError && blk.Offset >= 0 {
					out[part] = blk.Offset
					continue
				}
			}
			oldest, err := w.client.GetOffset(topic, part, sarama.OffsetOldest)
			if err != nil {
				return nil, err
			}
			out[part] = oldest
		}
		return out, nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("batch: flow %q: %w", f.r.f.name, err)
	}
	return out, nil
}

// watch polls until every source task ended and every flow committed its end offsets (nil), ctx ends
// (its error) or Kafka does not answer (an error naming the request).
func (w *batchWatch) watch(ctx context.Context) error {
	poll := time.NewTicker(batchPollEvery)
	defer poll.Stop()
	lastProgress := time.Now()
	w.positions = map[string]map[int32]int64{}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		}
		if !w.sourcesEnded && w.tasksEnded() {
			w.sourcesEnded = true
			if len(w.srcs) > 0 {
				w.p.log.Info("batch sources ended: every task read its input to the end", "sources", len(w.srcs))
			}
		}
		all := true
		for _, f := range w.b.sortedFlows() {
			if f.done {
				continue
			}
			if f.end == nil {
				if !w.sourcesEnded && f.fedBySources || !w.flowsDone(f.fedByFlows) {
					all = false
					continue
				}
				if err := w.capture(ctx, f); err != nil {
					return err
				}
			}
			at, err := w.position(ctx, f, f.end)
			if err != nil {
				return err
			}
			w.positions[f.r.group] = at
			reached := true
			for part, end := range f.end {
				if at[part] < end {
					reached = false
				}
			}
			if reached {
				w.b.mu.Lock()
				f.done = true
				w.b.mu.Unlock()
				w.p.log.Info("batch flow drained to its end offsets", "flow", f.r.f.name, "topic", f.topic, "records", w.b.counted(f))
				continue
			}
			all = false
		}
		if all && w.sourcesEnded {
			return nil
		}
		if time.Since(lastProgress) >= batchProgressEvery {
			lastProgress = time.Now()
			// A batch the operator paused or stopped (control.go) waits for a resume, and says so here.
			w.p.log.Info("batch progress", "done", w.progressText(), "elapsed", time.Since(w.b.started).Round(time.Second).String(),
				"state", w.p.ctl.state())
		}
	}
}

// refreshPositions reads the committed offsets of every flow whose end is known once more, within
// offsetsTimeout, for the error of an interrupted batch; a failure leaves the last positions read.
func (w *batchWatch) refreshPositions() {
	ctx, cancel := context.WithTimeout(context.Background(), offsetsTimeout)
	defer cancel()
	for _, f := range w.b.sortedFlows() {
		if f.end == nil {
			continue
		}
		if at, err := w.position(ctx, f, f.end); err == nil {
			w.positions[f.r.group] = at
		}
	}
}

// tasksEnded reports whether every task of every source ended on this replica.
func (w *batchWatch) tasksEnded() bool {
	for _, s := range w.srcs {
		for _, task := range s.tasks {
			if s.observer.state(task.Key) != "ended" {
				return false
			}
		}
	}
	return true
}

func (w *batchWatch) flowsDone(groups []string) bool {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	for _, g := range groups {
		if f := w.b.flows[g]; f == nil || !f.done {
			return false
		}
	}
	return true
}

func (b *batchRun) counted(f *batchFlow) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return f.records
}

// progressText says, per flow, how many of the records up to its end offsets it processed (committed), and
// per source how many records it read while its tasks run.
func (w *batchWatch) progressText() string {
	var parts []string
	for _, s := range w.srcs {
		if !w.sourcesEnded {
			parts = append(parts, fmt.Sprintf("source %q: %d records read, tasks running", s.n.name, s.acked.Load()))
		}
	}
	for _, f := range w.b.sortedFlows() {
		w.b.mu.Lock()
		end, from, done := f.end, f.from, f.done
		w.b.mu.Unlock()
		switch {
		case end == nil:
			parts = append(parts, fmt.Sprintf("flow %q: waiting for what writes topic %s", f.r.f.name, f.topic))
		default:
			var total, processed int64
			at := w.positions[f.r.group]
			for part, e := range end {
				if d := e - from[part]; d > 0 {
					total += d
				}
				pos := at[part]
				if done || pos > e {
					pos = e
				}
				if d := pos - from[part]; d > 0 {
					processed += d
				}
			}
			parts = append(parts, fmt.Sprintf("flow %q: %d/%d records", f.r.f.name, processed, total))
		}
	}
	return strings.Join(parts, "; ")
}

// summarize fills the run's summary from the flows' counts, the sinks' and sources' counters and the
// dead-letter metric, and logs a line per flow.
func (w *batchWatch) summarize() {
	p, b := w.p, w.b
	s := b.summary
	s.Pipeline = p.t.name
	s.Duration = time.Since(b.started)
	s.Flows, s.Sources = map[string]BatchFlowSummary{}, map[string]BatchSourceSummary{}
	s.Records, s.Written, s.DeadLetters, s.SourceRecords = 0, 0, 0, 0
	flowDL, sourceDL := p.deadLetterCounts()
	for _, f := range b.sortedFlows() {
		b.mu.Lock()
		fs := BatchFlowSummary{Topic: f.topic, Records: f.records, Written: f.r.written.Load(), DeadLetters: flowDL[f.r.f.name], EndOffsets: f.end}
		b.mu.Unlock()
		s.Flows[f.r.f.name] = fs
		s.Records += fs.Records
		s.Written += fs.Written
		s.DeadLetters += fs.DeadLetters
		p.log.Info("batch flow finished", "flow", f.r.f.name, "topic", f.topic, "records", fs.Records, "written", fs.Written,
			"dead_letters", fs.DeadLetters, "end_offsets", offsetsText(fs.EndOffsets))
	}
	for _, r := range w.srcs {
		ss := BatchSourceSummary{Tasks: len(r.tasks), Records: r.acked.Load(), DeadLetters: sourceDL[r.n.name]}
		s.Sources[r.n.name] = ss
		s.SourceRecords += ss.Records
		s.DeadLetters += ss.DeadLetters
		p.log.Info("batch source finished", "source", r.n.name, "tasks", ss.Tasks, "records", ss.Records, "dead_letters", ss.DeadLetters)
	}
}

// deadLetterCounts reads sluice_dead_letter_records_total of this pipeline, summed per flow and per source.
func (p *pipelineRun) deadLetterCounts() (flows, srcs map[string]int64) {
	flows, srcs = map[string]int64{}, map[string]int64{}
	ch := make(chan prometheus.Metric, 64)
	go func() {
		p.metrics.DeadLetters.Collect(ch)
		close(ch)
	}()
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range d.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["pipeline"] != p.t.name {
			continue
		}
		n := int64(d.Counter.GetValue())
		if f := labels["flow"]; f != "" {
			flows[f] += n
		} else {
			srcs[labels["source"]] += n
		}
	}
	return flows, srcs
}

// offsetsText shows offsets per partition as "0:120 1:98".
func offsetsText(offsets map[int32]int64) string {
	parts := make([]int32, 0, len(offsets))
	for part := range offsets {
		parts = append(parts, part)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	var b strings.Builder
	for i, part := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d", part, offsets[part])
	}
	return b.String()
}
