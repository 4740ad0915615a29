package esserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
)

// Shapes follow the "Search API" reference (hits.total with value/relation, track_total_hits, sort
// values), "Count API", "Refresh API", "?refresh" parameter docs, and rest-api-spec tests
// search/10_source_filtering.yml, search/20_default_values.yml, count/10_basic.yml, cat.indices/10_basic.yml.

func searchIDs(t *testing.T, es *elasticsearch.Client, index, q string) (ids []string, r resp) {
	t.Helper()
	r = call(t, es, esapi.SearchRequest{Index: []string{index}, Body: body(q)})
	if r.status != 200 {
		t.Fatalf("search %s: %d %s", q, r.status, r.raw)
	}
	for _, h := range get(r.body, "hits.hits").([]any) {
		ids = append(ids, h.(map[string]any)["_id"].(string))
	}
	return ids, r
}

func TestRefreshSemantics(t *testing.T) {
	_, es := start(t, Config{RefreshInterval: -1})
	count := func() int64 {
		return get(call(t, es, esapi.CountRequest{Index: []string{"r"}}).body, "count").(int64)
	}
	expect(t, call(t, es, esapi.IndexRequest{Index: "r", DocumentID: "1", Body: body(`{"a":1}`)}), 201)
	expect(t, call(t, es, esapi.GetRequest{Index: "r", DocumentID: "1"}), 200, "found", true) // realtime get
	if n := count(); n != 0 {
		t.Fatalf("unrefreshed doc visible to count: %d", n)
	}
	if ids, _ := searchIDs(t, es, "r", `{}`); len(ids) != 0 {
		t.Fatal("unrefreshed doc visible to search")
	}
	expect(t, call(t, es, esapi.IndicesRefreshRequest{Index: []string{"r"}}), 200, "_shards.successful", 1)
	if count() != 1 {
		t.Fatal("_refresh did not expose the doc")
	}
	expect(t, call(t, es, esapi.IndexRequest{Index: "r", DocumentID: "2", Body: body(`{}`), Refresh: "true"}), 201)
	if count() != 2 {
		t.Fatal("refresh=true did not expose the doc")
	}
	expect(t, call(t, es, esapi.IndexRequest{Index: "r", DocumentID: "3", Body: body(`{}`), Refresh: "wait_for"}), 201)
	if count() != 3 {
		t.Fatal("refresh=wait_for returned before the doc was visible")
	}
	expect(t, call(t, es, esapi.DeleteRequest{Index: "r", DocumentID: "3"}), 200)
	if count() != 3 {
		t.Fatal("unrefreshed delete visible to count")
	}
	expect(t, call(t, es, esapi.IndicesRefreshRequest{}), 200)
	if count() != 2 {
		t.Fatal("refreshed delete not visible")
	}
}

func TestPeriodicRefreshAndWaitFor(t *testing.T) {
	_, es := start(t, Config{RefreshInterval: 50 * time.Millisecond})
	began := time.Now()
	expect(t, call(t, es, esapi.IndexRequest{Index: "p", DocumentID: "1", Body: body(`{}`), Refresh: "wait_for"}), 201)
	if time.Since(began) > 2*time.Second {
		t.Fatal("wait_for waited too long")
	}
	expect(t, call(t, es, esapi.IndexRequest{Index: "p", DocumentID: "2", Body: body(`{}`)}), 201)
	waitFor(t, 2*time.Second, func() bool {
		return get(call(t, es, esapi.CountRequest{Index: []string{"p"}}).body, "count") == int64(2)
	})
}

func seed(t *testing.T, es *elasticsearch.Client) {
	t.Helper()
	var nd strings.Builder
	docs := []string{
		`{"title":"The Quick Brown Fox","tag":"animal","price":10,"rating":4.5,"stock":true,"published":"2024-01-10"}`,
		`{"title":"Lazy dogs sleep","tag":"animal","price":25,"rating":3.0,"stock":false,"published":"2024-03-05"}`,
		`{"title":"Brown bread recipes","tag":"food","price":5,"rating":4.9,"stock":true,"published":"2023-12-31"}`,
		`{"title":"Quick meals","tag":"food","price":15,"stock":true,"published":"2024-06-01","extra":"x"}`,
		`{"title":"Foxes of the north","tag":["animal","travel"],"price":40,"rating":2.5,"stock":false,"published":"2022-07-07"}`,
	}
	for i, d := range docs {
		fmt.Fprintf(&nd, `{"index":{"_index":"s","_id":"%d"}}`+"\n%s\n", i+1, d)
	}
	expect(t, call(t, es, esapi.BulkRequest{Body: body(nd.String()), Refresh: "true"}), 200, "errors", false)
}

