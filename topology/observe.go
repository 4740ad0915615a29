package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/IBM/sarama"
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

// progressEvery is how often a running pipeline logs a progress line (when something moved).
const progressEvery = 10 * time.Second

// trackLag refreshes sluice_consumer_lag every second for the partitions this replica processes now (see
// sinkRunner.nextOffsets), deletes the series of partitions it no longer processes, and logs a
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
