package elasticsearch

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registerStats registers the sink's counters with reg as metrics read from Stats at each scrape. Metrics
// of these names already registered by this sink (an Open repeated on the same registerer) are kept.
func (s *Sink) registerStats(reg prometheus.Registerer) error {
	counter := func(name, help string, labels prometheus.Labels, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v()) })
	}
	collectors := []prometheus.Collector{
		counter("sluice_elasticsearch_requests_total", "Bulk requests the Elasticsearch sink sent, retries included.", nil, s.stats.requests.Load),
		counter("sluice_elasticsearch_retries_total", "Bulk requests or items the Elasticsearch sink sent again after a 429, 5xx or connection failure.", nil, s.stats.retries.Load),
	}
	const docs, docsHelp = "sluice_elasticsearch_documents_total", "Documents the Elasticsearch sink wrote, by result: indexed, deleted (or absent already), conflict (Elasticsearch had this version or a newer one), rejected (bad data)."
	for result, v := range map[string]func() int64{
		"indexed": s.stats.indexed.Load, "deleted": s.stats.deleted.Load,
		"conflict": s.stats.conflicts.Load, "rejected": s.stats.rejected.Load,
	} {
		collectors = append(collectors, counter(docs, docsHelp, prometheus.Labels{"result": result}, v))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return fmt.Errorf("elasticsearch sink: register metrics: %w", err)
		}
	}
	return nil
}