func TestSearchQueries(t *testing.T) {
	_, es := start(t, Config{RefreshInterval: -1})
	seed(t, es)
	cases := []struct {
		name, query string
		want        string // sorted ids
	}{
		{"match_all", `{"query":{"match_all":{}}}`, "1,2,3,4,5"},
		{"no query", `{}`, "1,2,3,4,5"},
		{"match any term", `{"query":{"match":{"title":"quick brown"}}}`, "1,3,4"},
		{"match operator and", `{"query":{"match":{"title":{"query":"quick brown","operator":"and"}}}}`, "1"},
		{"match is case-insensitive", `{"query":{"match":{"title":"FOX"}}}`, "1"},
		{"match_phrase", `{"query":{"match_phrase":{"title":"brown fox"}}}`, "1"},
		{"term on keyword", `{"query":{"term":{"tag":"food"}}}`, "3,4"},
		{"term on keyword sub-field", `{"query":{"term":{"title.keyword":"Quick meals"}}}`, "4"},
		{"term on text uses the analyzed token", `{"query":{"term":{"title":"quick"}}}`, "1,4"},
		{"term on long", `{"query":{"term":{"price":{"value":25}}}}`, "2"},
		{"term on boolean", `{"query":{"term":{"stock":false}}}`, "2,5"},
		{"term on unmapped field", `{"query":{"term":{"nope":"x"}}}`, ""},
		{"terms", `{"query":{"terms":{"tag":["travel","food"]}}}`, "3,4,5"},
		{"range numbers", `{"query":{"range":{"price":{"gte":10,"lt":40}}}}`, "1,2,4"},
		{"range gt lte", `{"query":{"range":{"rating":{"gt":3,"lte":4.9}}}}`, "1,3"},
		{"range dates", `{"query":{"range":{"published":{"gte":"2024-01-01","lt":"2024-06-01"}}}}`, "1,2"},
		{"range date math", `{"query":{"range":{"published":{"lte":"now"}}}}`, "1,2,3,4,5"},
		{"ids", `{"query":{"ids":{"values":["2","5","9"]}}}`, "2,5"},
		{"exists", `{"query":{"exists":{"field":"rating"}}}`, "1,2,3,5"},
		{"exists sub-field", `{"query":{"exists":{"field":"extra"}}}`, "4"},
		{"bool", `{"query":{"bool":{"must":[{"match":{"title":"brown"}}],"filter":{"term":{"stock":true}},"must_not":[{"term":{"tag":"food"}}]}}}`, "1"},
		{"bool should only", `{"query":{"bool":{"should":[{"term":{"tag":"travel"}},{"term":{"price":5}}]}}}`, "3,5"},
		{"bool should is optional with filter", `{"query":{"bool":{"filter":[{"term":{"tag":"food"}}],"should":[{"term":{"price":999}}]}}}`, "3,4"},
		{"bool minimum_should_match", `{"query":{"bool":{"should":[{"term":{"tag":"animal"}},{"term":{"stock":true}},{"range":{"price":{"gt":20}}}],"minimum_should_match":2}}}`, "1,2,5"},
		{"bool must_not only", `{"query":{"bool":{"must_not":{"term":{"tag":"animal"}}}}}`, "3,4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, r := searchIDs(t, es, "s", c.query)
			got := sortedJoin(ids)
			if got != c.want {
				t.Fatalf("ids %q, want %q: %s", got, c.want, r.raw)
			}
			if v := get(r.body, "hits.total.value"); v != int64(len(ids)) {
				t.Fatalf("total %v for %d hits", v, len(ids))
			}
		})
	}
}

