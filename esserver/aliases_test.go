package esserver

import (
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// TestAliases drives the alias API with the go-elasticsearch client: add, read and write through an alias,
// an atomic swap, the failure cases with Elasticsearch's error shapes, and recovery from the translog.
func TestAliases(t *testing.T) {
	dir := t.TempDir()
	s, es := start(t, Config{DataDir: dir})
	for _, ix := range []string{"v1", "v2"} {
		expect(t, call(t, es, esapi.IndicesCreateRequest{Index: ix}), 200)
	}
	expect(t, call(t, es, esapi.IndicesPutAliasRequest{Index: []string{"v1"}, Name: "live"}), 200, "acknowledged", true)

	// Writes through an alias of one index go to it; reads find the document under the concrete name.
	expect(t, call(t, es, esapi.IndexRequest{Index: "live", DocumentID: "1", Body: body(`{"n":1}`), Refresh: "true"}), 201, "_index", "v1")
	expect(t, call(t, es, esapi.GetRequest{Index: "live", DocumentID: "1"}), 200, "_index", "v1", "_source.n", 1)
	expect(t, call(t, es, esapi.SearchRequest{Index: []string{"live"}}), 200, "hits.total.value", 1, "hits.hits.0._index", "v1")
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"live"}}), 200, "count", 1)
	expect(t, call(t, es, esapi.BulkRequest{Index: "live", Body: body(`{"index":{"_id":"2"}}` + "\n" + `{"n":2}` + "\n"), Refresh: "true"}), 200,
		"errors", false, "items.0.index._index", "v1")

	// GET /_alias forms.
	hasKeys(t, call(t, es, esapi.IndicesGetAliasRequest{Name: []string{"live"}}), 200, "v1.aliases.live")
	hasKeys(t, call(t, es, esapi.IndicesGetAliasRequest{}), 200, "v1.aliases.live", "v2.aliases")
	expect(t, call(t, es, esapi.IndicesGetAliasRequest{Name: []string{"nope"}}), 404, "error", "alias [nope] missing", "status", 404)
	expect(t, call(t, es, esapi.IndicesExistsAliasRequest{Name: []string{"live"}}), 200)
	expect(t, call(t, es, esapi.IndicesExistsAliasRequest{Name: []string{"nope"}}), 404)
	hasKeys(t, call(t, es, esapi.IndicesGetRequest{Index: []string{"v1"}}), 200, "v1.aliases.live")

	// The swap: one _aliases call, all or nothing. A failing action leaves everything as it was.
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[
		{"remove":{"index":"v1","alias":"live"}},{"add":{"index":"nosuch","alias":"live"}}]}`)}), 404,
		"error.type", "index_not_found_exception", "error.index", "nosuch")
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"live"}}), 200, "count", 2)
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[
		{"remove":{"index":"v1","alias":"live"}},{"add":{"index":"v2","alias":"live"}}]}`)}), 200, "acknowledged", true)
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"live"}}), 200, "count", 0)
	expect(t, call(t, es, esapi.IndexRequest{Index: "live", DocumentID: "3", Body: body(`{"n":3}`)}), 201, "_index", "v2")

	// Two indices: reads see both, writes need a write index, single-document reads fail.
	expect(t, call(t, es, esapi.IndicesPutAliasRequest{Index: []string{"v1"}, Name: "live"}), 200)
	expect(t, call(t, es, esapi.IndicesRefreshRequest{Index: []string{"live"}}), 200, "_shards.total", 2)
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"live"}}), 200, "count", 3)
	expect(t, call(t, es, esapi.IndexRequest{Index: "live", DocumentID: "4", Body: body(`{"n":4}`)}), 400,
		"error.type", "illegal_argument_exception",
		"error.reason", "no write index is defined for alias [live]. The write index may be explicitly disabled using "+
			"is_write_index=false or the alias points to multiple indices without one being designated as a write index")
	expect(t, call(t, es, esapi.GetRequest{Index: "live", DocumentID: "1"}), 400, "error.type", "illegal_argument_exception")
	expect(t, call(t, es, esapi.IndicesPutAliasRequest{Index: []string{"v2"}, Name: "live", Body: body(`{"is_write_index":true}`)}), 200)
	expect(t, call(t, es, esapi.IndexRequest{Index: "live", DocumentID: "4", Body: body(`{"n":4}`)}), 201, "_index", "v2")
	expect(t, call(t, es, esapi.IndicesGetAliasRequest{Index: []string{"v2"}}), 200, "v2.aliases.live.is_write_index", true)
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[
		{"add":{"index":"v1","alias":"live","is_write_index":true}}]}`)}), 500, "error.type", "illegal_state_exception")

	// Error shapes of the other failure cases.
	expect(t, call(t, es, esapi.IndicesDeleteAliasRequest{Index: []string{"v1"}, Name: []string{"other"}}), 404,
		"error.type", "aliases_not_found_exception", "error.reason", "aliases [other] missing", "error.resource.id", "other")
	expect(t, call(t, es, esapi.IndicesPutAliasRequest{Index: []string{"v1"}, Name: "v2"}), 400, "error.type", "invalid_alias_name_exception")
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "live"}), 400,
		"error.type", "invalid_index_name_exception", "error.reason", "Invalid index name [live], already exists as alias")
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[]}`)}), 400, "error.type", "action_request_validation_exception")
	expect(t, call(t, es, esapi.IndicesPutAliasRequest{Index: []string{"v1"}, Name: "test_*"}), 400,
		"error.type", "invalid_alias_name_exception",
		"error.reason", `Invalid alias name [test_*]: must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`)
	expect(t, call(t, es, esapi.IndicesPutAliasRequest{Index: []string{"v1"}, Name: "filtered", Body: body(`{"filter":{"term":{"n":1}}}`)}), 400,
		"error.type", "illegal_argument_exception")
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[{"add":{"index":"v1","alias":"r","routing":"1"}}]}`)}), 400,
		"error.type", "illegal_argument_exception")

	// A remove that finds nothing: with must_exist it fails the request (nothing applies), without it the
	// other actions apply and its result says 404 (Elasticsearch 8.14+).
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[
		{"remove":{"index":"v1","alias":"gone","must_exist":true}},{"add":{"index":"v1","aliases":"extra"}}]}`)}), 404,
		"error.type", "aliases_not_found_exception")
	expect(t, call(t, es, esapi.IndicesExistsAliasRequest{Name: []string{"extra"}}), 404)
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[
		{"add":{"index":"v1","aliases":"extra"}},{"remove":{"index":"v1","aliases":["gone"]}}]}`)}), 200,
		"errors", true, "action_results.0.status", 200, "action_results.1.status", 404,
		"action_results.1.error.type", "aliases_not_found_exception", "action_results.1.action.type", "remove")
	expect(t, call(t, es, esapi.IndicesExistsAliasRequest{Name: []string{"extra"}}), 200)
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[{"add":{"index":"v1","alias":"x","must_exist":true}}]}`)}), 400)

	// remove_index deletes first: another action naming that index in the same call finds no index (and
	// nothing applies); alone, it deletes the index and takes it out of its aliases.
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[
		{"remove":{"index":"v1","alias":"live"}},{"remove_index":{"index":"v1"}}]}`)}), 404, "error.type", "index_not_found_exception")
	expect(t, call(t, es, esapi.IndicesExistsRequest{Index: []string{"v1"}}), 200)
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[{"remove_index":{"index":"v1"}}]}`)}), 200)
	expect(t, call(t, es, esapi.IndicesExistsRequest{Index: []string{"v1"}}), 404)
	// An alias may take the name of an index that the same request removes.
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "old"}), 200)
	expect(t, call(t, es, esapi.IndicesUpdateAliasesRequest{Body: body(`{"actions":[
		{"add":{"index":"v2","aliases":["old","old_write"]}},{"remove_index":{"index":"old"}}]}`)}), 200, "errors", false)
	hasKeys(t, call(t, es, esapi.IndicesGetRequest{Index: []string{"old"}}), 200, "v2")

	// A restart recovers the aliases from the translog.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, es = start(t, Config{DataDir: dir})
	expect(t, call(t, es, esapi.IndicesGetAliasRequest{Name: []string{"live"}}), 200, "v2.aliases.live.is_write_index", true)
	expect(t, call(t, es, esapi.GetRequest{Index: "live", DocumentID: "4"}), 200, "_index", "v2")
	// Deleting the index removes it from its aliases, which then no longer exist.
	expect(t, call(t, es, esapi.IndicesDeleteRequest{Index: []string{"v2"}}), 200)
	expect(t, call(t, es, esapi.IndicesGetAliasRequest{Name: []string{"live"}}), 404)
}

// hasKeys checks a response's status and that each dotted path leads to something.
func hasKeys(t *testing.T, r resp, status int, paths ...string) {
	t.Helper()
	expect(t, r, status)
	for _, p := range paths {
		if get(r.body, p) == nil {
			t.Fatalf("no %s in %s", p, r.raw)
		}
	}
}
