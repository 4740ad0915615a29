package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
)

// env is the environment given to a component's connectors and stages through their context (see
// metrics.Env): the pipeline's logger with attrs added, and a registerer that labels every metric with the
// pipeline and the attrs' source or flow. attrs are slog key-value pairs, as in a unit's attrs.
func (p *pipelineRun) env(attrs ...any) metrics.Env {
	labels := prometheus.Labels{"pipeline": p.t.name}
	for i := 0; i+1 < len(attrs); i += 2 {
		key, _ := attrs[i].(string)
		value, _ := attrs[i+1].(string)
		if key == "source" || key == "flow" {
			labels[key] = value
		}
	}
	return metrics.Env{Logger: p.log.With(attrs...), Registerer: p.metrics.Registerer(labels)}
}

// stageScope says whose chain a stage runs in, for the labels of its counters: a source's, or a flow's
// (with table set for a table's stages run where the flow joins the table).
type stageScope struct{ source, flow, table string }

func (p *pipelineRun) stageCounters(scope stageScope, stage string) (in, out prometheus.Counter) {
	values := []string{p.t.name, scope.source, scope.flow, scope.table, stage}
	return p.metrics.StageRecordsIn.WithLabelValues(values...), p.metrics.StageRecordsOut.WithLabelValues(values...)
}

// countDeadLetter counts a record sent to a dead-letter topic by a source (flow empty) or a flow (source
// empty), failed at stage.
func (p *pipelineRun) countDeadLetter(source, flow, stage string) {
	p.metrics.DeadLetters.WithLabelValues(p.t.name, source, flow, stage).Inc()
}

// progressEvery is how often a running pipeline logs a progress line (when something moved).
const progressEvery = 10 * time.Second

// trackLag refreshes sluice_consumer_lag every second for the partitions this replica processes now (see
// sinkRunner.nextOffsets), deletes the series of partitions it no longer processes, refreshes
// sluice_source_lag for the source tasks this replica runs (taskObserver.refreshLag), and logs a
// progress line every progressEvery when records moved: records read and acknowledged per source, records
// written and lag per flow.
func (p *pipelineRun) trackLag(ctx context.Context, srcs []*sourceRunner, snks []*sinkRunner) {
	var client sarama.Client
	if len(snks) > 0 {
		var err error
		if client, err = sarama.NewClient(p.brokers, p.saramaConfig("sluice-lag")); err != nil {
			p.log.Warn("consumer lag metric unavailable", "err", err)
		} else {
			defer client.Close()
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastProgress, lastMoved := time.Now(), int64(0)
	reported := map[*sinkRunner]map[int32]bool{} // partitions with a lag series, per flow
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, s := range snks {
			var total int64
			owned := s.nextOffsets()
			for part := range reported[s] {
				if _, ok := owned[part]; !ok { // moved to another replica (or a rebalance is under way)
					p.metrics.ConsumerLag.DeleteLabelValues(p.t.name, s.group, s.f.from.name, strconv.Itoa(int(part)))
					delete(reported[s], part)
				}
			}
			for part, next := range owned {
				if client == nil {
					break
				}
				hwm, err := client.GetOffset(s.f.from.name, part, sarama.OffsetNewest)
				if err != nil {
					continue
				}
				total += hwm - next
				p.metrics.ConsumerLag.WithLabelValues(p.t.name, s.group, s.f.from.name, strconv.Itoa(int(part))).Set(float64(hwm - next))
				if reported[s] == nil {
					reported[s] = map[int32]bool{}
				}
				reported[s][part] = true
			}
			s.lag.Store(total)
		}
		for _, s := range srcs {
			s.observer.refreshLag()
		}
		if time.Since(lastProgress) < progressEvery {
			continue
		}
		var moved int64
		for _, s := range srcs {
			moved += s.read.Load()
		}
		for _, s := range snks {
			moved += s.written.Load()
		}
		if moved != lastMoved {
			for _, s := range srcs {
				p.log.Info("progress", "source", s.n.name, "records_read", s.read.Load(), "records_acked", s.acked.Load())
			}
			for _, s := range snks {
				p.log.Info("progress", "flow", s.f.name, "records_written", s.written.Load(), "lag", s.lag.Load())
			}
		}
		lastProgress, lastMoved = time.Now(), moved
	}
}

func replicaID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// taskObserver follows the tasks of one source on this replica: the state each is in
// (sluice_source_task_state, see metrics.TaskStates) and, while a task runs, its open reader, whose lag
// (sources.Lagger) it exports as sluice_source_lag and answers taskLag with. It holds its lock while it
// calls a reader's Lag, and the task runner calls closing before it closes a reader, so Lag is never
// called on a closed reader.
type taskObserver struct {
	pipeline, source string
	states, lags     *prometheus.GaugeVec

	mu    sync.Mutex
	tasks map[string]*observedTask
}

type observedTask struct {
	state   string
	lagger  sources.Lagger // the open reader when it tells its lag, else nil
	lagUnit string         // the unit of the task's sluice_source_lag series, "" while it has none
}

func (p *pipelineRun) newTaskObserver(source string) *taskObserver {
	return &taskObserver{pipeline: p.t.name, source: source, states: p.metrics.SourceTaskState, lags: p.metrics.SourceLag,
		tasks: map[string]*observedTask{}}
}

// task returns the task's entry, made on first use; o.mu is held.
func (o *taskObserver) task(key string) *observedTask {
	t := o.tasks[key]
	if t == nil {
		t = &observedTask{}
		o.tasks[key] = t
	}
	return t
}

// setState records that the task is now in state, one of metrics.TaskStates.
func (o *taskObserver) setState(key, state string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.setStateLocked(key, state)
}

func (o *taskObserver) setStateLocked(key, state string) {
	o.task(key).state = state
	for _, s := range metrics.TaskStates {
		v := 0.0
		if s == state {
			v = 1
		}
		o.states.WithLabelValues(o.pipeline, o.source, key, s).Set(v)
	}
}

// opened records that the task reads with reader from now on: it is running.
func (o *taskObserver) opened(key string, reader sources.Reader) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.task(key)
	t.lagger, _ = reader.(sources.Lagger)
	o.setStateLocked(key, "running")
}