func sortedJoin(ids []string) string {
	s := append([]string(nil), ids...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return strings.Join(s, ",")
}

func TestSearchResponseShapeSortPaging(t *testing.T) {
	_, es := start(t, Config{RefreshInterval: -1})
	seed(t, es)
	_, r := searchIDs(t, es, "s", `{"query":{"match":{"title":"fox"}}}`)
	expect(t, r, 200, "timed_out", false, "_shards.total", 1, "_shards.successful", 1, "_shards.failed", 0,
		"hits.total.relation", "eq", "hits.hits.0._index", "s", "hits.hits.0._source.tag", "animal")
	if _, ok := get(r.body, "hits.max_score").(float64); !ok {
		t.Fatalf("max_score: %s", r.raw)
	}
	cases := []struct{ query, want string }{
		{`{"sort":[{"price":"desc"}]}`, "5,2,4,1,3"},
		{`{"sort":[{"price":{"order":"asc"}}],"from":1,"size":2}`, "1,4"},
		{`{"sort":["published"]}`, "5,3,1,2,4"},
		{`{"sort":[{"rating":"asc"}]}`, "5,2,1,3,4"}, // missing values sort last
		{`{"sort":[{"tag.keyword":"asc"},{"_id":"desc"}]}`, "5,2,1,4,3"},
		{`{"sort":[{"_id":"asc"}],"size":3}`, "1,2,3"},
		{`{"size":0}`, ""},
	}
	for _, c := range cases {
		ids, r := searchIDs(t, es, "s", c.query)
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("%s: got %s want %s: %s", c.query, got, c.want, r.raw)
		}
	}
	_, r = searchIDs(t, es, "s", `{"sort":[{"price":"desc"}],"size":1}`)
	expect(t, r, 200, "hits.hits.0.sort.0", 40, "hits.max_score", nil, "hits.hits.0._score", nil)
	// Sorting on text is refused, as in Elasticsearch.
	r = call(t, es, esapi.SearchRequest{Index: []string{"s"}, Body: body(`{"sort":["title"]}`)})
	expect(t, r, 400, "error.type", "illegal_argument_exception")
	// Default size is 10.
	var nd strings.Builder
	for i := range 25 {
		fmt.Fprintf(&nd, `{"index":{"_index":"many","_id":"%d"}}`+"\n{\"i\":%d}\n", i, i)
	}
	expect(t, call(t, es, esapi.BulkRequest{Body: body(nd.String()), Refresh: "true"}), 200)
	ids, r := searchIDs(t, es, "many", `{}`)
	if len(ids) != 10 {
		t.Fatalf("default size: %d", len(ids))
	}
	expect(t, r, 200, "hits.total.value", 25, "hits.total.relation", "eq")
	_, r = searchIDs(t, es, "many", `{"track_total_hits":7}`)
	expect(t, r, 200, "hits.total.value", 7, "hits.total.relation", "gte")
	_, r = searchIDs(t, es, "many", `{"track_total_hits":true}`)
	expect(t, r, 200, "hits.total.value", 25, "hits.total.relation", "eq")
	_, r = searchIDs(t, es, "many", `{"track_total_hits":false}`)
	if get(r.body, "hits.total") != nil {
		t.Fatalf("track_total_hits=false must omit total: %s", r.raw)
	}
	r = call(t, es, esapi.SearchRequest{Index: []string{"many"}, Body: body(`{"from":9995,"size":10}`)})
	expect(t, r, 400, "error.type", "illegal_argument_exception")
}

func TestSearchErrors(t *testing.T) {
	_, es := start(t, Config{})
	r := call(t, es, esapi.SearchRequest{Index: []string{"missing"}, Body: body(`{}`)})
	expect(t, r, 404, "error.type", "index_not_found_exception", "error.reason", "no such index [missing]",
		"error.root_cause.0.type", "index_not_found_exception", "status", 404)
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"missing"}}), 404)
	expect(t, call(t, es, esapi.IndexRequest{Index: "e", DocumentID: "1", Body: body(`{"a":1}`), Refresh: "true"}), 201)
	r = call(t, es, esapi.SearchRequest{Index: []string{"e"}, Body: body(`{"query":{"fuzzy_whatever":{"a":1}}}`)})
	expect(t, r, 400, "error.type", "parsing_exception", "error.reason", "unknown query [fuzzy_whatever]",
		"error.root_cause.0.type", "parsing_exception", "error.caused_by.type", "named_object_not_found_exception")
	// Wildcards matching nothing are not an error.
	r = call(t, es, esapi.SearchRequest{Index: []string{"zz*"}, Body: body(`{}`)})
	expect(t, r, 200, "hits.total.value", 0)
}

