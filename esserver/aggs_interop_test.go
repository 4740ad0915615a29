package esserver

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opensearchtest"
)

// interopAggDocs are the documents of TestAggregationsInteropMatchOpenSearch: 400 documents whose fields
// take few distinct values (cardinality stays below OpenSearch's precision threshold, where it is exact),
// a dynamically mapped string, prices in quarters (sums are exact in binary floating point whatever the order of addition), dates every
// 7h13m from 2024-01-29 (month, quarter and year boundaries inside), some fields missing and some arrays.
func interopAggDocs() []map[string]any {
	cats := []string{"books", "games", "music", "films", "garden", "tools", "toys"}
	base := time.Date(2024, 1, 29, 3, 0, 0, 0, time.UTC)
	var docs []map[string]any
	for i := 0; i < 400; i++ {
		d := map[string]any{
			"cat":   cats[(i*i+3*i)%len(cats)],
			"n":     (i*37)%101 - 20,
			"price": float64((i*53)%997) / 4,
			"ts":    base.Add(time.Duration(i) * (7*time.Hour + 13*time.Minute)).Format(time.RFC3339),
			"flag":  i%3 == 0,
			"label": fmt.Sprintf("L%d", i%9), // not in the mapping: dynamic text with a keyword sub-field
		}
		switch i % 5 {
		case 0:
			d["tags"] = []string{"red", "blue"}
		case 1:
			d["tags"] = []string{cats[i%4]}
		case 2:
			d["tags"] = []string{"green", "red", cats[i%3]}
		}
		if i%11 == 0 {
			delete(d, "price")
		}
		if i%17 == 0 {
			delete(d, "ts")
		}
		if i%13 == 0 {
			delete(d, "cat")
		}
		docs = append(docs, d)
	}
	return docs
}