// closing is called before the task's reader is closed: its lag is no longer asked for, and its lag series
// is deleted.
func (o *taskObserver) closing(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.task(key)
	t.lagger = nil
	if t.lagUnit != "" {
		o.lags.DeleteLabelValues(o.pipeline, o.source, key, t.lagUnit)
		t.lagUnit = ""
	}
}

// lag returns how far the task is behind its input, as its open reader tells it; ok is false when the task
// does not run here, its reader does not implement sources.Lagger, or cannot tell now.
func (o *taskObserver) lag(key string) (value float64, unit string, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t := o.tasks[key]; t != nil && t.lagger != nil {
		return t.lagger.Lag()
	}
	return 0, "", false
}

// state returns the task's state on this replica ("" if it never ran here).
func (o *taskObserver) state(key string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t := o.tasks[key]; t != nil {
		return t.state
	}
	return ""
}

// refreshLag sets sluice_source_lag for every task whose open reader tells its lag, and deletes the series
// of a task whose reader cannot tell now.
func (o *taskObserver) refreshLag() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for key, t := range o.tasks {
		if t.lagger == nil {
			continue
		}
		v, unit, ok := t.lagger.Lag()
		if t.lagUnit != "" && (!ok || unit != t.lagUnit) {
			o.lags.DeleteLabelValues(o.pipeline, o.source, key, t.lagUnit)
			t.lagUnit = ""
		}
		if ok && unit != "" {
			o.lags.WithLabelValues(o.pipeline, o.source, key, unit).Set(v)
			t.lagUnit = unit
		}
	}
}

// taskLag returns how far a task that runs on this replica is behind its input, as its reader tells it
// (sources.Lagger): value in unit ("bytes", "seconds"); ok is false when the task does not run here, or its
// reader cannot tell. It is what the task's status shows.
func (r *sourceRunner) taskLag(key string) (value float64, unit string, ok bool) {
	return r.observer.lag(key)
}

// taskState returns the task's state on this replica, one of metrics.TaskStates, or "" if it never ran
// here.
func (r *sourceRunner) taskState(key string) string { return r.observer.state(key) }

// countRebalances wraps a consumer group so that every session it begins (at start and after each
// rebalance) counts in sluice_rebalances_total for the group.
func (p *pipelineRun) countRebalances(g sarama.ConsumerGroup, group string) sarama.ConsumerGroup {
	sessions := p.metrics.Rebalances.WithLabelValues(p.t.name, group)
	return hookedGroup{ConsumerGroup: g, hooks: sessionHooks{setup: func(sarama.ConsumerGroupSession) sarama.ConsumerGroupSession {
		sessions.Inc()
		return nil
	}}}
}

// sinkCounters are a flow's counters of what it consumed and what its sink acknowledged, resolved once.
type sinkCounters struct {
	consumedRecords, consumedBytes, bytes prometheus.Counter
	endToEnd                              prometheus.Observer
}

func (p *pipelineRun) newSinkCounters(flow string) sinkCounters {
	return sinkCounters{
		consumedRecords: p.metrics.SinkConsumedRecords.WithLabelValues(p.t.name, flow),
		consumedBytes:   p.metrics.SinkConsumedBytes.WithLabelValues(p.t.name, flow),
		bytes:           p.metrics.SinkBytes.WithLabelValues(p.t.name, flow),
		endToEnd:        p.metrics.EndToEndSeconds.WithLabelValues(p.t.name, flow),
	}
}

// consumed counts one Kafka record the flow consumed.
func (c sinkCounters) consumed(o origin) {
	c.consumedRecords.Inc()
	c.consumedBytes.Add(float64(len(o.key) + len(o.value)))
}

// acknowledged counts what the sink acknowledged of a batch at ackedAt: the bytes of each Kafka record at
// least one of whose output records was delivered, and one end-to-end observation per delivered record,
// from the Kafka record's timestamp (which the output records inherit). rejected holds the indexes (in the
// batch's records, owners maps them to items) that the sink rejected; they are not counted.
func (c sinkCounters) acknowledged(items []sinkItem, owners []int, rejected map[int]bool, ackedAt time.Time) {
	delivered := make([]int, len(items)) // delivered records per item
	for i, owner := range owners {
		if !rejected[i] {
			delivered[owner]++
		}
	}
	var bytes int
	for i, it := range items {
		if delivered[i] == 0 {
			continue
		}
		bytes += len(it.origin.key) + len(it.origin.value)
		if it.origin.timestamp.IsZero() {
			continue
		}
		seconds := max(ackedAt.Sub(it.origin.timestamp).Seconds(), 0)
		for range delivered[i] {
			c.endToEnd.Observe(seconds)
		}
	}
	c.bytes.Add(float64(bytes))
}
