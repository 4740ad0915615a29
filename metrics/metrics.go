// Package metrics defines the Prometheus metrics every Sluice pipeline exports (through client_golang), so
// that dashboards and alerts can rely on their names and labels.
//
// Names and labels:
//
//	sluice_source_records_total{pipeline,source}          records read by source tasks
//	sluice_source_records_acked_total{pipeline,source}    records Kafka acknowledged
//	sluice_source_positions_saved_total{pipeline,source}  positions written to the group table
//	sluice_source_tasks_running{pipeline,source}          tasks this replica runs now
//	sluice_stage_records_in_total{pipeline,stage}         records into a stage
//	sluice_stage_records_out_total{pipeline,stage}        records out of a stage
//	sluice_sink_records_total{pipeline,sink}              records the sink acknowledged
//	sluice_sink_batches_total{pipeline,sink}              batches the sink acknowledged
//	sluice_sink_write_seconds{pipeline,sink}              time per sink write (histogram)
//	sluice_sink_retries_total{pipeline,sink}              sink writes retried after a retryable error
//	sluice_consumer_lag{pipeline,group,topic,partition}   high-water mark minus next offset to process
//	sluice_dead_letter_records_total{pipeline,flow,stage} records sent to a flow's dead-letter topic
//	sluice_stalled{pipeline,component}                    1 while a component is stalled, else 0
//
// A component (label "flow/<name>" or "source/<name>") is stalled when it has pending work (records queued
// or a sink write in flight; records read but not acknowledged by Kafka) and made no progress for the
// pipeline's StallTimeout; /readyz then answers 503 and says what it waits for.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's set of pipeline metrics, with its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	SourceRecords        *prometheus.CounterVec
	SourceRecordsAcked   *prometheus.CounterVec
	SourcePositionsSaved *prometheus.CounterVec
	SourceTasksRunning   *prometheus.GaugeVec
	StageRecordsIn       *prometheus.CounterVec
	StageRecordsOut      *prometheus.CounterVec
	SinkRecords          *prometheus.CounterVec
	SinkBatches          *prometheus.CounterVec
	SinkWriteSeconds     *prometheus.HistogramVec
	SinkRetries          *prometheus.CounterVec
	ConsumerLag          *prometheus.GaugeVec
	DeadLetters          *prometheus.CounterVec
	Stalled              *prometheus.GaugeVec
}

// New creates the metrics on a fresh registry that also carries the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		SourceRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_records_total", Help: "Records read by source tasks.",
		}, []string{"pipeline", "source"}),
		SourceRecordsAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_records_acked_total", Help: "Source records acknowledged by Kafka.",
		}, []string{"pipeline", "source"}),
		SourcePositionsSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_source_positions_saved_total", Help: "Source positions written to the source group table.",
		}, []string{"pipeline", "source"}),
		SourceTasksRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_source_tasks_running", Help: "Source tasks this replica runs.",
		}, []string{"pipeline", "source"}),
		StageRecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_stage_records_in_total", Help: "Records into a stage.",
		}, []string{"pipeline", "stage"}),
		StageRecordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_stage_records_out_total", Help: "Records out of a stage.",
		}, []string{"pipeline", "stage"}),
		SinkRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_records_total", Help: "Records the sink acknowledged.",
		}, []string{"pipeline", "sink"}),
		SinkBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_batches_total", Help: "Batches the sink acknowledged.",
		}, []string{"pipeline", "sink"}),
		SinkWriteSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_sink_write_seconds", Help: "Duration of one sink write.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"pipeline", "sink"}),
		SinkRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_sink_retries_total", Help: "Sink writes the engine retried after a retryable error (sinks.Retryable).",
		}, []string{"pipeline", "sink"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_consumer_lag", Help: "Records between the partition's high-water mark and the next offset to process.",
		}, []string{"pipeline", "group", "topic", "partition"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_dead_letter_records_total", Help: "Records sent to a flow's dead-letter topic, by where they failed.",
		}, []string{"pipeline", "flow", "stage"}),
		Stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_stalled", Help: "1 while a component (flow/<name>, source/<name>) has pending work and made no progress for the stall timeout, else 0.",
		}, []string{"pipeline", "component"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.SourceRecords, m.SourceRecordsAcked, m.SourcePositionsSaved, m.SourceTasksRunning,
		m.StageRecordsIn, m.StageRecordsOut,
		m.SinkRecords, m.SinkBatches, m.SinkWriteSeconds, m.SinkRetries, m.ConsumerLag, m.DeadLetters, m.Stalled,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
