package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// openSearchDisguise is a proxy in front of the embedded server that answers as OpenSearch 2.19 does where
// the two differ for the sink's product detection: GET / names distribution "opensearch", and no answer
// carries X-Elastic-Product. It counts the answers it stripped the header from.
func openSearchDisguise(t *testing.T, backend string) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(backend)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		res.Header.Del("X-Elastic-Product")
		if res.Request.Method != http.MethodGet || res.Request.URL.Path != "/" {
			return nil
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var info map[string]any
		if err := json.Unmarshal(body, &info); err != nil {
			return err
		}
		info["tagline"] = "The OpenSearch Project: https://opensearch.org/"
		info["version"] = map[string]any{"distribution": "opensearch", "number": "2.19.6", "build_type": "tar",
			"minimum_wire_compatibility_version": "7.10.0", "minimum_index_compatibility_version": "7.0.0"}
		body, _ = json.Marshal(info)
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	return front
}

// An OpenSearch server (no X-Elastic-Product, distribution "opensearch") is detected from GET /, logged with
// its version, and written to with the same external versions as Elasticsearch.
func TestOpenSearchDetectedFromGetRoot(t *testing.T) {
	srv := startServer(t)
	front := openSearchDisguise(t, srv.URL())
	var logs bytes.Buffer
	s := newSink(t, elasticsearch.Config{URLs: []string{front.URL}, Index: "people", Refresh: "true",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if s.Flavor() != elasticsearch.FlavorOpenSearch {
		t.Fatalf("Flavor() = %q after Open against OpenSearch", s.Flavor())
	}
	if !strings.Contains(logs.String(), "flavor=opensearch version=2.19.6") {
		t.Errorf("start-up log does not name the flavour and version:\n%s", logs.String())
	}
	rec := func(off int64, name string) stream.Record {
		return stream.Record{Offset: off, Key: "ann", Operation: stream.OpUpdate, Value: map[string]any{"name": name}}
	}
	writeAll(t, s, []stream.Record{rec(5, "new")}, 1)
	writeAll(t, s, []stream.Record{rec(3, "old")}, 1) // replayed older version: refused by external versioning
	if st := s.Stats(); st.Indexed != 1 || st.Conflicts != 1 {
		t.Fatalf("stats %+v: want 1 indexed and the older write counted as a conflict", st)
	}
	embedded := target{url: srv.URL(), srv: srv}
	if doc, ok := getDoc(embedded.client(t), "people", "ann"); !ok || doc["name"] != "new" {
		t.Fatalf("document after the writes = %v", doc)
	}

	// The disguise bites: go-elasticsearch alone refuses the server.
	plain, _ := es.NewClient(es.Config{Addresses: []string{front.URL}})
	if _, err := plain.Info(); err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Fatalf("plain go-elasticsearch against the disguise: %v, want the product check's refusal", err)
	}
}

func TestFlavorMismatchFailsOpen(t *testing.T) {
	srv := startServer(t)
	front := openSearchDisguise(t, srv.URL())
	notASearchEngine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"something else","version":{"number":"1.0"}}`)
	}))
	t.Cleanup(notASearchEngine.Close)
	for _, tc := range []struct {
		name   string
		url    string
		flavor elasticsearch.Flavor
		want   string
	}{
		{"Elasticsearch required, OpenSearch answers", front.URL, elasticsearch.FlavorElasticsearch, "Flavor is elasticsearch, but " + front.URL + " is opensearch 2.19.6"},
		{"OpenSearch required, Elasticsearch answers", srv.URL(), elasticsearch.FlavorOpenSearch, "Flavor is opensearch, but " + srv.URL() + " is elasticsearch 8.19.0"},
		{"neither", notASearchEngine.URL, elasticsearch.FlavorDetect, "is neither Elasticsearch (GET / has no X-Elastic-Product: Elasticsearch header) nor OpenSearch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{tc.url}, Flavor: tc.flavor})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Open(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Required and found: Open succeeds.
	if s := newSink(t, elasticsearch.Config{URLs: []string{front.URL}, Flavor: elasticsearch.FlavorOpenSearch}); s.Flavor() != elasticsearch.FlavorOpenSearch {
		t.Fatalf("Flavor() = %q", s.Flavor())
	}
	if s := newSink(t, elasticsearch.Config{URLs: []string{srv.URL()}}); s.Flavor() != elasticsearch.FlavorElasticsearch {
		t.Fatalf("Flavor() = %q against the embedded server", s.Flavor())
	}
	if _, err := elasticsearch.New(elasticsearch.Config{Flavor: "solr"}); err == nil || !strings.Contains(err.Error(), `Flavor "solr"`) {
		t.Fatalf("New with Flavor solr = %v", err)
	}
}

// go-elasticsearch's compatibility mode (ELASTIC_CLIENT_APIVERSIONING=true) sends Elasticsearch's
// versioned media type, which OpenSearch refuses; against OpenSearch the sink sends plain JSON instead.
func TestCompatibilityModeInteropOpenSearch(t *testing.T) {
	tg := openSearchTarget(t, "compat")
	t.Setenv("ELASTIC_CLIENT_APIVERSIONING", "true")
	s := tg.newSink(t, elasticsearch.Config{Index: "compat", Mappings: []byte(`{"properties":{"name":{"type":"keyword"}}}`)})
	writeAll(t, s, []stream.Record{{Offset: 1, Key: "ann", Value: map[string]any{"name": "Ann"}}}, 1)
	if doc, ok := getDoc(tg.client(t), "compat", "ann"); !ok || doc["name"] != "Ann" {
		t.Fatalf("document written in compatibility mode = %v", doc)
	}
}
