// Package metrics defines the Prometheus metrics every Sluice pipeline exports (through client_golang), so
// that dashboards and alerts can rely on their names and labels, and the environment (a logger and a
// registerer) that the engine gives connectors and stages through their context (see Env).
//
// Names and labels of the engine's metrics (one place; the README's table repeats it):
//
//	sluice_source_records_total{pipeline,source}                  records read by source tasks
//	sluice_source_records_acked_total{pipeline,source}            records Kafka acknowledged
//	sluice_source_bytes_total{pipeline,source}                    bytes (key + value, encoded) of the records Kafka acknowledged
//	sluice_source_positions_saved_total{pipeline,source}          positions written to the group table
//	sluice_source_commit_errors_total{pipeline,source}            saved positions a reader failed to commit upstream
//	sluice_source_tasks_running{pipeline,source}                  tasks this replica runs now
//	sluice_source_task_state{pipeline,source,task,state}          1 for the state a task is in on this replica, 0 for the others
//	sluice_source_lag{pipeline,source,task,unit}                  how far a running task is behind its input (sources.Lagger)
//	sluice_stage_records_in_total{pipeline,source,flow,table,stage}   records into a stage
//	sluice_stage_records_out_total{pipeline,source,flow,table,stage}  records out of a stage
//	sluice_sink_consumed_records_total{pipeline,sink}             Kafka records the flow consumed (each delivery)
//	sluice_sink_consumed_bytes_total{pipeline,sink}               their bytes (key + value, as consumed)
//	sluice_sink_records_total{pipeline,sink}                      records the sink acknowledged
//	sluice_sink_bytes_total{pipeline,sink}                        bytes (key + value, as consumed) of the Kafka records behind them
//	sluice_sink_batches_total{pipeline,sink}                      batches the sink acknowledged
//	sluice_sink_write_seconds{pipeline,sink}                      time per sink write attempt (histogram)
//	sluice_sink_retries_total{pipeline,sink}                      sink writes retried after a retryable error
//	sluice_end_to_end_seconds{pipeline,flow}                      source time to sink acknowledgement, per record (histogram)
//	sluice_consumer_lag{pipeline,group,topic,partition}           high-water mark minus next offset to process
//	sluice_rebalances_total{pipeline,group}                       consumer-group sessions this replica began
//	sluice_dead_letter_records_total{pipeline,source,flow,stage}  records sent to a dead-letter topic
//	sluice_stalled{pipeline,component}                            1 while a component is stalled, else 0
//
// Label values: pipeline is the topology's name; sink is the flow's name. A stage runs either in a source
// task (source set, flow and table empty) or in a flow's processor (flow set, source empty); a table's
// stages, run where a flow joins the table, also carry table, so the same stage name in a table's chain and
// in the joining flow's own chain are separate series. A dead letter carries the flow that sent it to the
// flow's dead-letter topic, or (flow empty) the source that sent it to the source's; stage is the stage that
// failed ("decode" for a record that could not be decoded, "produce" for one Kafka refused).
// sluice_consumer_lag has a series only for the partitions this replica processes now: when a rebalance
// moves a partition to another replica, its series here is deleted. A component of sluice_stalled is
// "flow/<name>" or "source/<name>"; it is stalled when it has pending work (records queued or a sink write
// in flight; records read but not acknowledged by Kafka) and made no progress for the pipeline's
// StallTimeout; /readyz then answers 503 and says what it waits for.
//
// Records and bytes: a source's records are counted when read (sluice_source_records_total) and when Kafka
// acknowledged them (sluice_source_records_acked_total, with their bytes: the encoded key and value, as
// produced, without headers or Kafka's framing). A flow counts the Kafka records it consumes and their bytes
// (each delivery, so records delivered again after a rebalance or a restart count again), and, once the
// sink acknowledged a batch, the records it wrote (what the stages made of the Kafka records) and the bytes
// of the Kafka records behind them. For a one-to-one pipeline that ran without redelivery, a source's bytes
// equal the consuming flow's. Stages see decoded records, so they count records only: what enters a
// flow's first stage is sluice_sink_consumed_bytes_total, what leaves a source's last stage is
// sluice_source_bytes_total (which, like sluice_source_records_acked_total, also counts the records sent to
// the source's dead-letter topic).
//
// Latency: sluice_sink_write_seconds observes every attempt of a sink write on its own (a retried batch is
// observed once per attempt; sluice_sink_retries_total counts the retries). sluice_end_to_end_seconds
// observes, for every record a sink acknowledged, the time from the record's timestamp to the
// acknowledgement: the timestamp the source set (the binlog event's time for MySQL, the read time for
// files), which Kafka carries as the record's CreateTime; a flow's output records inherit it, so a flow that
// reads another flow's topic (Flow.ToTopic) measures from the first source. After a stateful step
// (Flow.Join, Flow.Keyed) it measures from the step's output instead: goka writes that output with the time
// of writing, not the input's. For Flow.ToTopic flows the acknowledgement is Kafka's. Records without a timestamp are not observed; a timestamp in the future (a
// clock ahead of this one) counts as 0. Clocks of different hosts add their skew.
//
// Source tasks: sluice_source_task_state has one series per state (starting, running, retrying, ended,
// stopped, failed) for every task this replica has run: starting while it claims its position and opens
// its reader (retries of that first open included), running while it reads, retrying while it waits to reopen after a transient failure,
// ended once its input ended (sources.ErrEndOfInput), stopped once it stopped for a rebalance or the
// pipeline's end (another replica may run it now), failed once it failed. sluice_source_lag has a series
// while the task runs here and its reader tells its lag (sources.Lagger), refreshed every second: for
// sources/file the bytes not yet read (unit "bytes"), for sources/mysql the seconds behind the binlog
// (unit "seconds").
//
// sluice_rebalances_total counts, per consumer group of the pipeline (a source's, a flow's, a stateful
// step's), the sessions this replica began: one at start and one after every rebalance that it took part
// in (a replica joining or leaving, partitions added).
//
// Connectors add their own metrics, through the Registerer of their Env, with the labels pipeline and source
// or flow already set: the Elasticsearch sink's are
//
//	sluice_elasticsearch_requests_total{pipeline,flow}            bulk requests sent
//	sluice_elasticsearch_retries_total{pipeline,flow}             bulk requests or items sent again
//	sluice_elasticsearch_documents_total{pipeline,flow,result}    documents by result: indexed, deleted, conflict, rejected
//
// and the MySQL source's
//
//	sluice_mysql_binlog_retention_margin_seconds{pipeline,source,task}  seconds until the binlog holding the task's position is purged
//	sluice_mysql_incremental_snapshot_rows_total{pipeline,source,task,table}  rows incremental snapshots emitted
//	sluice_mysql_incremental_snapshot_tables_remaining{pipeline,source,task}  tables the incremental snapshot has left
package metrics

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one running pipeline's set of metrics, registered with one registerer.
type Metrics struct {
	// Gatherer is what /metrics serves: the registry New made, or the one given to NewOn.
	Gatherer prometheus.Gatherer

	SourceRecords        *prometheus.CounterVec
	SourceRecordsAcked   *prometheus.CounterVec
	SourceBytes          *prometheus.CounterVec
	SourcePositionsSaved *prometheus.CounterVec
	SourceCommitErrors   *prometheus.CounterVec
	SourceTasksRunning   *prometheus.GaugeVec
	SourceTaskState      *prometheus.GaugeVec
	SourceLag            *prometheus.GaugeVec
	StageRecordsIn       *prometheus.CounterVec
	StageRecordsOut      *prometheus.CounterVec
	SinkConsumedRecords  *prometheus.CounterVec
	SinkConsumedBytes    *prometheus.CounterVec
	SinkRecords          *prometheus.CounterVec
	SinkBytes            *prometheus.CounterVec
	SinkBatches          *prometheus.CounterVec
	SinkWriteSeconds     *prometheus.HistogramVec
	SinkRetries          *prometheus.CounterVec
	EndToEndSeconds      *prometheus.HistogramVec
	ConsumerLag          *prometheus.GaugeVec
	Rebalances           *prometheus.CounterVec
	DeadLetters          *prometheus.CounterVec
	Stalled              *prometheus.GaugeVec

	// The backpressure counters (BackpressureNames) have series only for flows with a DROP, LATEST or BUFFER
	// policy and sources with a DROP policy; labels BackpressureLabels.
	BackpressureDropped   *prometheus.CounterVec
	BackpressureCoalesced *prometheus.CounterVec
	BackpressureSpilled   *prometheus.CounterVec

	// registered is what Close unregisters (the sluice_* collectors, plus what connectors registered through
	// Registerer).
	registered *trackingRegisterer
}

