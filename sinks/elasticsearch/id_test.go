package elasticsearch

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

func TestIDTemplate(t *testing.T) {
	keySchema := stream.NewStruct("shop.orders.Key").Field("region", stream.StringSchema()).Field("id", stream.Int64Schema()).MustBuild()
	debeziumKey, _ := stream.NewStructValue(keySchema)
	_ = debeziumKey.Put("region", "eu")
	_ = debeziumKey.Put("id", int64(42))
	userSchema := stream.NewStruct("user").Field("id", stream.Int64Schema()).Field("email", stream.StringSchema()).MustBuild()
	user, _ := stream.NewStructValue(userSchema)
	_ = user.Put("id", int64(9))
	_ = user.Put("email", "a@example.com")
	jsonValue := map[string]any{"user": map[string]any{"id": "u-7", "tenant": int64(3)}, "n": float64(12)}
	bigValue := decodeJSON(t, `{"big":12345678901234567890,"price":19.90}`)
	at := func(r stream.Record) stream.Record { r.Topic, r.Partition, r.Offset = "orders", 0, 17; return r }

	tests := []struct {
		name, tmpl string
		record     stream.Record
		want       string
		err        []string // substrings of the error
	}{
		{"default string key", "", at(stream.Record{Key: "order-1", Value: "{}"}), "order-1", nil},
		{"default number key", "", at(stream.Record{Key: int64(-3), Value: "{}"}), "-3", nil},
		{"default Debezium key", "", at(stream.Record{Key: debeziumKey, Value: "{}"}), "eu+42", nil},
		{"default null key", "", at(stream.Record{Value: "{}"}),
			"", []string{`record at orders/0/17 has no key: set the sink's ID to "{topic}+{partition}+{offset}" or "{field:...}"`}},
		{"explicit key, empty", "{key}", at(stream.Record{Key: "", Value: "{}"}),
			"", []string{"record at orders/0/17", "key is empty", OffsetID}},
		{"offsets", OffsetID, at(stream.Record{Key: "/var/log/app.log", Value: "{}"}), "orders+0+17", nil},
		{"field of a struct", "{field:id}", at(stream.Record{Value: user}), "9", nil},
		{"nested field of a map", "{field:user.id}", at(stream.Record{Value: jsonValue}), "u-7", nil},
		{"number field", "n-{field:n}", at(stream.Record{Value: jsonValue}), "n-12", nil},
		{"number beyond 64 bits, exact", "{field:big}", at(stream.Record{Value: bigValue}), "12345678901234567890", nil},
		{"decimal field, exact", "{field:price}", at(stream.Record{Value: bigValue}), "19.90", nil},
		{"combination", "{field:user.tenant}:{key}", at(stream.Record{Key: "k", Value: jsonValue}), "3:k", nil},
		{"combination with literal", "{topic}-{field:user.id}", at(stream.Record{Value: jsonValue}), "orders-u-7", nil},
		{"missing field", "{field:user.name}", at(stream.Record{Value: jsonValue}),
			"", []string{`record at orders/0/17 has no field "user.name"`, `ID "{field:user.name}"`}},
		{"null field", "{field:x}", at(stream.Record{Value: map[string]any{"x": nil}}),
			"", []string{`record at orders/0/17 has no field "x"`}},
		{"delete by field", "{field:id}", at(stream.Record{Key: "k"}),
			"", []string{"record at orders/0/17 has no value", `"id"`}},
		{"delete by key", "", at(stream.Record{Key: "k", Operation: stream.OpDelete}), "k", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := parseID(tc.tmpl)
			if err != nil {
				t.Fatalf("parseID(%q): %v", tc.tmpl, err)
			}
			got, err := tmpl.idFor(&tc.record)
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Fatalf("idFor = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("idFor = %q; want an error", got)
			}
			for _, want := range tc.err {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// A record without a value has nothing to delete when every record is its own document.
func TestIDTemplateOffsetDelete(t *testing.T) {
	tmpl, err := parseID(OffsetID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []stream.Record{{Topic: "t", Offset: 3}, {Topic: "t", Offset: 4, Value: "{}", Operation: stream.OpDelete}} {
		if _, err := tmpl.idFor(&r); !errors.Is(err, errNoDocument) {
			t.Errorf("idFor(%+v) = %v; want errNoDocument", r, err)
		}
	}
}

func TestParseIDRefuses(t *testing.T) {
	for tmpl, want := range map[string]string{
		"{key":                "is not closed",
		"{id}":                "unknown placeholder {id}: use {key}, {field:PATH}, {topic}, {partition} or {offset}",
		"{field:}":            "needs a field name",
		"{field:a..b}":        "needs a field name",
		"doc":                 "names no placeholder, so every record would overwrite one document",
		"{topic}+{partition}": "one document per topic partition",
	} {
		_, err := parseID(tmpl)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ID "+`"`+tmpl+`"`) {
			t.Errorf("parseID(%q) = %v; want an error naming the ID and saying %q", tmpl, err, want)
		}
	}
}

func TestCheckShape(t *testing.T) {
	files := stream.Shape{Value: stream.StringValue, From: `source "files" emits lines of text`}
	parsed := stream.Shape{Value: stream.StructuredValue, Fields: []string{"email", "user_id"}, From: `source "files" emits lines of text`}
	cdc := stream.Shape{Value: stream.StructuredValue, KeysIdentify: true, From: `source "cdc" emits Debezium change events`}
	tests := []struct {
		name  string
		id    string
		in    stream.Shape
		error []string
	}{
		{"file source, default ID", "", files, []string{
			`the keys of its records do not identify documents`,
			`set the sink's ID to "{topic}+{partition}+{offset}"`, `"{field:PATH}"`, `or to "{key}" if the keys do identify documents`}},
		{"parsed file, default ID, names a field", "", parsed, []string{`"{field:user_id}"`}},
		{"file source, ID chosen", OffsetID, files, nil},
		{"file source, {key} chosen on purpose", "{key}", files, nil},
		{"change data capture, default ID", "", cdc, nil},
		{"unknown input, default ID", "", stream.Shape{}, nil},
		{"a topic of strings from outside, default ID", "", stream.Shape{Value: stream.StringValue}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{ID: tc.id})
			if err != nil {
				t.Fatal(err)
			}
			err = s.CheckShape(tc.in)
			if tc.error == nil {
				if err != nil {
					t.Fatalf("CheckShape: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckShape accepted it")
			}
			for _, want := range tc.error {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// decodeJSON decodes a value as the "json" codec does for a flow.
func decodeJSON(t *testing.T, text string) any {
	t.Helper()
	codec, err := stream.LookupCodec("json")
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := codec.Decode([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
