package elasticsearch_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sinks/sinktest"
	"github.com/sluicehq/sluice/stream"
)

// TestConformance runs the sinks conformance suite against the embedded Elasticsearch-compatible server:
// documents keyed by the record key (idempotent), a value that is not a JSON object rejected, and a server
// answering 503 retried by the sink itself until its RetryTimeout, after which the error is permanent.
func TestConformance(t *testing.T) {
	srv := startServer(t)
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Run(t, sinktest.Config{
		NewSink: func(t *testing.T) sinks.Sink {
			s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: "conformance",
				Refresh: "true", RetryTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Record: func(i int) stream.Record {
			id := fmt.Sprintf("doc-%d", i)
			return stream.Record{Topic: "orders", Key: id, Value: map[string]any{"id": id, "n": int64(i)}}
		},
		Bad: func(i int) stream.Record {
			return stream.Record{Topic: "orders", Key: fmt.Sprintf("bad-%d", i), Value: "not json"}
		},
		ID: func(r stream.Record) string { return fmt.Sprint(r.Key) },
		ReadBack: func(t *testing.T) []string {
			r := getJSON(t, client, "POST", "/conformance/_search", `{"query":{"match_all":{}},"size":10000}`)
			var ids []string
			for _, h := range at(r, "hits.hits").([]any) {
				ids = append(ids, h.(map[string]any)["_id"].(string))
			}
			return ids
		},
		Idempotent: true,
		Faults: []sinktest.Fault{{
			Name: "server answers 503 for longer than the sink's RetryTimeout",
			Inject: func(t *testing.T, _ sinks.Sink) func() {
				srv.SetFaults(esserver.Faults{UnavailableEvery: 1})
				return func() { srv.SetFaults(esserver.Faults{}) }
			},
			Retryable: false,
		}},
	})
}
