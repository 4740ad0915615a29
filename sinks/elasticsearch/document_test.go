package elasticsearch

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

func TestDocumentID(t *testing.T) {
	keySchema := stream.NewStruct("shop.orders.Key").Field("region", stream.StringSchema()).Field("id", stream.Int64Schema()).MustBuild()
	key, _ := stream.NewStructValue(keySchema)
	_ = key.Put("region", "eu")
	_ = key.Put("id", int64(42))
	single, _ := stream.NewStructValue(stream.NewStruct("k").Field("id", stream.Int64Schema()).MustBuild())
	_ = single.Put("id", int64(7))
	tests := []struct {
		key  any
		want string
		err  string
	}{
		{"order-1", "order-1", ""},
		{[]byte("raw"), "raw", ""},
		{int64(-3), "-3", ""},
		{single, "7", ""},
		{key, "eu+42", ""},
		{map[string]any{"b": int64(2), "a": "x"}, "x+2", ""},
		{stream.NewDecimal(1234, 2), "12.34", ""},
		{nil, "", "no key"},
		{"", "", "empty"},
	}
	for _, tc := range tests {
		got, err := documentID(tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("documentID(%#v) = %q, %v; want error %q", tc.key, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("documentID(%#v) = %q, %v; want %q", tc.key, got, err, tc.want)
		}
	}
}

func TestDocumentVersion(t *testing.T) {
	r := stream.Record{Offset: 17}
	if v, err := documentVersion(&r); v != 17 || err != nil {
		t.Fatalf("offset version = %d, %v", v, err)
	}
	r.Headers = []stream.Header{{Key: VersionHeader, Value: []byte("900000000001")}}
	if v, err := documentVersion(&r); v != 900000000001 || err != nil {
		t.Fatalf("header version = %d, %v", v, err)
	}
	r.Headers = []stream.Header{{Key: VersionHeader, Value: []byte("-1")}}
	if _, err := documentVersion(&r); err == nil {
		t.Fatal("negative version accepted")
	}
}

func TestDocumentBody(t *testing.T) {
	codec, _ := stream.LookupCodec("json")
	for _, tc := range []struct {
		value any
		want  string
		err   bool
	}{
		{map[string]any{"a": int64(1)}, `{"a":1}`, false},
		{`{"b":true}`, `{"b":true}`, false},
		{[]byte(`{"c":"x"}`), `{"c":"x"}`, false},
		{"plain text", "", true},
		{`[1,2]`, "", true},
		{int64(5), "", true},
	} {
		got, err := documentBody(codec, &stream.Record{Value: tc.value})
		if tc.err != (err != nil) || (!tc.err && string(got) != tc.want) {
			t.Errorf("documentBody(%#v) = %s, %v", tc.value, got, err)
		}
	}
}

func TestEncodeRequestSplitsBySize(t *testing.T) {
	s := &Sink{cfg: Config{MaxRequestBytes: 300}}
	var queue []action
	for i := range 10 {
		queue = append(queue, action{op: "index", index: "i", id: string(rune('a' + i)), version: int64(i), body: bytes.Repeat([]byte("x"), 0)})
		queue[i].body = []byte(`{"n":"` + strings.Repeat("y", 50) + `"}`)
	}
	queue = append(queue, action{op: "delete", index: "i", id: "gone", version: 99})
	sent := 0
	for sent < len(queue) {
		n, body := s.encodeRequest(queue[sent:])
		if n == 0 {
			t.Fatal("encodeRequest took nothing")
		}
		if n > 1 && len(body) > 300 {
			t.Fatalf("request of %d bytes over MaxRequestBytes", len(body))
		}
		lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
		if !strings.Contains(lines[0], `"version_type":"external"`) {
			t.Fatalf("action line without external versioning: %s", lines[0])
		}
		sent += n
	}
	_, last := s.encodeRequest(queue[len(queue)-1:])
	if want := `{"delete":{"_id":"gone","_index":"i","version":99,"version_type":"external"}}` + "\n"; string(last) != want {
		t.Fatalf("delete request %q, want %q", last, want)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URLs: []string{"localhost:9200"}}, "URLs[0]"},
		{Config{Index: "Orders"}, "lower case"},
		{Config{Index: "{topic}", Mappings: []byte(`{}`)}, "fixed Index"},
		{Config{Index: "orders", Mappings: []byte(`{`)}, "Mappings is not valid JSON"},
		{Config{Refresh: "soon"}, "Refresh"},
		{Config{APIKey: "k", Username: "u"}, "not both"},
		{Config{CACertFile: "/nonexistent/ca.pem"}, "CACertFile"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestIndexTemplate(t *testing.T) {
	s, err := New(Config{Index: "orders-{field:address.region}-{topic}"})
	if err != nil {
		t.Fatal(err)
	}
	r := stream.Record{Topic: "Shop", Value: map[string]any{"address": map[string]any{"region": "EU"}}}
	if got, err := s.indexFor(&r); err != nil || got != "orders-eu-shop" {
		t.Fatalf("indexFor = %q, %v", got, err)
	}
	if _, err := s.indexFor(&stream.Record{Value: map[string]any{}}); err == nil || !strings.Contains(err.Error(), `no field "address.region"`) {
		t.Fatalf("missing field: %v", err)
	}
}