// New creates the metrics on a fresh registry that also carries the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := NewOn(reg, reg)
	if err != nil { // cannot happen: the registry is new
		panic(err)
	}
	return m
}

// NewOn registers the metrics with reg (a user's registry, or prometheus.DefaultRegisterer) and serves
// gatherer on /metrics. It fails when reg already has metrics of these names, as a second pipeline running
// in the same process on the same registry would: Close the first one's Metrics, or give each its own
// registry. Only the sluice_* metrics are registered: the Go runtime and process collectors are the
// caller's choice on its own registry.
func NewOn(reg prometheus.Registerer, gatherer prometheus.Gatherer) (*Metrics, error) {
	if reg == nil || gatherer == nil {
		return nil, errors.New("metrics: a registerer and a gatherer are both needed")
	}
	m := &Metrics{
		Gatherer: gatherer,
		SourceRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_records_total", Help: "Records read by source tasks.",
		}, []string{"pipeline", "source"}),
		SourceRecordsAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_records_acked_total", Help: "Source records acknowledged by Kafka.",
		}, []string{"pipeline", "source"}),
		SourceBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_bytes_total", Help: "Bytes (encoded key and value) of the source records Kafka acknowledged.",
		}, []string{"pipeline", "source"}),
		SourcePositionsSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_positions_saved_total", Help: "Source positions written to the source group table.",
		}, []string{"pipeline", "source"}),
		SourceCommitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_commit_errors_total", Help: "Saved source positions a reader failed to commit upstream (sources.Committer).",
		}, []string{"pipeline", "source"}),
		SourceTasksRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_source_tasks_running", Help: "Source tasks this replica runs.",
		}, []string{"pipeline", "source"}),
		SourceTaskState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_source_task_state", Help: "1 for the state a source task is in on this replica (starting, running, retrying, ended, stopped, failed), 0 for the others.",
		}, []string{"pipeline", "source", "task", "state"}),
		SourceLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_source_lag", Help: "How far a running source task is behind its input, in unit (seconds behind the binlog, bytes behind a file).",
		}, []string{"pipeline", "source", "task", "unit"}),
		StageRecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_stage_records_in_total", Help: "Records into a stage, by the source or flow (and table) whose chain runs it.",
		}, StageLabels),
		StageRecordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_stage_records_out_total", Help: "Records out of a stage, by the source or flow (and table) whose chain runs it.",
		}, StageLabels),
		SinkConsumedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_consumed_records_total", Help: "Kafka records the flow consumed (each delivery).",
		}, []string{"pipeline", "sink"}),
		SinkConsumedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_consumed_bytes_total", Help: "Bytes (key and value) of the Kafka records the flow consumed.",
		}, []string{"pipeline", "sink"}),
		SinkRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_records_total", Help: "Records the sink acknowledged.",
		}, []string{"pipeline", "sink"}),
		SinkBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_bytes_total", Help: "Bytes (key and value, as consumed) of the Kafka records whose output the sink acknowledged.",
		}, []string{"pipeline", "sink"}),
		SinkBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_batches_total", Help: "Batches the sink acknowledged.",
		}, []string{"pipeline", "sink"}),
		SinkWriteSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_sink_write_seconds", Help: "Duration of one sink write attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"pipeline", "sink"}),
		SinkRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_retries_total", Help: "Sink writes the engine retried after a retryable error (sinks.Retryable).",
		}, []string{"pipeline", "sink"}),
		EndToEndSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_end_to_end_seconds", Help: "Time from a record's source timestamp to the sink's acknowledgement of the batch holding it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
		}, []string{"pipeline", "flow"}),
		Rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rebalances_total", Help: "Consumer-group sessions this replica began (at start and after each rebalance).",
		}, []string{"pipeline", "group"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_consumer_lag", Help: "Records between the partition's high-water mark and the next offset to process, for the partitions this replica processes.",
		}, []string{"pipeline", "group", "topic", "partition"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_dead_letter_records_total", Help: "Records sent to a dead-letter topic, by the source or flow that sent them and the stage where they failed.",
		}, DeadLetterLabels),
		Stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_stalled", Help: "1 while a component (flow/<name>, source/<name>) has pending work and made no progress for the stall timeout, else 0.",
		}, []string{"pipeline", "component"}),
		BackpressureDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_backpressure_dropped_total", Help: "Records a DROP backpressure policy (or BUFFER then DROP) discarded because too many were pending on the edge.",
		}, BackpressureLabels),
		BackpressureCoalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_backpressure_coalesced_total", Help: "Pending records a LATEST backpressure policy replaced with a newer record of the same key.",
		}, BackpressureLabels),
		BackpressureSpilled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_backpressure_spilled_total", Help: "Records a BUFFER backpressure policy wrote to its spill files because memory was full.",
		}, BackpressureLabels),
	}
	m.registered = &trackingRegisterer{reg: reg}
	for _, c := range m.collectors() {
		if err := m.registered.Register(c); err != nil {
			m.Close()
			return nil, fmt.Errorf("metrics: register sluice metrics: %w", err)
		}
	}
	return m, nil
}

