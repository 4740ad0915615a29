package esserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// Shapes follow the "Bulk API" reference (response body, per-item errors) and rest-api-spec tests
// bulk/10_basic.yml, bulk/11_basic_with_types.yml, bulk/50_refresh.yml.

func TestBulkMixedActionsInOrder(t *testing.T) {
	_, es := start(t, Config{})
	expect(t, call(t, es, esapi.IndexRequest{Index: "b", DocumentID: "n", Body: body(`{"n":1}`)}), 201)
	nd := `{"index":{"_index":"b","_id":"1"}}
{"title":"one"}
{"create":{"_index":"b","_id":"2"}}
{"title":"two"}
{"create":{"_index":"b","_id":"1"}}
{"title":"dup"}
{"index":{"_index":"b","_id":"3"}}
{"n":"abc"}
{"update":{"_index":"b","_id":"2"}}
{"doc":{"extra":true}}
{"update":{"_index":"b","_id":"404"}}
{"doc":{"x":1}}
{"delete":{"_index":"b","_id":"1"}}
{"delete":{"_index":"b","_id":"1"}}
{"index":{"_id":"4"}}
{"title":"default index"}
`
	r := call(t, es, esapi.BulkRequest{Index: "b", Body: body(nd)})
	expect(t, r, 200, "errors", true,
		"items.0.index._index", "b", "items.0.index._id", "1", "items.0.index.result", "created", "items.0.index.status", 201,
		"items.0.index._version", 1, "items.0.index._seq_no", 1, "items.0.index._primary_term", 1, "items.0.index._shards.successful", 1,
		"items.1.create.result", "created", "items.1.create.status", 201,
		"items.2.create.status", 409, "items.2.create.error.type", "version_conflict_engine_exception",
		"items.2.create.error.reason", "[1]: version conflict, document already exists (current version [1])",
		"items.2.create.error.shard", "0", "items.2.create.error.index", "b",
		"items.3.index.status", 400, "items.3.index.error.type", "document_parsing_exception",
		"items.3.index.error.reason", "[1:6] failed to parse field [n] of type [long] in document with id '3'. Preview of field's value: 'abc'",
		"items.3.index.error.caused_by.type", "illegal_argument_exception",
		"items.3.index.error.caused_by.reason", `For input string: "abc"`,
		"items.4.update.result", "updated", "items.4.update.status", 200, "items.4.update._version", 2,
		"items.5.update.status", 404, "items.5.update.error.type", "document_missing_exception",
		"items.6.delete.result", "deleted", "items.6.delete.status", 200, "items.6.delete._version", 2,
		"items.7.delete.result", "not_found", "items.7.delete.status", 404, "items.7.delete._version", 3,
		"items.8.index._index", "b", "items.8.index.status", 201,
	)
	// Version conflicts are engine exceptions and carry the shard; parsing errors do not.
	if get(r.body, "items.2.create.error.index_uuid") == nil || get(r.body, "items.3.index.error.index_uuid") != nil {
		t.Fatal(r.raw)
	}
	// The failed items were not applied, the others were.
	expect(t, call(t, es, esapi.GetRequest{Index: "b", DocumentID: "3"}), 404)
	expect(t, call(t, es, esapi.GetRequest{Index: "b", DocumentID: "2"}), 200, "_source.extra", true)
	expect(t, call(t, es, esapi.GetRequest{Index: "b", DocumentID: "4"}), 200)
}

func TestBulkRequestErrors(t *testing.T) {
	_, es := start(t, Config{})
	cases := []struct{ name, body, typ, reason string }{
		{"no trailing newline", `{"index":{"_index":"x"}}` + "\n" + `{}`, "illegal_argument_exception",
			"The bulk request must be terminated by a newline [\\n]"},
		{"unknown action", `{"upsert":{"_index":"x"}}` + "\n", "illegal_argument_exception",
			"Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [upsert]"},
		{"unknown parameter", `{"index":{"_index":"x","foo":1}}` + "\n{}\n", "illegal_argument_exception",
			"Action/metadata line [1] contains an unknown parameter [foo]"},
		{"missing index", `{"index":{"_id":"1"}}` + "\n{}\n", "action_request_validation_exception",
			"Validation Failed: 1: index is missing;"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, call(t, es, esapi.BulkRequest{Body: body(c.body)}), 400, "error.type", c.typ, "error.reason", c.reason,
				"status", 400)
		})
	}
}

