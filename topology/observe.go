package topology

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/metrics"
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