// StageLabels are the labels of the sluice_stage_* counters, in order.
var StageLabels = []string{"pipeline", "source", "flow", "table", "stage"}

// TaskStates are the values of sluice_source_task_state's state label, in the order a task goes through
// them (see the package doc).
var TaskStates = []string{"starting", "running", "retrying", "ended", "stopped", "failed"}

// DeadLetterLabels are the labels of sluice_dead_letter_records_total, in order.
var DeadLetterLabels = []string{"pipeline", "source", "flow", "stage"}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.SourceRecords, m.SourceRecordsAcked, m.SourceBytes, m.SourcePositionsSaved, m.SourceCommitErrors, m.SourceTasksRunning,
		m.SourceTaskState, m.SourceLag,
		m.StageRecordsIn, m.StageRecordsOut,
		m.SinkConsumedRecords, m.SinkConsumedBytes, m.SinkRecords, m.SinkBytes, m.SinkBatches, m.SinkWriteSeconds, m.SinkRetries,
		m.EndToEndSeconds, m.ConsumerLag, m.Rebalances, m.DeadLetters, m.Stalled,
		m.BackpressureDropped, m.BackpressureCoalesced, m.BackpressureSpilled,
	}
}

// BackpressureLabels are the labels of the sluice_backpressure_* counters: edge is "kafka-sink" (between a
// flow's topic and its sink; flow names the flow, source is "") or "source-kafka" (between a source and
// Kafka; source names the source, flow is "").
var BackpressureLabels = []string{"pipeline", "edge", "source", "flow"}

