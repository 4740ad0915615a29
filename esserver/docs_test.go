package esserver

import (
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Shapes follow the Elasticsearch reference ("Index API", "Get API", "Delete API", "Update API",
// "Create index API", "Common options: error responses") and rest-api-spec tests index/10_with_id.yml,
// get/10_basic.yml, delete/10_basic.yml, update/10_doc.yml, indices.create/10_basic.yml.

func TestRootAndProductHeader(t *testing.T) {
	_, es := start(t, Config{})
	r := call(t, es, esapi.InfoRequest{})
	expect(t, r, 200, "version.number", Version, "tagline", "You Know, for Search")
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", r.header)
	}
	// Errors carry the header too.
	r = call(t, es, esapi.GetRequest{Index: "nope", DocumentID: "1"})
	if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatal("no product header on 404")
	}
}

func TestIndexGetDeleteConformance(t *testing.T) {
	_, es := start(t, Config{})
	steps := []struct {
		name   string
		req    esapi.Request
		status int
		pairs  []any
	}{
		{"index creates", esapi.IndexRequest{Index: "books", DocumentID: "1", Body: body(`{"title":"Dune"}`)}, 201,
			[]any{"_index", "books", "_id", "1", "_version", 1, "result", "created", "_seq_no", 0, "_primary_term", 1,
				"_shards.total", 1, "_shards.successful", 1, "_shards.failed", 0}},
		{"index again updates", esapi.IndexRequest{Index: "books", DocumentID: "1", Body: body(`{"title":"Dune Messiah"}`)}, 200,
			[]any{"_version", 2, "result", "updated", "_seq_no", 1}},
		{"realtime get", esapi.GetRequest{Index: "books", DocumentID: "1"}, 200,
			[]any{"_index", "books", "_id", "1", "_version", 2, "_seq_no", 1, "_primary_term", 1, "found", true,
				"_source.title", "Dune Messiah"}},
		{"get missing doc", esapi.GetRequest{Index: "books", DocumentID: "9"}, 404,
			[]any{"_index", "books", "_id", "9", "found", false}},
		{"get missing index", esapi.GetRequest{Index: "nope", DocumentID: "1"}, 404,
			[]any{"status", 404, "error.type", "index_not_found_exception", "error.reason", "no such index [nope]",
				"error.index", "nope", "error.resource.id", "nope", "error.resource.type", "index_or_alias",
				"error.index_uuid", "_na_", "error.root_cause.0.type", "index_not_found_exception"}},
		{"create on existing id", esapi.CreateRequest{Index: "books", DocumentID: "1", Body: body(`{"title":"x"}`)}, 409,
			[]any{"status", 409, "error.type", "version_conflict_engine_exception",
				"error.reason", "[1]: version conflict, document already exists (current version [2])",
				"error.shard", "0", "error.index", "books"}},
		{"create new id", esapi.CreateRequest{Index: "books", DocumentID: "2", Body: body(`{"title":"Emma"}`)}, 201,
			[]any{"result", "created", "_version", 1, "_seq_no", 2}},
		{"op_type=create conflicts too", esapi.IndexRequest{Index: "books", DocumentID: "2", OpType: "create", Body: body(`{}`)}, 409,
			[]any{"error.type", "version_conflict_engine_exception"}},
		{"delete", esapi.DeleteRequest{Index: "books", DocumentID: "2"}, 200,
			[]any{"result", "deleted", "_version", 2, "_seq_no", 3}},
		{"delete missing doc", esapi.DeleteRequest{Index: "books", DocumentID: "2"}, 404,
			[]any{"result", "not_found", "_version", 3, "_seq_no", 4}},
		{"delete on missing index", esapi.DeleteRequest{Index: "nope", DocumentID: "1"}, 404,
			[]any{"error.type", "index_not_found_exception"}},
		{"get deleted", esapi.GetRequest{Index: "books", DocumentID: "2"}, 404, []any{"found", false}},
		{"exists", esapi.ExistsRequest{Index: "books", DocumentID: "1"}, 200, nil},
		{"exists missing", esapi.ExistsRequest{Index: "books", DocumentID: "2"}, 404, nil},
		{"uppercase index", esapi.IndexRequest{Index: "Books", DocumentID: "1", Body: body(`{}`)}, 400,
			[]any{"error.type", "invalid_index_name_exception", "error.reason", "Invalid index name [Books], must be lowercase"}},
		{"internal version is rejected", esapi.IndexRequest{Index: "books", DocumentID: "1", Version: ptr(2), Body: body(`{}`)}, 400,
			[]any{"error.type", "action_request_validation_exception", "error.reason",
				"Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"}},
	}
	for _, st := range steps {
		r := call(t, es, st.req)
		t.Run(st.name, func(t *testing.T) { expect(t, r, st.status, st.pairs...) })
	}
}

