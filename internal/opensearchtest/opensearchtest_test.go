package opensearchtest

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// TestOpenSearchInteropStarts: the node answers GET / as OpenSearch 2.19, and an index created, filled with
// _bulk and searched holds the two documents.
func TestOpenSearchInteropStarts(t *testing.T) {
	url := Start(t)
	t.Logf("start-up took %s", StartupTime())

	status, body := Do(t, url, http.MethodGet, "/", "")
	var root struct {
		Version struct {
			Distribution string `json:"distribution"`
			Number       string `json:"number"`
		} `json:"version"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &root) != nil {
		t.Fatalf("GET /: HTTP %d: %s", status, body)
	}
	if root.Version.Distribution != "opensearch" || !strings.HasPrefix(root.Version.Number, "2.19.") {
		t.Fatalf("GET / answers distribution %q version %q, want opensearch 2.19.x", root.Version.Distribution, root.Version.Number)
	}

	DeleteAllIndices(t, url)
	if status, body := Do(t, url, http.MethodPut, "/starts", `{"mappings":{"properties":{"name":{"type":"keyword"},"n":{"type":"long"}}}}`); status != http.StatusOK {
		t.Fatalf("create index starts: HTTP %d: %s", status, body)
	}
	bulk := `{"index":{"_index":"starts","_id":"a"}}
{"name":"alpha","n":1}
{"index":{"_index":"starts","_id":"b"}}
{"name":"beta","n":2}
`
	status, body = Do(t, url, http.MethodPost, "/_bulk?refresh=true", bulk)
	var br struct {
		Errors bool             `json:"errors"`
		Items  []map[string]any `json:"items"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &br) != nil || br.Errors || len(br.Items) != 2 {
		t.Fatalf("_bulk of two documents: HTTP %d: %s", status, body)
	}
	status, body = Do(t, url, http.MethodPost, "/starts/_search", `{"query":{"range":{"n":{"gte":1}}},"sort":[{"n":"asc"}]}`)
	var sr struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string         `json:"_id"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &sr) != nil {
		t.Fatalf("search: HTTP %d: %s", status, body)
	}
	if sr.Hits.Total.Value != 2 || len(sr.Hits.Hits) != 2 || sr.Hits.Hits[0].ID != "a" || sr.Hits.Hits[1].Source["name"] != "beta" {
		t.Fatalf("search found %s, want documents a (alpha) and b (beta)", body)
	}
	DeleteAllIndices(t, url)
	if status, body := Do(t, url, http.MethodGet, "/starts", ""); status != http.StatusNotFound {
		t.Fatalf("after DeleteAllIndices, GET /starts: HTTP %d: %s (want 404)", status, body)
	}
}