func TestTypedClient(t *testing.T) {
	s, _ := start(t, Config{RefreshInterval: -1})
	tc, err := elasticsearch.NewTypedClient(elasticsearch.Config{Addresses: []string{s.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tc.Indices.Create("typed").Do(ctx); err != nil {
		t.Fatal(err)
	}
	ir, err := tc.Index("typed").Id("1").Document(map[string]any{"name": "alpha", "n": 3}).Do(ctx)
	if err != nil || ir.Result.Name != "created" || ir.Version_ != 1 {
		t.Fatalf("index: %+v %v", ir, err)
	}
	gr, err := tc.Get("typed", "1").Do(ctx)
	if err != nil || !gr.Found || string(gr.Source_) != `{"n":3,"name":"alpha"}` {
		t.Fatalf("get: %+v %v", gr, err)
	}
	if _, err := tc.Indices.Refresh().Index("typed").Do(ctx); err != nil {
		t.Fatal(err)
	}
	sr, err := tc.Search().Index("typed").Query(&types.Query{Match: map[string]types.MatchQuery{"name": {Query: "alpha"}}}).Do(ctx)
	if err != nil || sr.Hits.Total.Value != 1 || sr.Hits.Hits[0].Id_ == nil || *sr.Hits.Hits[0].Id_ != "1" {
		t.Fatalf("search: %+v %v", sr, err)
	}
	_, err = tc.Indices.Create("typed").Do(ctx)
	if err == nil || !strings.Contains(err.Error(), "resource_already_exists_exception") {
		t.Fatalf("typed error: %v", err)
	}
}

func TestCatIndices(t *testing.T) {
	_, es := start(t, Config{RefreshInterval: -1})
	expect(t, call(t, es, esapi.IndexRequest{Index: "cat1", DocumentID: "1", Body: body(`{}`), Refresh: "true"}), 201)
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "cat2"}), 200)
	r := call(t, es, esapi.CatIndicesRequest{Format: "json"})
	if r.status != 200 || !strings.Contains(r.raw, `"index":"cat1"`) || !strings.Contains(r.raw, `"docs.count":"1"`) {
		t.Fatalf("cat json: %s", r.raw)
	}
	r = call(t, es, esapi.CatIndicesRequest{V: ptr(true)})
	lines := strings.Split(strings.TrimSpace(r.raw), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "health status index") || !strings.Contains(lines[1], "cat1") {
		t.Fatalf("cat text: %q", r.raw)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatal(r.header)
	}
}

func TestSearchMultipleIndices(t *testing.T) {
	_, es := start(t, Config{RefreshInterval: -1})
	for _, ix := range []string{"logs-a", "logs-b", "other"} {
		expect(t, call(t, es, esapi.IndexRequest{Index: ix, DocumentID: "1", Body: body(`{"n":` + fmt.Sprint(len(ix)) + `,"ix":"` + ix + `"}`), Refresh: "true"}), 201)
	}
	r := call(t, es, esapi.SearchRequest{Index: []string{"logs-*"}, Body: body(`{"sort":[{"ix.keyword":"desc"}]}`)})
	expect(t, r, 200, "_shards.total", 2, "hits.total.value", 2, "hits.hits.0._index", "logs-b", "hits.hits.1._index", "logs-a")
	r = call(t, es, esapi.SearchRequest{Body: body(`{"query":{"term":{"ix.keyword":"other"}}}`)})
	expect(t, r, 200, "_shards.total", 3, "hits.total.value", 1, "hits.hits.0._index", "other")
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"logs-a", "other"}}), 200, "count", 2)
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"logs-a", "nope"}}), 404, "error.index", "nope")
}