// BackpressureNames lists the backpressure counters, which Names leaves out: they have series only for flows
// with a DROP, LATEST or BUFFER policy and sources with a DROP policy.
func BackpressureNames() []string {
	return []string{"sluice_backpressure_dropped_total", "sluice_backpressure_coalesced_total", "sluice_backpressure_spilled_total"}
}

// Names lists the names of the engine's own metrics (the sluice_* metrics above, without the connectors'),
// except the backpressure counters (BackpressureNames), which exist only for flows with such a policy.
func Names() []string {
	return []string{
		"sluice_source_records_total", "sluice_source_records_acked_total", "sluice_source_bytes_total",
		"sluice_source_positions_saved_total", "sluice_source_commit_errors_total",
		"sluice_source_tasks_running", "sluice_source_task_state", "sluice_source_lag",
		"sluice_stage_records_in_total", "sluice_stage_records_out_total",
		"sluice_sink_consumed_records_total", "sluice_sink_consumed_bytes_total",
		"sluice_sink_records_total", "sluice_sink_bytes_total", "sluice_sink_batches_total", "sluice_sink_write_seconds",
		"sluice_sink_retries_total", "sluice_end_to_end_seconds",
		"sluice_consumer_lag", "sluice_rebalances_total", "sluice_dead_letter_records_total", "sluice_stalled",
	}
}

// Registerer returns the registerer connectors and stages register their own metrics with (see Env): the
// pipeline's, with labels added to every metric registered through it. What is registered through it is
// unregistered by Close.
func (m *Metrics) Registerer(labels prometheus.Labels) prometheus.Registerer {
	return prometheus.WrapRegistererWith(labels, m.registered)
}

// Close unregisters every metric registered with New, NewOn or Registerer, so that the registry can serve
// another pipeline run in the same process. Series of a closed Metrics no longer appear on the registry.
func (m *Metrics) Close() { m.registered.unregisterAll() }

// Handler serves the gatherer in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Gatherer, promhttp.HandlerOpts{})
}
