package elasticsearch_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
)

// target is a search engine the sink's integration tests run against: the embedded server (every
// `make test`), or the real OpenSearch node of internal/opensearchtest (`make test-interop`: the tests
// named ...InteropOpenSearch).
type target struct {
	name   string
	url    string
	flavor elasticsearch.Flavor
	srv    *esserver.Server // the embedded server; nil for OpenSearch
	// parseError is the error type of a document that does not fit the index's mapping: Elasticsearch 8
	// (and the embedded server) say document_parsing_exception, OpenSearch mapper_parsing_exception.
	parseError string
}

// embeddedTarget starts an embedded server for the test.
func embeddedTarget(t *testing.T) target {
	srv := startServer(t)
	return target{name: "esserver", url: srv.URL(), flavor: elasticsearch.FlavorElasticsearch, srv: srv, parseError: "document_parsing_exception"}
}

// openSearchTarget is the shared real OpenSearch node (skipped unless SLUICE_TEST_INTEROP=1), with the
// given indices deleted first: the node is shared by the tests of this binary, which reuse index names.
func openSearchTarget(t *testing.T, indices ...string) target {
	tg := target{name: "OpenSearch", url: opensearchtest.Start(t), flavor: elasticsearch.FlavorOpenSearch, parseError: "mapper_parsing_exception"}
	for _, index := range indices {
		if status, body := opensearchtest.Do(t, tg.url, http.MethodDelete, "/"+index+"?ignore_unavailable=true", ""); status != http.StatusOK {
			t.Fatalf("delete index %s on OpenSearch: HTTP %d %s", index, status, body)
		}
	}
	return tg
}

// newSink opens a sink on the target with cfg (its URLs set to the target's) and checks that the sink
// detected the target's flavour.
func (tg target) newSink(t testing.TB, cfg elasticsearch.Config) *elasticsearch.Sink {
	t.Helper()
	cfg.URLs = []string{tg.url}
	s := newSink(t, cfg)
	if s.Flavor() != tg.flavor {
		t.Fatalf("the sink took %s for %s", s.Flavor(), tg.flavor)
	}
	return s
}

// client is a go-elasticsearch client for checking the target's documents. For OpenSearch it marks the
// answers as the product the client checks for, as the sink does (the client would refuse them).
func (tg target) client(t testing.TB) *es.Client {
	cfg := es.Config{Addresses: []string{tg.url}}
	if tg.srv == nil {
		cfg.Interceptors = []elastictransport.InterceptorFunc{func(next elastictransport.RoundTripFunc) elastictransport.RoundTripFunc {
			return func(req *http.Request) (*http.Response, error) {
				res, err := next(req)
				if err == nil && res.Header.Get("X-Elastic-Product") == "" {
					res.Header.Set("X-Elastic-Product", "Elasticsearch")
				}
				return res, err
			}
		}}
	}
	client, err := es.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// storm makes the target answer every rejectEvery-th request with 429 (not executed) and fail every
// rejectItemEvery-th bulk item with an item-level 429 (not applied; the others are), and returns the URL
// the sink is to use and a function that ends the storm. The embedded server injects the faults itself
// (esserver.Faults); for OpenSearch a proxy in front of the node does, in the same way: it answers the
// rejected requests without forwarding them, removes the rejected items from the bulk bodies it forwards
// and puts 429 items in their places in OpenSearch's answer.
func (tg target) storm(t *testing.T, rejectEvery, rejectItemEvery int) (string, func()) {
	if tg.srv != nil {
		tg.srv.SetFaults(esserver.Faults{RejectEvery: rejectEvery, RejectItemEvery: rejectItemEvery})
		return tg.url, func() { tg.srv.SetFaults(esserver.Faults{}) }
	}
	p := &stormProxy{rejectEvery: rejectEvery, rejectItemEvery: rejectItemEvery}
	node, _ := url.Parse(tg.url)
	p.proxy = httputil.NewSingleHostReverseProxy(node)
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	return front.URL, func() {
		p.mu.Lock()
		p.off = true
		p.mu.Unlock()
	}
}

// stormProxy injects 429s in front of a real node (see target.storm).
type stormProxy struct {
	proxy                        *httputil.ReverseProxy
	rejectEvery, rejectItemEvery int
	mu                           sync.Mutex
	off                          bool
	requests, items              int
}

const rejectedReason = "rejected execution of coordinating operation (injected by the test's proxy)"

func (p *stormProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	off := p.off
	p.requests++
	n := p.requests
	p.mu.Unlock()
	if off {
		p.proxy.ServeHTTP(w, r)
		return
	}
	if n%p.rejectEvery == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"error":{"root_cause":[{"type":"rejected_execution_exception","reason":%q}],"type":"rejected_execution_exception","reason":%q},"status":429}`, rejectedReason, rejectedReason)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_bulk") {
		p.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ops := splitBulk(body)
	var forward bytes.Buffer
	rejected := map[int]map[string]string{} // op position -> its action line's metadata, for the 429 item
	p.mu.Lock()
	for i, op := range ops {
		p.items++
		if p.items%p.rejectItemEvery == 0 {
			var action map[string]map[string]any
			json.Unmarshal(op[0], &action)
			for name, meta := range action {
				rejected[i] = map[string]string{"op": name, "_index": fmt.Sprint(meta["_index"]), "_id": fmt.Sprint(meta["_id"])}
			}
			continue
		}
		for _, line := range op {
			forward.Write(line)
			forward.WriteByte('\n')
		}
	}
	p.mu.Unlock()
	var answered []json.RawMessage
	status := http.StatusOK
	if forward.Len() > 0 {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), &forward)
		req.Header = r.Header.Clone()
		// OpenSearch gzips its answers for clients that accept it: take them plain, to splice the items.
		req.Header.Del("Accept-Encoding")
		req.Header.Set("Content-Length", strconv.Itoa(forward.Len()))
		rec := httptest.NewRecorder()
		p.proxy.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" && k != "Content-Encoding" {
				w.Header()[k] = v
			}
		}
		var resp struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			http.Error(w, "proxy: bulk answer: "+err.Error(), http.StatusBadGateway)
			return
		}
		answered = resp.Items
	}
	items := make([]any, 0, len(ops))
	for i := range ops {
		if meta, ok := rejected[i]; ok {
			items = append(items, map[string]any{meta["op"]: map[string]any{"_index": meta["_index"], "_id": meta["_id"], "status": 429,
				"error": map[string]string{"type": "rejected_execution_exception", "reason": rejectedReason}}})
			continue
		}
		if len(answered) == 0 {
			http.Error(w, "proxy: OpenSearch answered fewer items than forwarded", http.StatusBadGateway)
			return
		}
		items = append(items, answered[0])
		answered = answered[1:]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": true, "items": items})
}

// splitBulk splits an NDJSON bulk body into operations: an action line, and a source line unless the
// action is a delete.
func splitBulk(body []byte) [][][]byte {
	var ops [][][]byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		op := [][]byte{line}
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte(`{"delete"`)) && sc.Scan() {
			op = append(op, append([]byte(nil), sc.Bytes()...))
		}
		ops = append(ops, op)
	}
	return ops
}
