package esserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/opensearchtest"
)

// TestAliasesInteropMatchOpenSearch sends the same alias requests to esserver and to a real OpenSearch
// 2.19 node and compares what a client acts on: the status, the error type, and the index a document
// was written to or read from. Only behaviour the two share is compared: OpenSearch forked before
// Elasticsearch 8.14's partial alias results and must_exist, which esserver follows (TestAliases).
func TestAliasesInteropMatchOpenSearch(t *testing.T) {
	osURL := opensearchtest.Start(t)
	names := []string{"ia-v1", "ia-v2", "ia-plain"}
	for _, n := range names {
		opensearchtest.Do(t, osURL, http.MethodDelete, "/"+n+"?ignore_unavailable=true", "")
	}
	t.Cleanup(func() {
		for _, n := range names {
			opensearchtest.Do(t, osURL, http.MethodDelete, "/"+n+"?ignore_unavailable=true", "")
		}
	})
	srv, _ := start(t, Config{})
	steps := []struct {
		method, path, body string
		fields             []string // JSON paths compared besides status and error.type
	}{
		{"PUT", "/ia-v1", "", nil},
		{"PUT", "/ia-v2", "", nil},
		{"PUT", "/ia-plain", "", nil},
		{"GET", "/_alias/ia-live", "", []string{"status"}},
		{"HEAD", "/_alias/ia-live", "", nil},
		{"PUT", "/ia-v1/_alias/ia-live", "", []string{"acknowledged"}},
		{"HEAD", "/_alias/ia-live", "", nil},
		{"PUT", "/ia-live/_doc/1?refresh=true", `{"n":1}`, []string{"_index", "result"}},
		{"GET", "/ia-live/_doc/1", "", []string{"_index", "found"}},
		{"GET", "/ia-live/_search", `{"query":{"match_all":{}}}`, []string{"hits.total.value", "hits.hits.0._index"}},
		{"GET", "/ia-live/_count", "", []string{"count"}},
		{"GET", "/_alias/ia-live", "", []string{"ia-v1.aliases.ia-live"}},
		{"GET", "/ia-v1/_alias", "", []string{"ia-v1.aliases.ia-live"}},
		{"GET", "/ia-v1", "", []string{"ia-v1.aliases.ia-live"}},
		// The swap, and a swap that fails as a whole.
		{"POST", "/_aliases", `{"actions":[{"remove":{"index":"ia-v1","alias":"ia-live"}},{"add":{"index":"nosuch","alias":"ia-live"}}]}`, []string{"error.index"}},
		{"GET", "/ia-live/_count", "", []string{"count"}},
		{"POST", "/_aliases", `{"actions":[{"remove":{"index":"ia-v1","alias":"ia-live"}},{"add":{"index":"ia-v2","alias":"ia-live"}}]}`, []string{"acknowledged"}},
		{"POST", "/ia-live/_refresh", "", nil},
		{"GET", "/ia-live/_count", "", []string{"count"}},
		{"PUT", "/ia-live/_doc/2", `{"n":2}`, []string{"_index"}},
		// Two indices: reads see both; writes and single-document reads need one.
		{"PUT", "/ia-v1/_alias/ia-live", "", nil},
		{"POST", "/ia-live/_refresh", "", nil},
		{"GET", "/ia-live/_count", "", []string{"count"}},
		{"PUT", "/ia-live/_doc/3", `{"n":3}`, nil},
		{"GET", "/ia-live/_doc/1", "", nil},
		{"PUT", "/ia-v2/_alias/ia-live", `{"is_write_index":true}`, nil},
		{"PUT", "/ia-live/_doc/3", `{"n":3}`, []string{"_index"}},
		{"GET", "/ia-v2/_alias/ia-live", "", []string{"ia-v2.aliases.ia-live.is_write_index"}},
		{"POST", "/_aliases", `{"actions":[{"add":{"index":"ia-v1","alias":"ia-live","is_write_index":true}}]}`, nil},
		// Refusals.
		{"DELETE", "/ia-v1/_alias/ia-other", "", nil},
		{"PUT", "/ia-v1/_alias/ia-plain", "", nil},
		{"PUT", "/ia-v1/_alias/ia_*", "", nil},
		{"PUT", "/ia-live", "", nil},
		{"POST", "/_aliases", `{"actions":[{"remove_index":{"index":"ia-live"}}]}`, nil},
		// remove_index with the alias moving away in the same call; deleting an index drops its aliases.
		{"POST", "/_aliases", `{"actions":[{"remove":{"index":"ia-v1","alias":"ia-live"}},{"remove_index":{"index":"ia-v1"}}]}`, []string{"error.index"}},
		{"HEAD", "/ia-v1", "", nil},
		{"POST", "/_aliases", `{"actions":[{"remove_index":{"index":"ia-v1"}}]}`, []string{"acknowledged"}},
		{"HEAD", "/ia-v1", "", nil},
		{"GET", "/_alias/ia-live", "", []string{"ia-v2.aliases.ia-live.is_write_index"}},
		{"DELETE", "/ia-v2/_alias/ia-live", "", []string{"acknowledged"}},
		{"GET", "/_alias/ia-live", "", []string{"status"}},
	}
	for i, s := range steps {
		osStatus, osBody := opensearchtest.Do(t, osURL, s.method, s.path, s.body)
		esStatus, esBody := opensearchtest.Do(t, srv.URL(), s.method, s.path, s.body)
		what := s.method + " " + s.path + " " + s.body
		if osStatus != esStatus {
			t.Errorf("step %d %s: status %d, OpenSearch %d\n  esserver:   %s\n  OpenSearch: %s", i, what, esStatus, osStatus, esBody, osBody)
			continue
		}
		if s.method == http.MethodHead {
			continue
		}
		var osDoc, esDoc any
		_ = json.Unmarshal(osBody, &osDoc)
		_ = json.Unmarshal(esBody, &esDoc)
		for _, p := range append([]string{"error.type"}, s.fields...) {
			o, e := jsonAt(osDoc, p), jsonAt(esDoc, p)
			if o != e {
				t.Errorf("step %d %s: %s = %s, OpenSearch %s\n  esserver:   %s\n  OpenSearch: %s", i, what, p, e, o, esBody, osBody)
			}
		}
	}
}

// jsonAt renders the value at a dotted path of a decoded JSON document as JSON ("" when absent).
func jsonAt(doc any, path string) string {
	for _, p := range strings.Split(path, ".") {
		switch d := doc.(type) {
		case map[string]any:
			doc = d[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(d) {
				return ""
			}
			doc = d[i]
		default:
			return ""
		}
	}
	if doc == nil {
		return ""
	}
	b, _ := json.Marshal(doc)
	return string(b)
}
