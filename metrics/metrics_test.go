package metrics_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/metrics"
)

// Names lists exactly the metrics NewOn registers, so that a test can assert each is present.
func TestNamesListsEveryRegisteredMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewOn(reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range []prometheus.Collector{m.SourceRecords, m.SourceRecordsAcked, m.SourceBytes, m.SourcePositionsSaved,
		m.SourceCommitErrors, m.SourceTasksRunning, m.SourceTaskState, m.SourceLag, m.StageRecordsIn, m.StageRecordsOut,
		m.SinkConsumedRecords, m.SinkConsumedBytes, m.SinkRecords, m.SinkBytes, m.SinkBatches,
		m.SinkWriteSeconds, m.SinkRetries, m.EndToEndSeconds, m.ConsumerLag, m.Rebalances, m.DeadLetters, m.Stalled} {
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		registered = append(registered, fqName.FindStringSubmatch((<-ch).String())[1])
	}
	names := metrics.Names()
	slices.Sort(registered)
	slices.Sort(names)
	if !slices.Equal(registered, names) {
		t.Fatalf("Names() = %v\nregistered %v", names, registered)
	}
	if _, err := metrics.NewOn(reg, reg); err == nil {
		t.Fatal("a second NewOn on the same registry succeeded; want the collision refused")
	}
	m.Close()
	if _, err := metrics.NewOn(reg, reg); err != nil {
		t.Fatalf("NewOn after Close: %v", err)
	}
}
