package esserver

import (
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// The types a schema-derived mapping uses (Elasticsearch reference pages "Date field type", "Date nanoseconds
// field type", "Numeric field types" (scaled_float), "Binary field type", "Update mapping API"): dates as
// ISO-8601 strings with microseconds, range queries with date strings and date math, scaled_float rounded
// to its scaling_factor, decimals as keyword, base64 binary kept in _source only, fields added with PUT
// _mapping and type changes refused.
func TestSchemaMappingTypes(t *testing.T) {
	_, es := start(t, Config{})
	m := `{"mappings":{"properties":{"created_at":{"type":"date"},"nanos":{"type":"date_nanos"},
		"amount":{"type":"scaled_float","scaling_factor":100},"huge":{"type":"keyword"},"raw":{"type":"binary"}}}}`
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "s", Body: body(m)}), 200)
	docs := []string{
		`{"created_at":"2026-11-29T23:59:59.999999Z","nanos":"2026-11-29T23:59:59.999999999Z","amount":10.50,"huge":"12345678901234567890.12","raw":"AAEC/w=="}`,
		`{"created_at":"2026-11-30T15:07:15.123456Z","nanos":"2026-11-30T15:07:15.123456789Z","amount":99.994,"huge":"1.5","raw":""}`,
		`{"created_at":"2026-11-30","amount":"1234567.89"}`,
	}
	for i, d := range docs {
		expect(t, call(t, es, esapi.IndexRequest{Index: "s", DocumentID: string(rune('1' + i)), Body: body(d), Refresh: "true"}), 201)
	}
	expect(t, call(t, es, esapi.GetRequest{Index: "s", DocumentID: "2"}), 200,
		"_source.created_at", "2026-11-30T15:07:15.123456Z", "_source.amount", 99.994)
	for _, c := range []struct{ name, query, want string }{
		{"micro date bounds", `{"range":{"created_at":{"gte":"2026-11-30T00:00:00Z","lt":"2026-11-30T15:07:16Z"}}}`, "2,3"},
		{"before a day", `{"range":{"created_at":{"lt":"2026-11-30"}}}`, "1"},
		{"date math", `{"range":{"created_at":{"lte":"now"}}}`, "1,2,3"},
		{"date math rounded", `{"range":{"created_at":{"gte":"now+1d/d"}}}`, ""},
		{"date keeps milliseconds", `{"range":{"created_at":{"gt":"2026-11-30T15:07:15.123Z"}}}`, ""},
		{"date_nanos", `{"range":{"nanos":{"gt":"2026-11-30T15:07:15.123Z"}}}`, "2"},
		{"scaled_float rounds to the factor", `{"term":{"amount":99.99}}`, "2"},
		{"scaled_float range", `{"range":{"amount":{"gte":10.5,"lte":1234567.89}}}`, "1,2,3"},
		{"decimal keyword", `{"term":{"huge":"12345678901234567890.12"}}`, "1"},
	} {
		ids, _ := searchIDs(t, es, "s", `{"query":`+c.query+`,"sort":[{"_id":"asc"}]}`)
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("%s: %s found %q, want %q", c.name, c.query, got, c.want)
		}
	}
	// Bad values are refused as Elasticsearch refuses them.
	expect(t, call(t, es, esapi.IndexRequest{Index: "s", DocumentID: "x", Body: body(`{"raw":"not base64!"}`)}), 400,
		"error.type", "document_parsing_exception")
	expect(t, call(t, es, esapi.IndexRequest{Index: "s", DocumentID: "x", Body: body(`{"nanos":"1969-12-31T23:59:59Z"}`)}), 400,
		"error.type", "document_parsing_exception")
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "bad", Body: body(`{"mappings":{"properties":{"a":{"type":"scaled_float"}}}}`)}), 400,
		"error.type", "mapper_parsing_exception")

	// PUT _mapping adds fields and keeps existing ones; changing a type is refused and changes nothing.
	expect(t, call(t, es, esapi.IndicesPutMappingRequest{Index: []string{"s"},
		Body: body(`{"properties":{"customer":{"properties":{"since":{"type":"date"}}},"created_at":{"type":"date"}}}`)}), 200,
		"acknowledged", true)
	expect(t, call(t, es, esapi.IndicesPutMappingRequest{Index: []string{"s"},
		Body: body(`{"properties":{"customer":{"properties":{"name":{"type":"keyword"}}},"amount":{"type":"long"}}}`)}), 400,
		"error.type", "illegal_argument_exception",
		"error.reason", "mapper [amount] cannot be changed from type [scaled_float] to [long]")
	r := call(t, es, esapi.IndicesGetMappingRequest{Index: []string{"s"}})
	expect(t, r, 200, "s.mappings.properties.customer.properties.since.type", "date",
		"s.mappings.properties.amount.type", "scaled_float", "s.mappings.properties.amount.scaling_factor", 100)
	if get(r.body, "s.mappings.properties.customer.properties.name") != nil {
		t.Errorf("a refused PUT _mapping added a field: %s", r.raw)
	}
	expect(t, call(t, es, esapi.IndexRequest{Index: "s", DocumentID: "4", Refresh: "true",
		Body: body(`{"customer":{"since":"2023-11-14T22:13:20.123456Z"}}`)}), 201)
	if ids, _ := searchIDs(t, es, "s", `{"query":{"range":{"customer.since":{"gte":"2023-11-14"}}}}`); strings.Join(ids, ",") != "4" {
		t.Errorf("range on a field added by PUT _mapping found %v", ids)
	}
}