// interopAggRequests are the aggregation requests sent to both servers: every supported aggregation, on
// each field type it takes, with sub-aggregations, orders, sizes, a query and unmapped fields.
var interopAggRequests = []string{
	`{"aggs":{"t":{"terms":{"field":"cat"}}}}`,
	`{"aggs":{"t":{"terms":{"field":"cat","size":3}}}}`,
	`{"aggs":{"t":{"terms":{"field":"tags","order":{"_key":"asc"}}}}}`,
	`{"aggs":{"t":{"terms":{"field":"tags","order":{"_count":"asc"},"size":4}}}}`,
	`{"aggs":{"t":{"terms":{"field":"n","size":5}}}}`,
	`{"aggs":{"t":{"terms":{"field":"price","size":4,"order":{"_key":"desc"}}}}}`,
	`{"aggs":{"t":{"terms":{"field":"flag"}}}}`,
	`{"aggs":{"t":{"terms":{"field":"label.keyword","size":4}},"c":{"cardinality":{"field":"label.keyword"}}}}`,
	`{"aggs":{"t":{"terms":{"field":"ts","size":3,"order":{"_key":"asc"}}}}}`,
	`{"aggs":{"t":{"terms":{"field":"cat","min_doc_count":60}}}}`,
	`{"aggs":{"t":{"terms":{"field":"cat","order":{"p":"desc"}},"aggs":{"p":{"avg":{"field":"price"}},"s":{"stats":{"field":"n"}}}}}}`,
	`{"aggs":{"t":{"terms":{"field":"cat","order":{"c":"desc"}},"aggs":{"c":{"cardinality":{"field":"tags"}}}},"u":{"terms":{"field":"tags","order":{"v":"asc"}},"aggs":{"v":{"value_count":{"field":"n"}}}}}}`,
	`{"aggs":{"t":{"terms":{"field":"cat","size":2,"order":[{"m":"asc"},{"_key":"desc"}]},"aggs":{"m":{"max":{"field":"n"}},"d":{"date_histogram":{"field":"ts","calendar_interval":"month"}}}}}}`,
	`{"aggs":{"r":{"range":{"field":"price","ranges":[{"from":200},{"to":50},{"from":50,"to":200},{"from":100,"to":150,"key":"mid"}]},"aggs":{"c":{"terms":{"field":"cat","size":2}},"a":{"avg":{"field":"n"}}}}}}`,
	// Integer bounds on the long field: OpenSearch 2.19 truncates a fractional bound there (40.5 acts as 40),
	// Elasticsearch and esserver compare as doubles.
	`{"aggs":{"r":{"range":{"field":"n","keyed":true,"ranges":[{"to":0},{"from":0,"to":40},{"from":40}]}}}}`,
	`{"aggs":{"r":{"range":{"field":"price","keyed":true,"ranges":[{"to":0.5},{"from":0.5,"to":40.25},{"from":40.25}]}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","calendar_interval":"day"}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","calendar_interval":"1d","keyed":true,"format":"yyyy-MM-dd"}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","calendar_interval":"hour","min_doc_count":1},"aggs":{"m":{"min":{"field":"price"}}}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","fixed_interval":"1h"}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","calendar_interval":"1w"},"aggs":{"s":{"sum":{"field":"price"}}}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","calendar_interval":"month"},"aggs":{"c":{"cardinality":{"field":"cat"}},"v":{"value_count":{"field":"tags"}}}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","calendar_interval":"quarter"}},"y":{"date_histogram":{"field":"ts","calendar_interval":"year"}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","fixed_interval":"6h","min_doc_count":1}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","fixed_interval":"90m","format":"yyyy-MM-dd HH:mm"}}}}`,
	`{"aggs":{"h":{"date_histogram":{"field":"ts","fixed_interval":"3d","order":{"_count":"desc"}},"aggs":{"t":{"terms":{"field":"flag"}}}}}}`,
	`{"aggs":{"a":{"avg":{"field":"n"}},"s":{"sum":{"field":"n"}},"mi":{"min":{"field":"n"}},"ma":{"max":{"field":"n"}},"st":{"stats":{"field":"n"}}}}`,
	`{"aggs":{"a":{"avg":{"field":"price"}},"s":{"sum":{"field":"price"}},"mi":{"min":{"field":"price"}},"ma":{"max":{"field":"price"}},"st":{"stats":{"field":"price"}}}}`,
	`{"aggs":{"mi":{"min":{"field":"ts"}},"ma":{"max":{"field":"ts"}},"st":{"stats":{"field":"ts"}}}}`,
	`{"aggs":{"a":{"avg":{"field":"flag"}},"s":{"sum":{"field":"flag"}},"st":{"stats":{"field":"flag"}}}}`,
	`{"aggs":{"c1":{"cardinality":{"field":"cat"}},"c2":{"cardinality":{"field":"tags"}},"c3":{"cardinality":{"field":"n"}},"c4":{"cardinality":{"field":"ts"}},"c5":{"cardinality":{"field":"price"}}}}`,
	`{"aggs":{"v1":{"value_count":{"field":"tags"}},"v2":{"value_count":{"field":"ts"}},"v3":{"value_count":{"field":"price"}},"v4":{"value_count":{"field":"cat"}}}}`,
	`{"query":{"bool":{"filter":[{"range":{"n":{"gte":10}}},{"terms":{"cat":["books","toys"]}}]}},"aggs":{"t":{"terms":{"field":"tags"}},"st":{"stats":{"field":"price"}}}}`,
	`{"query":{"term":{"cat":"none-such"}},"aggs":{"t":{"terms":{"field":"cat"}},"a":{"avg":{"field":"n"}},"s":{"sum":{"field":"n"}},"st":{"stats":{"field":"n"}},"h":{"date_histogram":{"field":"ts","calendar_interval":"day"}},"c":{"cardinality":{"field":"cat"}}}}`,
	`{"aggs":{"a":{"avg":{"field":"unmapped"}},"s":{"sum":{"field":"unmapped"}},"mi":{"min":{"field":"unmapped"}},"v":{"value_count":{"field":"unmapped"}},"t":{"terms":{"field":"unmapped"}}}}`,
	`{"aggs":{"m":{"max":{"field":"n"},"meta":{"team":"search","level":2}}}}`,
}

// TestAggregationsInteropMatchOpenSearch: the same 400 documents indexed into esserver and into a real
// OpenSearch 2.19 node answer every request of interopAggRequests (size 0) with the same aggregations: the
// same keys, shapes and numbers (floating-point numbers within a relative 1e-9).
func TestAggregationsInteropMatchOpenSearch(t *testing.T) {
	osURL := opensearchtest.Start(t)
	s, _ := start(t, Config{})
	const index = "aggs-interop"
	opensearchtest.Do(t, osURL, http.MethodDelete, "/"+index, "")
	docs := interopAggDocs()
	loadAggDocs(t, osURL, index, docs)
	loadAggDocs(t, s.URL(), index, docs)
	t.Cleanup(func() { opensearchtest.Do(t, osURL, http.MethodDelete, "/"+index, "") })

	for i, req := range interopAggRequests {
		body := strings.Replace(req, "{", `{"size":0,`, 1)
		stOS, fromOS := doJSON(t, http.MethodPost, osURL, "/"+index+"/_search", body)
		stES, fromES := doJSON(t, http.MethodPost, s.URL(), "/"+index+"/_search", body)
		if stOS != 200 || stES != 200 {
			t.Errorf("request %d %s: OpenSearch HTTP %d, esserver HTTP %d\nOpenSearch: %v\nesserver:   %v", i, req, stOS, stES, fromOS, fromES)
			continue
		}
		if tOS, tES := fromOS["hits"].(map[string]any)["total"], fromES["hits"].(map[string]any)["total"]; !sameJSON(tOS, tES) {
			t.Errorf("request %d %s: hits.total OpenSearch %v, esserver %v", i, req, tOS, tES)
		}
		var diffs []string
		diffJSON("aggregations", fromOS["aggregations"], fromES["aggregations"], &diffs)
		if len(diffs) > 0 {
			a, _ := json.Marshal(fromOS["aggregations"])
			b, _ := json.Marshal(fromES["aggregations"])
			t.Errorf("request %d %s: esserver differs from OpenSearch:\n  %s\nOpenSearch: %s\nesserver:   %s",
				i, req, strings.Join(diffs, "\n  "), a, b)
		}
	}
}