func TestBulkVersioningItems(t *testing.T) {
	_, es := start(t, Config{})
	nd := `{"index":{"_index":"v","_id":"1","version":5,"version_type":"external"}}
{"a":1}
{"index":{"_index":"v","_id":"1","version":4,"version_type":"external"}}
{"a":2}
{"index":{"_index":"v","_id":"1","if_seq_no":0,"if_primary_term":1}}
{"a":3}
{"index":{"_index":"v","_id":"1","if_seq_no":0,"if_primary_term":1}}
{"a":4}
{"delete":{"_index":"v","_id":"1","version":10,"version_type":"external"}}
{"index":{"_index":"v","_id":"1","version":9,"version_type":"external_gte"}}
{"a":5}
`
	r := call(t, es, esapi.BulkRequest{Body: body(nd)})
	expect(t, r, 200, "errors", true,
		"items.0.index.status", 201, "items.0.index._version", 5,
		"items.1.index.status", 409, "items.1.index.error.reason", "[1]: version conflict, current version [5] is higher or equal to the one provided [4]",
		"items.2.index.status", 200, "items.2.index._version", 6, "items.2.index._seq_no", 1,
		"items.3.index.status", 409,
		"items.4.delete.status", 200, "items.4.delete._version", 10,
		"items.5.index.status", 409, "items.5.index.error.reason", "[1]: version conflict, current version [10] is higher than the one provided [9]",
	)
}

func TestBulkGzipBody(t *testing.T) {
	s, _ := start(t, Config{})
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{s.URL()}, CompressRequestBody: true})
	if err != nil {
		t.Fatal(err)
	}
	var nd strings.Builder
	for i := range 50 {
		fmt.Fprintf(&nd, `{"index":{"_index":"gz","_id":"%d"}}`+"\n"+`{"i":%d}`+"\n", i, i)
	}
	expect(t, call(t, es, esapi.BulkRequest{Body: body(nd.String())}), 200, "errors", false, "items.49.index._id", "49")
	// A hand-built gzip request, checked at the HTTP level.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"index":{"_index":"gz","_id":"raw"}}` + "\n{}\n"))
	zw.Close()
	req, _ := http.NewRequest("POST", s.URL()+"/_bulk", &buf)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("gzip bulk: %v %v", err, res)
	}
	res.Body.Close()
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"gz"}}), 200)
	expect(t, call(t, es, esapi.GetRequest{Index: "gz", DocumentID: "raw"}), 200, "found", true)
}

func TestBulkIndexerEndToEnd(t *testing.T) {
	_, es := start(t, Config{})
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: "bi", NumWorkers: 2, FlushBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	for i := range 500 {
		doc := fmt.Sprintf(`{"i":%d,"name":"doc %d"}`, i, i)
		if i == 250 {
			doc = `{"i":"not a number"}`
		}
		err := bi.Add(context.Background(), esutil.BulkIndexerItem{
			Action: "index", DocumentID: fmt.Sprint(i), Body: strings.NewReader(doc),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { ok.Add(1) },
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				if res.Error.Type != "document_parsing_exception" {
					t.Errorf("failure %v %+v", err, res)
				}
				failed.Add(1)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := bi.Stats()
	if ok.Load() != 499 || failed.Load() != 1 || st.NumFailed != 1 || st.NumIndexed != 499 {
		t.Fatalf("ok=%d failed=%d stats=%+v", ok.Load(), failed.Load(), st)
	}
	expect(t, call(t, es, esapi.IndicesRefreshRequest{Index: []string{"bi"}}), 200, "_shards.failed", 0)
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"bi"}}), 200, "count", 499)
}
