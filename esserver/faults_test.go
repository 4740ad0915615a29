package esserver

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

func TestFaults(t *testing.T) {
	s, es := start(t, Config{})
	info := func() resp { return call(t, es, esapi.InfoRequest{}) }

	t.Run("reject", func(t *testing.T) {
		s.SetFaults(Faults{RejectEvery: 2})
		defer s.SetFaults(Faults{})
		expect(t, info(), 200)
		r := info()
		expect(t, r, 429, "status", 429, "error.type", "es_rejected_execution_exception",
			"error.root_cause.0.type", "es_rejected_execution_exception")
		if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Fatal("fault response without product header")
		}
		expect(t, info(), 200)
	})
	t.Run("rejected request is not executed", func(t *testing.T) {
		s.SetFaults(Faults{RejectEvery: 1})
		r := call(t, es, esapi.IndexRequest{Index: "f", DocumentID: "x", Body: body(`{}`)})
		s.SetFaults(Faults{})
		expect(t, r, 429)
		expect(t, call(t, es, esapi.IndicesExistsRequest{Index: []string{"f"}}), 404)
	})
	t.Run("unavailable", func(t *testing.T) {
		s.SetFaults(Faults{UnavailableEvery: 1})
		r := info()
		s.SetFaults(Faults{})
		expect(t, r, 503, "status", 503, "error.type", "unavailable_shards_exception")
	})
	t.Run("bulk item reject", func(t *testing.T) {
		s.SetFaults(Faults{RejectItemEvery: 3})
		var nd strings.Builder
		for i := range 6 {
			fmt.Fprintf(&nd, `{"index":{"_index":"items","_id":"%d"}}`+"\n{}\n", i)
		}
		r := call(t, es, esapi.BulkRequest{Body: body(nd.String())})
		s.SetFaults(Faults{})
		expect(t, r, 200, "errors", true,
			"items.0.index.status", 201, "items.1.index.status", 201,
			"items.2.index.status", 429, "items.2.index.error.type", "es_rejected_execution_exception", "items.2.index._id", "2",
			"items.5.index.status", 429, "items.4.index.status", 201)
		expect(t, call(t, es, esapi.GetRequest{Index: "items", DocumentID: "2"}), 404)
		expect(t, call(t, es, esapi.GetRequest{Index: "items", DocumentID: "3"}), 200)
	})
	t.Run("latency", func(t *testing.T) {
		s.SetFaults(Faults{Latency: 150 * time.Millisecond})
		began := time.Now()
		r := info()
		s.SetFaults(Faults{})
		expect(t, r, 200)
		if d := time.Since(began); d < 150*time.Millisecond {
			t.Fatalf("latency not applied: %v", d)
		}
	})
	t.Run("drop", func(t *testing.T) {
		s.SetFaults(Faults{DropEvery: 1})
		_, err := esapi.InfoRequest{}.Do(bg, es)
		s.SetFaults(Faults{})
		if err == nil {
			t.Fatal("dropped connection produced no error")
		}
		expect(t, info(), 200)
	})
}