func TestAutoIDAndSource(t *testing.T) {
	_, es := start(t, Config{})
	r := call(t, es, esapi.IndexRequest{Index: "logs", Body: body(`{"msg": "hi"}`)})
	expect(t, r, 201, "result", "created", "_version", 1)
	id := get(r.body, "_id").(string)
	if len(id) != 20 {
		t.Fatalf("auto id %q", id)
	}
	r = call(t, es, esapi.GetRequest{Index: "logs", DocumentID: id})
	if !strings.HasSuffix(r.raw, `"_source":{"msg": "hi"}}`) {
		t.Fatalf("GET keeps the source verbatim: %s", r.raw)
	}
	r = call(t, es, esapi.GetSourceRequest{Index: "logs", DocumentID: id})
	if r.status != 200 || r.raw != `{"msg": "hi"}` {
		t.Fatalf("source kept verbatim: %d %s", r.status, r.raw)
	}
}

func TestIndexAdmin(t *testing.T) {
	_, es := start(t, Config{})
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "a", Body: body(`{"mappings":{"properties":{"n":{"type":"long"}}}}`)}), 200,
		"acknowledged", true, "shards_acknowledged", true, "index", "a")
	r := call(t, es, esapi.IndicesCreateRequest{Index: "a"})
	expect(t, r, 400, "error.type", "resource_already_exists_exception", "error.index", "a")
	if get(r.body, "error.reason") != "index [a/"+get(r.body, "error.index_uuid").(string)+"] already exists" {
		t.Fatal(r.raw)
	}
	expect(t, call(t, es, esapi.IndicesExistsRequest{Index: []string{"a"}}), 200)
	expect(t, call(t, es, esapi.IndicesExistsRequest{Index: []string{"b"}}), 404)
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "c", Body: body(`{"mappings":{"properties":{"g":{"type":"geo_shape_x"}}}}`)}), 400,
		"error.type", "mapper_parsing_exception", "error.reason", "No handler for type [geo_shape_x] declared on field [g]")
	expect(t, call(t, es, esapi.IndicesGetRequest{Index: []string{"a"}}), 200, "a.settings.index.number_of_shards", "1",
		"a.mappings.properties.n.type", "long")
	expect(t, call(t, es, esapi.IndicesDeleteRequest{Index: []string{"a"}}), 200, "acknowledged", true)
	expect(t, call(t, es, esapi.IndicesDeleteRequest{Index: []string{"a"}}), 404, "error.type", "index_not_found_exception")
	r = call(t, es, esapi.IndicesGetRequest{Index: []string{"a"}})
	expect(t, r, 404, "error.reason", "no such index [a]")
}

func TestUpdateAPI(t *testing.T) {
	_, es := start(t, Config{})
	steps := []struct {
		name   string
		id     string
		body   string
		status int
		pairs  []any
	}{
		{"missing doc", "1", `{"doc":{"a":1}}`, 404, []any{"error.type", "document_missing_exception",
			"error.reason", "[1]: document missing", "error.shard", "0", "error.index", "u"}},
		{"doc_as_upsert creates", "1", `{"doc":{"a":1,"o":{"x":1}},"doc_as_upsert":true}`, 201,
			[]any{"result", "created", "_version", 1}},
		{"partial merge", "1", `{"doc":{"b":2,"o":{"y":2}}}`, 200, []any{"result", "updated", "_version", 2}},
		{"same values is a noop", "1", `{"doc":{"b":2}}`, 200, []any{"result", "noop", "_version", 2,
			"_shards.total", 0}},
		{"upsert creates", "2", `{"doc":{"a":9},"upsert":{"a":0}}`, 201, []any{"result", "created"}},
		{"upsert ignored when present", "2", `{"doc":{"a":9},"upsert":{"a":0}}`, 200, []any{"result", "updated", "_version", 2}},
	}
	for _, st := range steps {
		r := call(t, es, esapi.UpdateRequest{Index: "u", DocumentID: st.id, Body: body(st.body)})
		t.Run(st.name, func(t *testing.T) { expect(t, r, st.status, st.pairs...) })
	}
	r := call(t, es, esapi.GetSourceRequest{Index: "u", DocumentID: "1"})
	if r.raw != `{"a":1,"o":{"x":1,"y":2},"b":2}` {
		t.Fatalf("merged source %s", r.raw)
	}
	r = call(t, es, esapi.GetSourceRequest{Index: "u", DocumentID: "2"})
	if r.raw != `{"a":9}` {
		t.Fatalf("upserted then updated %s", r.raw)
	}
}

