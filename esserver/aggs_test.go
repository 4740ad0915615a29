package esserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Response shapes follow Elasticsearch's aggregation reference (terms, range, date_histogram, avg, sum, min,
// max, stats, cardinality, value_count); TestAggregationsInteropMatchOpenSearch checks them against a real
// OpenSearch node.

// aggsMapping is the mapping of the aggregation tests' documents.
const aggsMapping = `{"mappings":{"properties":{
	"cat":{"type":"keyword"},"tags":{"type":"keyword"},"n":{"type":"long"},"price":{"type":"double"},
	"ts":{"type":"date"},"flag":{"type":"boolean"},"title":{"type":"text"}}}}`

// doJSON sends a JSON request to url+path and decodes the JSON answer (numbers as float64).
func doJSON(t *testing.T, method, url, path, reqBody string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if reqBody != "" {
		rd = strings.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	ct := "application/json"
	if strings.Contains(path, "_bulk") {
		ct = "application/x-ndjson"
	}
	req.Header.Set("Content-Type", ct)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

// loadAggDocs creates index with aggsMapping and bulk-indexes docs (refresh=true).
func loadAggDocs(t *testing.T, url, index string, docs []map[string]any) {
	t.Helper()
	if st, out := doJSON(t, http.MethodPut, url, "/"+index, aggsMapping); st != 200 {
		t.Fatalf("create %s: HTTP %d %v", index, st, out)
	}
	var b bytes.Buffer
	for i, d := range docs {
		meta, _ := json.Marshal(map[string]any{"index": map[string]any{"_index": index, "_id": fmt.Sprintf("%04d", i)}})
		src, _ := json.Marshal(d)
		b.Write(meta)
		b.WriteByte('\n')
		b.Write(src)
		b.WriteByte('\n')
	}
	st, out := doJSON(t, http.MethodPost, url, "/_bulk?refresh=true", b.String())
	if st != 200 || out["errors"] != false {
		t.Fatalf("bulk into %s: HTTP %d %v", index, st, out)
	}
}

// aggsOf runs a size-0 search with the given aggs and returns its "aggregations".
func aggsOf(t *testing.T, url, index, aggs string) map[string]any {
	t.Helper()
	st, out := doJSON(t, http.MethodPost, url, "/"+index+"/_search", `{"size":0,"aggs":`+aggs+`}`)
	if st != 200 {
		t.Fatalf("search %s with aggs %s: HTTP %d %v", index, aggs, st, out)
	}
	if hits := out["hits"].(map[string]any)["hits"].([]any); len(hits) != 0 {
		t.Fatalf("size 0 search returned %d hits", len(hits))
	}
	a, _ := out["aggregations"].(map[string]any)
	return a
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expected JSON %s: %v", s, err)
	}
	return v
}

func TestAggregations(t *testing.T) {
	s, _ := start(t, Config{})
	url := s.URL()
	docs := []map[string]any{
		{"cat": "a", "tags": []string{"x", "y"}, "n": 1, "price": 1.5, "ts": "2024-01-01T10:00:00Z", "flag": true, "title": "one"},
		{"cat": "a", "tags": []string{"x"}, "n": 2, "price": 2.5, "ts": "2024-01-01T11:30:00Z", "flag": false},
		{"cat": "b", "tags": []string{"y"}, "n": 3, "price": 10, "ts": "2024-01-03T00:00:00Z", "flag": true},
		{"cat": "b", "n": 4, "price": 20, "ts": "2024-02-15T00:00:00Z"},
		{"cat": "c", "n": 5},
		{"tags": []string{"z"}},
	}
	loadAggDocs(t, url, "aggs", docs)

	cases := []struct{ name, aggs, want string }{
		{"terms default order: count desc, key asc; multi-valued counts each doc once per value",
			`{"t":{"terms":{"field":"tags"}}}`,
			`{"t":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[
				{"key":"x","doc_count":2},{"key":"y","doc_count":2},{"key":"z","doc_count":1}]}}`},
		{"terms size cuts and counts the rest", `{"t":{"terms":{"field":"cat","size":1}}}`,
			`{"t":{"doc_count_error_upper_bound":0,"sum_other_doc_count":3,"buckets":[{"key":"a","doc_count":2}]}}`},
		{"terms on long, key order desc", `{"t":{"terms":{"field":"n","order":{"_key":"desc"},"size":2}}}`,
			`{"t":{"doc_count_error_upper_bound":0,"sum_other_doc_count":3,"buckets":[{"key":5,"doc_count":1},{"key":4,"doc_count":1}]}}`},
		{"terms on boolean", `{"t":{"terms":{"field":"flag"}}}`,
			`{"t":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[
				{"key":1,"key_as_string":"true","doc_count":2},{"key":0,"key_as_string":"false","doc_count":1}]}}`},
		{"terms with a metric sub-aggregation, ordered by it", `{"t":{"terms":{"field":"cat","order":{"p":"desc"}},"aggs":{"p":{"sum":{"field":"price"}}}}}`,
			`{"t":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[
				{"key":"b","doc_count":2,"p":{"value":30}},{"key":"a","doc_count":2,"p":{"value":4}},{"key":"c","doc_count":1,"p":{"value":0}}]}}`},
		{"range: sorted by from, Java double keys, sub-aggregation", `{"r":{"range":{"field":"price","ranges":[{"from":10},{"to":2},{"from":2,"to":10,"key":"mid"}]},"aggs":{"c":{"value_count":{"field":"n"}}}}}`,
			`{"r":{"buckets":[{"key":"*-2.0","to":2,"doc_count":1,"c":{"value":1}},{"key":"mid","from":2,"to":10,"doc_count":1,"c":{"value":1}},
				{"key":"10.0-*","from":10,"doc_count":2,"c":{"value":2}}]}}`},
		{"date_histogram calendar month fills empty months", `{"h":{"date_histogram":{"field":"ts","calendar_interval":"month"}}}`,
			`{"h":{"buckets":[{"key":1704067200000,"key_as_string":"2024-01-01T00:00:00.000Z","doc_count":3},
				{"key":1706745600000,"key_as_string":"2024-02-01T00:00:00.000Z","doc_count":1}]}}`},
		{"date_histogram fixed 1d with format and min_doc_count 1", `{"h":{"date_histogram":{"field":"ts","fixed_interval":"1d","format":"yyyy-MM-dd","min_doc_count":1},"aggs":{"m":{"max":{"field":"n"}}}}}`,
			`{"h":{"buckets":[{"key":1704067200000,"key_as_string":"2024-01-01","doc_count":2,"m":{"value":2}},
				{"key":1704240000000,"key_as_string":"2024-01-03","doc_count":1,"m":{"value":3}},
				{"key":1707955200000,"key_as_string":"2024-02-15","doc_count":1,"m":{"value":4}}]}}`},
		{"date_histogram fixed 12h: empty buckets between", `{"h":{"date_histogram":{"field":"ts","fixed_interval":"12h"}}}`,
			`{"h":{"buckets":[{"key":1704067200000,"key_as_string":"2024-01-01T00:00:00.000Z","doc_count":2}` +
				func() string {
					var b strings.Builder
					for k := int64(1704067200000) + 43200000; k <= 1707955200000; k += 43200000 {
						n := 0
						if k == 1704240000000 || k == 1707955200000 {
							n = 1
						}
						b.WriteString(`,{"key":` + jsonNum(k) + `,"key_as_string":"` + time.UnixMilli(k).UTC().Format("2006-01-02T15:04:05.000Z") + `","doc_count":` + jsonNum(int64(n)) + `}`)
					}
					return b.String()
				}() + `]}}`},
		{"metrics", `{"avg":{"avg":{"field":"price"}},"sum":{"sum":{"field":"n"}},"min":{"min":{"field":"price"}},"max":{"max":{"field":"n"}},
				"stats":{"stats":{"field":"n"}},"card":{"cardinality":{"field":"tags"}},"vc":{"value_count":{"field":"tags"}}}`,
			`{"avg":{"value":8.5},"sum":{"value":15},"min":{"value":1.5},"max":{"value":5},
				"stats":{"count":5,"min":1,"max":5,"avg":3,"sum":15},"card":{"value":3},"vc":{"value":5}}`},
		{"metrics on a date field have value_as_string", `{"min":{"min":{"field":"ts"}},"s":{"stats":{"field":"ts"}}}`,
			`{"min":{"value":1704103200000,"value_as_string":"2024-01-01T10:00:00.000Z"},
				"s":{"count":4,"min":1704103200000,"max":1707955200000,"avg":1705101750000,"sum":6820407000000,
				"min_as_string":"2024-01-01T10:00:00.000Z","max_as_string":"2024-02-15T00:00:00.000Z",
				"avg_as_string":"2024-01-12T23:22:30.000Z","sum_as_string":"2186-02-16T21:30:00.000Z"}}`},
		{"metrics over no values: null, sum 0", `{"a":{"avg":{"field":"missing_field"}},"s":{"sum":{"field":"missing_field"}},"st":{"stats":{"field":"missing_field"}},"t":{"terms":{"field":"missing_field"}}}`,
			`{"a":{"value":null},"s":{"value":0},"st":{"count":0,"min":null,"max":null,"avg":null,"sum":0},
				"t":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[]}}`},
		{"meta is echoed", `{"c":{"value_count":{"field":"cat"},"meta":{"owner":"q"}}}`, `{"c":{"value":5,"meta":{"owner":"q"}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := aggsOf(t, url, "aggs", c.aggs)
			if want := mustJSON(t, c.want); !reflect.DeepEqual(any(got), want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Fatalf("aggs %s\n got %s\nwant %s", c.aggs, g, w)
			}
		})
	}

	// A query restricts the documents aggregated; "aggregations" is the long spelling.
	st, out := doJSON(t, http.MethodPost, url, "/aggs/_search", `{"size":0,"query":{"term":{"cat":"a"}},"aggregations":{"s":{"sum":{"field":"n"}}}}`)
	if st != 200 || !reflect.DeepEqual(out["aggregations"], mustJSON(t, `{"s":{"value":3}}`)) {
		t.Fatalf("aggs under a query: HTTP %d %v", st, out)
	}
	// Several indices: one set of buckets over the documents of all.
	loadAggDocs(t, url, "aggs2", []map[string]any{{"cat": "a", "n": 10}, {"cat": "d", "n": 20}})
	if got := aggsOf(t, url, "aggs,aggs2", `{"t":{"terms":{"field":"cat","size":2}},"s":{"sum":{"field":"n"}}}`); !reflect.DeepEqual(any(got), mustJSON(t,
		`{"t":{"doc_count_error_upper_bound":0,"sum_other_doc_count":2,"buckets":[{"key":"a","doc_count":3},{"key":"b","doc_count":2}]},"s":{"value":45}}`)) {
		t.Fatalf("aggs over two indices: %v", got)
	}
	// Hits and aggregations together.
	st, out = doJSON(t, http.MethodPost, url, "/aggs/_search", `{"size":2,"sort":["n"],"aggs":{"c":{"cardinality":{"field":"cat"}}}}`)
	if st != 200 || len(out["hits"].(map[string]any)["hits"].([]any)) != 2 || !reflect.DeepEqual(out["aggregations"], mustJSON(t, `{"c":{"value":3}}`)) {
		t.Fatalf("hits with aggs: HTTP %d %v", st, out)
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestAggregationErrors(t *testing.T) {
	s, _ := start(t, Config{})
	url := s.URL()
	loadAggDocs(t, url, "aggerr", []map[string]any{{"cat": "a", "n": 1, "title": "x", "ts": "2024-01-01"}, {"ts": "2024-01-02"}})
	cases := []struct {
		aggs, typ, reason string
		status            int // 0: 400
	}{
		{`{"x":{"nope":{"field":"n"}}}`, "parsing_exception", "Unknown aggregation type [nope]", 0},
		{`{"x":{"avg":{"field":"n"},"sum":{"field":"n"}}}`, "parsing_exception", "Found two aggregation type definitions in [x]: [avg] and [sum]", 0},
		{`{"x":{"avg":{"field":"n"},"aggs":{"y":{"sum":{"field":"n"}}}}}`, "aggregation_initialization_exception", "Aggregator [x] of type [avg] cannot accept sub-aggregations", 500},
		{`{"x":{"terms":{"field":"title"}}}`, "illegal_argument_exception", "Text fields are not optimised", 0},
		{`{"x":{"avg":{"field":"cat"}}}`, "illegal_argument_exception", "Field [cat] of type [keyword] is not supported for aggregation [avg]", 0},
		{`{"x":{"date_histogram":{"field":"ts","calendar_interval":"2d"}}}`, "x_content_parse_exception", "[1:75] [date_histogram] failed to parse field [calendar_interval]", 0},
		{`{"x":{"date_histogram":{"field":"ts","fixed_interval":"1M"}}}`, "x_content_parse_exception", "[1:72] [date_histogram] failed to parse field [fixed_interval]", 0},
		{`{"x":{"terms":{"field":"cat","include":"a.*"}}}`, "parsing_exception", "unknown field [include]", 0},
		{`{"x":{"terms":{"field":"cat","order":{"nope":"asc"}}}}`, "aggregation_execution_exception", "Invalid aggregation order path [nope]", 0},
		{`{"x":{"date_histogram":{"field":"ts","fixed_interval":"1s"}}}`, "too_many_buckets_exception", "Trying to create too many buckets. Must be less than or equal to: [65536]", 0},
		// 43,201 and 28,801 buckets: each within the limit, together beyond it.
		{`{"x":{"date_histogram":{"field":"ts","fixed_interval":"2s"}},"y":{"date_histogram":{"field":"ts","fixed_interval":"3s"}}}`, "too_many_buckets_exception", "[search.max_buckets]", 0},
	}
	for _, c := range cases {
		st, out := doJSON(t, http.MethodPost, url, "/aggerr/_search", `{"size":0,"aggs":`+c.aggs+`}`)
		e, _ := out["error"].(map[string]any)
		if c.status == 0 {
			c.status = 400
		}
		if st != c.status || e == nil || e["type"] != c.typ || !strings.Contains(e["reason"].(string), c.reason) {
			t.Errorf("aggs %s: HTTP %d %v; want %d %s containing %q", c.aggs, st, out, c.status, c.typ, c.reason)
		}
	}
}
