package verify

import (
	"slices"
	"testing"
)

// Documents compare as JSON values: numbers by exact decimal value (never through float64), objects by
// field whatever the order, nested fields named by dotted paths, absent fields on either side.
func TestDiffDocuments(t *testing.T) {
	for _, tc := range []struct {
		want, got string
		fields    []string
	}{
		{`{"a":42.00,"b":"x"}`, `{"b":"x","a":42.0}`, nil},
		{`{"a":100}`, `{"a":1e2}`, nil},
		{`{"a":0.1}`, `{"a":0.10000000000000001}`, []string{"a"}},
		{`{"a":12345678901234567890.12}`, `{"a":12345678901234567890.13}`, []string{"a"}},
		{`{"a":"1"}`, `{"a":1}`, []string{"a"}},
		{`{"a":{"b":1,"c":[1,2]}}`, `{"a":{"b":2,"c":[1,2]}}`, []string{"a.b"}},
		{`{"a":{"c":[1,2]}}`, `{"a":{"c":[2,1]}}`, []string{"a.c"}},
		{`{"a":1,"gone":null}`, `{"a":1,"new":true}`, []string{"gone", "new"}},
		{`{"a":null}`, `{"a":null}`, nil},
	} {
		w, err := decodeJSON([]byte(tc.want))
		if err != nil {
			t.Fatal(err)
		}
		g, err := decodeJSON([]byte(tc.got))
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, d := range diffDocuments(w, g) {
			fields = append(fields, d.Field)
		}
		if !slices.Equal(fields, tc.fields) {
			t.Errorf("%s vs %s: differing fields %v, want %v", tc.want, tc.got, fields, tc.fields)
		}
	}
	w, _ := decodeJSON([]byte(`{"gone":1}`))
	g, _ := decodeJSON([]byte(`{"new":"x"}`))
	d := diffDocuments(w, g)
	if d[0] != (FieldDifference{Field: "gone", Source: "1"}) || d[1] != (FieldDifference{Field: "new", Index: `"x"`}) {
		t.Errorf("absent fields: %+v", d)
	}
}
