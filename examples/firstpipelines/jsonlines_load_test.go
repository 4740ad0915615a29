package firstpipelines_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every line of a 10,000-line JSON-lines file becomes its own document, named by its id, with its e-mail
// masked and every other field as the line had it (numbers with their digits, nested objects, arrays,
// nulls, text with escapes).
func TestJSONLinesToElasticsearch10000(t *testing.T) {
	const n = 10000
	env := start()
	defer env.close()
	line := func(i int) map[string]any {
		return map[string]any{
			"id": i, "name": fmt.Sprintf("user \"%d\"\twith ünïcode", i), "email": fmt.Sprintf("user%d@example.com", i),
			"balance": json.Number(fmt.Sprintf("%d.%02d", i, i%100)), "big": json.Number("12345678901234567" + strconv.Itoa(i%10)),
			"active": i%2 == 0, "note": nil, "tags": []any{"t" + strconv.Itoa(i%7), i % 3},
			"address": map[string]any{"city": "c" + strconv.Itoa(i%50), "zip": fmt.Sprintf("%05d", i)},
		}
	}
	text := make([]string, n)
	for i := range n {
		b, err := json.Marshal(line(i))
		if err != nil {
			t.Fatal(err)
		}
		text[i] = string(b)
	}
	path := env.writeFile("users.jsonl", text...)
	tp, err := jsonLinesToElasticsearch(path, env.esURL)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	env.run(tp, func() bool { return env.count("users") == n })
	took := time.Since(began)

	docs := env.documents("users")
	if len(docs) != n {
		t.Fatalf("%d documents, want %d", len(docs), n)
	}
	for i, doc := range docs {
		if doc.ID != strconv.Itoa(i) {
			t.Fatalf("document %d has id %s, want %d", i, doc.ID, i)
		}
		var got map[string]any
		dec := json.NewDecoder(strings.NewReader(string(doc.Source)))
		dec.UseNumber()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("document %s: %v", doc.ID, err)
		}
		want := normalise(t, line(i))
		want["email"] = "****"
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("document %s is\n%s\nwant (from line %d with its e-mail masked)\n%v", doc.ID, doc.Source, i+1, want)
		}
	}
	t.Logf("%d lines -> %d documents, every e-mail masked, every other field intact, in %v (%.0f lines/s, start-up included)",
		n, len(docs), took.Round(time.Millisecond), float64(n)/took.Seconds())
}

// normalise round-trips v through JSON with exact numbers, as the documents are read.
func normalise(t *testing.T, v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