func sameJSON(a, b any) bool {
	var d []string
	diffJSON("", a, b, &d)
	return len(d) == 0
}

// diffJSON appends to diffs every path where want (OpenSearch's) and got (esserver's) differ: a missing
// or extra key, a different type, a different string or a number beyond a relative 1e-9.
func diffJSON(path string, want, got any, diffs *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: OpenSearch has an object %v, esserver %v", path, compact(want), compact(got)))
			return
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			wv, inW := w[k]
			gv, inG := g[k]
			switch {
			case !inW:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: only esserver has it (%v)", path, k, compact(gv)))
			case !inG:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: esserver lacks it (OpenSearch: %v)", path, k, compact(wv)))
			default:
				diffJSON(path+"."+k, wv, gv, diffs)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: OpenSearch has %s, esserver %s", path, compact(want), compact(got)))
			return
		}
		for i := range w {
			diffJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], diffs)
		}
	case float64:
		g, ok := got.(float64)
		if !ok || !(w == g || math.Abs(w-g) <= 1e-9*math.Max(math.Abs(w), math.Abs(g))) {
			*diffs = append(*diffs, fmt.Sprintf("%s: OpenSearch %v, esserver %v", path, compact(want), compact(got)))
		}
	default:
		if want != got {
			*diffs = append(*diffs, fmt.Sprintf("%s: OpenSearch %v, esserver %v", path, compact(want), compact(got)))
		}
	}
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// TestAggregationErrorsInteropMatchOpenSearch: requests both servers refuse are refused with the same status
// and the same root cause (type and reason). The top-level error may differ where Elasticsearch wraps a
// shard's failure in search_phase_execution_exception "all shards failed" (esserver answers the cause
// itself; see the package doc).
func TestAggregationErrorsInteropMatchOpenSearch(t *testing.T) {
	osURL := opensearchtest.Start(t)
	s, _ := start(t, Config{})
	const index = "aggs-errors-interop"
	docs := []map[string]any{{"cat": "a", "n": 1, "title": "x", "ts": "2024-01-01"}}
	opensearchtest.Do(t, osURL, http.MethodDelete, "/"+index, "")
	loadAggDocs(t, osURL, index, docs)
	loadAggDocs(t, s.URL(), index, docs)
	t.Cleanup(func() { opensearchtest.Do(t, osURL, http.MethodDelete, "/"+index, "") })
	for _, aggs := range []string{
		`{"x":{"nope":{"field":"n"}}}`,
		`{"x":{"avg":{"field":"n"},"sum":{"field":"n"}}}`,
		`{"x":{"avg":{"field":"n"},"aggs":{"y":{"sum":{"field":"n"}}}}}`,
		`{"x":{"terms":{"field":"title"}}}`,
		`{"x":{"avg":{"field":"cat"}}}`,
		`{"x":{"sum":{"field":"cat"}}}`,
		`{"x":{"date_histogram":{"field":"ts","calendar_interval":"2d"}}}`,
		`{"x":{"date_histogram":{"field":"ts","fixed_interval":"1M"}}}`,
	} {
		body := `{"size":0,"aggs":` + aggs + `}`
		stOS, fromOS := doJSON(t, http.MethodPost, osURL, "/"+index+"/_search", body)
		stES, fromES := doJSON(t, http.MethodPost, s.URL(), "/"+index+"/_search", body)
		rootOS, rootES := rootCause(fromOS), rootCause(fromES)
		// Unknown aggregation types: OpenSearch names only the type; esserver adds the list it supports.
		if stOS != stES || rootOS["type"] != rootES["type"] || !strings.HasPrefix(fmt.Sprint(rootES["reason"]), fmt.Sprint(rootOS["reason"])) {
			t.Errorf("aggs %s:\nOpenSearch HTTP %d root cause %v\nesserver   HTTP %d root cause %v", aggs, stOS, rootOS, stES, rootES)
		}
	}
}

// rootCause is error.root_cause[0] of a failed response (nil when there is none).
func rootCause(resp map[string]any) map[string]any {
	e, _ := resp["error"].(map[string]any)
	rc, _ := e["root_cause"].([]any)
	if len(rc) == 0 {
		return nil
	}
	m, _ := rc[0].(map[string]any)
	return m
}
