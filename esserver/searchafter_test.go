package esserver

import (
	"slices"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// search_after pages through every id sorted by _id (and by a keyword field, and after a number); it
// refuses a from other than 0 and a count of values other than the sort's, as 400s.
func TestSearchAfter(t *testing.T) {
	_, es := start(t, Config{})
	seed(t, es)
	var all []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		q := `{"size":2,"sort":["_id"],"_source":false}`
		if after != "" {
			q = `{"size":2,"sort":["_id"],"_source":false,"search_after":["` + after + `"]}`
		}
		ids, _ := searchIDs(t, es, "s", q)
		all = append(all, ids...)
		if len(ids) < 2 {
			break
		}
		after = ids[len(ids)-1]
	}
	if !slices.Equal(all, []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("pages of 2 after _id: %v", all)
	}
	ids, _ := searchIDs(t, es, "s", `{"size":10,"sort":[{"tag.keyword":"asc"},"_id"],"search_after":["animal","2"]}`)
	if !slices.Equal(ids, []string{"5", "3", "4"}) {
		t.Errorf("after (animal, 2) by tag.keyword, _id: %v", ids)
	}
	ids, _ = searchIDs(t, es, "s", `{"size":10,"sort":["price"],"search_after":[10]}`)
	if !slices.Equal(ids, []string{"4", "2", "5"}) {
		t.Errorf("after price 10: %v", ids)
	}
	for _, q := range []string{
		`{"from":1,"sort":["_id"],"search_after":["1"]}`,
		`{"sort":["_id"],"search_after":["1","2"]}`,
	} {
		expect(t, call(t, es, esapi.SearchRequest{Index: []string{"s"}, Body: body(q)}), 400, "error.type", "illegal_argument_exception")
	}
}
