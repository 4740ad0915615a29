package esserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestPretty: ?pretty (and ?pretty=true) indents every JSON response, errors and the byte-for-byte _source
// of GET included, with a correct Content-Length and a final newline; without it, or with ?pretty=false,
// responses stay compact; _cat text is unchanged.
func TestPretty(t *testing.T) {
	srv, _ := start(t, Config{})
	base := srv.URL()
	do := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if cl := res.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(b)) {
			t.Errorf("%s %s: Content-Length %s for %d bytes", method, path, cl, len(b))
		}
		return res.StatusCode, res.Header, string(b)
	}
	if code, _, _ := do("PUT", "/orders/_doc/1?refresh=true", `{"customer":{"name":"ada"},"amount":10}`); code != 201 {
		t.Fatalf("index: %d", code)
	}
	pretty := func(path string, wantCode int) {
		t.Helper()
		code, _, b := do("GET", path, "")
		if code != wantCode {
			t.Errorf("GET %s: status %d, want %d: %s", path, code, wantCode, b)
		}
		if !json.Valid([]byte(b)) || !strings.HasPrefix(b, "{\n  \"") || !strings.HasSuffix(b, "}\n") {
			t.Errorf("GET %s: not indented JSON:\n%s", path, b)
		}
	}
	pretty("/?pretty", 200)
	pretty("/orders/_doc/1?pretty", 200)
	pretty("/orders/_doc/1?pretty=true", 200)
	pretty("/orders/_search?q=customer.name:ada&pretty", 200)
	pretty("/orders/_mapping?pretty", 200)
	pretty("/orders/_count?pretty", 200)
	pretty("/nope/_doc/1?pretty", 404)
	pretty("/orders/_source/1?pretty", 200)
	if _, _, b := do("GET", "/orders/_doc/1?pretty", ""); !strings.Contains(b, "\"_source\": {\n    \"customer\": {\n      \"name\": \"ada\"") {
		t.Errorf("GET _doc?pretty: _source not indented:\n%s", b)
	}
	for _, path := range []string{"/orders/_doc/1", "/orders/_doc/1?pretty=false"} {
		if _, _, b := do("GET", path, ""); strings.Contains(b, "\n") {
			t.Errorf("GET %s: want compact JSON, got:\n%s", path, b)
		}
	}
	_, h, b := do("GET", "/_cat/indices?pretty", "")
	if !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.Contains(b, "orders") {
		t.Errorf("_cat/indices?pretty: %s %q", h.Get("Content-Type"), b)
	}
}
