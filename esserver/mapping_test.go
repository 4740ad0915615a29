package esserver

import (
	"encoding/json"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Detection rules from the reference page "Dynamic field mapping" (JSON true/false -> boolean, integer
// -> long, floating point -> float, string -> date (date_detection) or text with a keyword sub-field,
// object -> object, array -> type of its first non-null value); error shapes from indexing a value of the
// wrong type ("Fix error: Failed to parse field").

func TestDynamicMappingDetection(t *testing.T) {
	_, es := start(t, Config{})
	doc := `{"n":42,"f":1.5,"b":true,"s":"hello","d":"2024-05-01T10:00:00Z","d2":"2015/09/02","o":{"x":1},` +
		`"arr":[null,"x","y"],"nums":[1,2],"nil":null,"empty":[]}`
	expect(t, call(t, es, esapi.IndexRequest{Index: "m", DocumentID: "1", Body: body(doc)}), 201)
	r := call(t, es, esapi.IndicesGetMappingRequest{Index: []string{"m"}})
	expect(t, r, 200,
		"m.mappings.properties.n.type", "long",
		"m.mappings.properties.f.type", "float",
		"m.mappings.properties.b.type", "boolean",
		"m.mappings.properties.s.type", "text",
		"m.mappings.properties.s.fields.keyword.type", "keyword",
		"m.mappings.properties.s.fields.keyword.ignore_above", 256,
		"m.mappings.properties.d.type", "date",
		"m.mappings.properties.d2.type", "date",
		"m.mappings.properties.d2.format", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z",
		"m.mappings.properties.o.properties.x.type", "long",
		"m.mappings.properties.arr.type", "text",
		"m.mappings.properties.nums.type", "long",
	)
	props := get(r.body, "m.mappings.properties").(map[string]any)
	if _, ok := props["nil"]; ok {
		t.Fatal("null value must not add a mapping")
	}
	if _, ok := props["empty"]; ok {
		t.Fatal("empty array must not add a mapping")
	}
	if _, ok := get(r.body, "m.mappings.properties.o").(map[string]any)["type"]; ok {
		t.Fatal("object mappings are shown without a type")
	}
	// Empty index mapping shape.
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "empty"}), 200)
	r = call(t, es, esapi.IndicesGetMappingRequest{Index: []string{"empty"}})
	if r.raw != `{"empty":{"mappings":{}}}` {
		t.Fatal(r.raw)
	}
}

func TestMappingConflicts(t *testing.T) {
	_, es := start(t, Config{})
	expect(t, call(t, es, esapi.IndexRequest{Index: "m", DocumentID: "1",
		Body: body(`{"n":1,"title":"t","b":false,"d":"2024-01-01","o":{"x":1}}`)}), 201)
	cases := []struct {
		name, doc, reason, causeType string
	}{
		{"string into long", `{"n":"abc"}`,
			"[1:6] failed to parse field [n] of type [long] in document with id '2'. Preview of field's value: 'abc'",
			"illegal_argument_exception"},
		{"object into text", `{"title":{"a":"b"}}`,
			"[1:10] failed to parse field [title] of type [text] in document with id '2'. Preview of field's value: '{a=b}'",
			"illegal_state_exception"},
		{"string into boolean", `{"b":"yes"}`,
			"[1:6] failed to parse field [b] of type [boolean] in document with id '2'. Preview of field's value: 'yes'",
			"illegal_argument_exception"},
		{"bad date", `{"d":"yesterday"}`,
			"[1:6] failed to parse field [d] of type [date] in document with id '2'. Preview of field's value: 'yesterday'",
			"illegal_argument_exception"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, call(t, es, esapi.IndexRequest{Index: "m", DocumentID: "2", Body: body(c.doc)}), 400,
				"status", 400, "error.type", "document_parsing_exception", "error.reason", c.reason,
				"error.caused_by.type", c.causeType, "error.root_cause.0.type", "document_parsing_exception")
		})
	}
	expect(t, call(t, es, esapi.IndexRequest{Index: "m", DocumentID: "2", Body: body(`{"o":5}`)}), 400,
		"error.reason", "[1:6] object mapping for [o] tried to parse field [o] as object, but found a concrete value")
	// Coercion: numbers in strings (and fractions) go into numeric fields; numbers into text are fine.
	expect(t, call(t, es, esapi.IndexRequest{Index: "m", DocumentID: "3", Body: body(`{"n":"42","title":7,"b":"true"}`)}), 201)
	expect(t, call(t, es, esapi.IndexRequest{Index: "m", DocumentID: "4", Body: body(`{"n":4.7}`)}), 201)
	// A rejected document adds nothing to the mapping.
	expect(t, call(t, es, esapi.IndexRequest{Index: "m", DocumentID: "5", Body: body(`{"newfield":1,"n":"x"}`)}), 400)
	r := call(t, es, esapi.IndicesGetMappingRequest{Index: []string{"m"}})
	if get(r.body, "m.mappings.properties.newfield") != nil {
		t.Fatal("mapping updated by a rejected document")
	}
}

func TestExplicitMappingAndStrict(t *testing.T) {
	_, es := start(t, Config{})
	m := `{"mappings":{"dynamic":"strict","properties":{"tag":{"type":"keyword"},"count":{"type":"integer"},
		"when":{"type":"date","format":"yyyy-MM-dd"}}}}`
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "s", Body: body(m)}), 200)
	expect(t, call(t, es, esapi.IndexRequest{Index: "s", DocumentID: "1", Body: body(`{"tag":"A","count":3,"when":"2024-02-03"}`)}), 201)
	expect(t, call(t, es, esapi.IndexRequest{Index: "s", DocumentID: "2", Body: body(`{"other":1}`)}), 400,
		"error.type", "strict_dynamic_mapping_exception",
		"error.reason", "[1:10] mapping set to strict, dynamic introduction of [other] within [_doc] is not allowed")
	expect(t, call(t, es, esapi.IndexRequest{Index: "s", DocumentID: "3", Body: body(`{"count":3000000000}`)}), 400,
		"error.caused_by.reason", "Value [3000000000] is out of range for an integer")
	r := call(t, es, esapi.IndicesGetMappingRequest{Index: []string{"s"}})
	var got map[string]any
	_ = json.Unmarshal([]byte(r.raw), &got)
	expect(t, r, 200, "s.mappings.dynamic", "strict", "s.mappings.properties.when.format", "yyyy-MM-dd",
		"s.mappings.properties.count.type", "integer")
}