func TestVersioning(t *testing.T) {
	_, es := start(t, Config{})
	idx := func(id string, version int, vt string) resp {
		return call(t, es, esapi.IndexRequest{Index: "v", DocumentID: id, Body: body(`{"f":1}`), Version: &version, VersionType: vt})
	}
	// External: write only if the given version is greater; the stored version becomes the given one.
	expect(t, idx("e", 5, "external"), 201, "_version", 5)
	expect(t, idx("e", 5, "external"), 409, "error.type", "version_conflict_engine_exception",
		"error.reason", "[e]: version conflict, current version [5] is higher or equal to the one provided [5]")
	expect(t, idx("e", 3, "external"), 409)
	expect(t, idx("e", 7, "external"), 200, "_version", 7, "result", "updated")
	// external_gte accepts an equal version.
	expect(t, idx("e", 7, "external_gte"), 200, "_version", 7)
	expect(t, idx("e", 6, "external_gte"), 409,
		"error.reason", "[e]: version conflict, current version [7] is higher than the one provided [6]")
	// Internal versioning increments.
	for want := 1; want <= 3; want++ {
		expect(t, call(t, es, esapi.IndexRequest{Index: "v", DocumentID: "i", Body: body(`{}`)}), map[bool]int{true: 201, false: 200}[want == 1],
			"_version", want)
	}
	// if_seq_no / if_primary_term.
	g := call(t, es, esapi.GetRequest{Index: "v", DocumentID: "i"})
	seq := int(get(g.body, "_seq_no").(int64))
	expect(t, call(t, es, esapi.IndexRequest{Index: "v", DocumentID: "i", Body: body(`{}`), IfSeqNo: ptr(seq + 1), IfPrimaryTerm: ptr(1)}), 409,
		"error.reason", "[i]: version conflict, required seqNo ["+itoa(seq+1)+"], primary term [1]. current document has seqNo ["+itoa(seq)+"] and primary term [1]")
	expect(t, call(t, es, esapi.IndexRequest{Index: "v", DocumentID: "i", Body: body(`{}`), IfSeqNo: ptr(seq), IfPrimaryTerm: ptr(2)}), 409)
	expect(t, call(t, es, esapi.IndexRequest{Index: "v", DocumentID: "i", Body: body(`{}`), IfSeqNo: ptr(seq), IfPrimaryTerm: ptr(1)}), 200,
		"_version", 4)
	expect(t, call(t, es, esapi.IndexRequest{Index: "v", DocumentID: "zz", Body: body(`{}`), IfSeqNo: ptr(0), IfPrimaryTerm: ptr(1)}), 409,
		"error.reason", "[zz]: version conflict, required seqNo [0], primary term [1]. but no document was found")
	// A delete tombstone keeps its external version: an older version cannot resurrect the document.
	expect(t, call(t, es, esapi.DeleteRequest{Index: "v", DocumentID: "t", Version: ptr(5), VersionType: "external"}), 404,
		"result", "not_found", "_version", 5)
	expect(t, idx("t", 3, "external"), 409,
		"error.reason", "[t]: version conflict, current version [5] is higher or equal to the one provided [3]")
	expect(t, idx("t", 6, "external"), 201, "_version", 6)
	expect(t, call(t, es, esapi.DeleteRequest{Index: "v", DocumentID: "t", Version: ptr(8), VersionType: "external"}), 200,
		"result", "deleted", "_version", 8)
	expect(t, idx("t", 8, "external"), 409)
	// Internal versioning continues after a tombstone.
	expect(t, call(t, es, esapi.IndexRequest{Index: "v", DocumentID: "t", Body: body(`{}`)}), 201, "_version", 9)
	// Validation: external without a version.
	expect(t, call(t, es, esapi.IndexRequest{Index: "v", DocumentID: "x", Body: body(`{}`), VersionType: "external"}), 400,
		"error.reason", "Validation Failed: 1: illegal version value [-3] for version type [EXTERNAL];")
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestUnknownEndpoint(t *testing.T) {
	_, es := start(t, Config{})
	r := call(t, es, esapi.IndexRequest{Index: "x", DocumentID: "1", Body: body(`{}`)})
	expect(t, r, 201)
	req := esapi.IndicesPutSettingsRequest{Index: []string{"x"}, Body: body(`{}`)}
	r = call(t, es, req)
	if r.status != 400 && r.status != 405 {
		t.Fatalf("unsupported endpoint: %d %s", r.status, r.raw)
	}
}
