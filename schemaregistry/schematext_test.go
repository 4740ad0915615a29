package schemaregistry

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

// defaultsCases are records whose defaults hamba/avro's own JSON form does not keep (a long beyond 2^53,
// bytes with characters past 0x7f, a decimal, a fixed), alone and together, nested in a record and in an
// array's record, written with whitespace and short names.
var defaultsCases = map[string]string{
	"long": `{"type": "record", "name": "L", "namespace": "shop", "fields": [
    {"name": "big", "type": "long", "default": 9223372036854775807},
    {"name": "small", "type": "long", "default": -9223372036854775808},
    {"name": "odd", "type": "long", "default": 9007199254740993}]}`,
	"bytes":   `{"type":"record","name":"B","fields":[{"name":"raw","type":"bytes","default":"\u0000\u007f\u0080\u00ff"}]}`,
	"decimal": `{"type":"record","name":"D","fields":[{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2},"default":"\u00ff\u009c"}]}`,
	"fixed":   `{"type":"record","name":"F","fields":[{"name":"hash","type":{"type":"fixed","name":"Hash","size":2},"default":"\u0001\u00fe"}]}`,
	"all": `{"type": "record", "name": "Defaults", "namespace": "shop",
  "fields": [
    {"name": "big", "type": "long", "default": 9223372036854775807},
    {"name": "raw", "type": "bytes", "default": "\u0000\u007f\u0080\u00ff"},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}, "default": "\u00ff\u009c"},
    {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
      {"name": "n", "type": "long", "default": 9007199254740993}]},
     "default": {"n": 9007199254740993}},
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
      {"name": "b", "type": ["bytes", "null"], "default": "\u00e9"}]}}, "default": []}
  ]}`,
}

// defaultsIn returns each field default of the schema text, by "Record.field" (the record's short name),
// numbers as written.
func defaultsIn(t *testing.T, text string) map[string]string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var schema any
	if err := dec.Decode(&schema); err != nil {
		t.Fatalf("%v: %s", err, text)
	}
	out := map[string]string{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if fields, ok := v["fields"].([]any); ok {
				for _, f := range fields {
					f := f.(map[string]any)
					if d, ok := f["default"]; ok {
						b, _ := json.Marshal(d)
						name := v["name"].(string)
						out[name[strings.LastIndex(name, ".")+1:]+"."+f["name"].(string)] = string(b)
					}
					walk(f["type"])
				}
			}
			walk(v["items"])
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(schema)
	return out
}

// TestRegisteredDefaultsServedExactly registers schemas whose defaults hamba/avro's JSON form changes, and
// expects every way of reading one back (by id, by subject version, the schema alone) to give each default
// exactly as registered, and the text read back to register as the same schema; two schemas that differ
// only in a long default beyond 2^53 are two schemas.
func TestRegisteredDefaultsServedExactly(t *testing.T) {
	for name, schema := range defaultsCases {
		t.Run(name, func(t *testing.T) {
			a := newAPI(t, nil)
			want := defaultsIn(t, schema)
			a.expect("POST", "/subjects/d-value/versions", body(schema), 200, `{"id":1}`)
			for _, path := range []string{"/schemas/ids/1", "/subjects/d-value/versions/1"} {
				_, got := a.call("GET", path, "")
				var v struct{ Schema string }
				if err := json.Unmarshal([]byte(got), &v); err != nil {
					t.Fatal(err)
				}
				if d := defaultsIn(t, v.Schema); !equalMaps(d, want) {
					t.Errorf("GET %s: defaults\n got %v\nwant %v\nschema %s", path, d, want, v.Schema)
				}
			}
			_, text := a.call("GET", "/subjects/d-value/versions/1/schema", "")
			if d := defaultsIn(t, text); !equalMaps(d, want) {
				t.Errorf("GET .../schema: defaults\n got %v\nwant %v", d, want)
			}
			// The served text registers again as the same schema (a codec re-registering what it read).
			a.expect("POST", "/subjects/d-value/versions", body(text), 200, `{"id":1}`)
			a.expect("POST", "/subjects/other-value/versions", body(text), 200, `{"id":1}`)
		})
	}

	a := newAPI(t, nil)
	ctx := context.Background()
	for i, big := range []string{"9223372036854775807", "9223372036854775806"} {
		schema := strings.Replace(defaultsCases["long"], "9223372036854775807", big, 1)
		id, err := a.e.Register(ctx, "l-value", stream.RegisteredSchema{Schema: schema})
		if err != nil || id != i+1 {
			t.Fatalf("long default %s: id %d, %v; want id %d", big, id, err, i+1)
		}
		s, err := a.e.SchemaByID(ctx, id)
		if got := defaultsIn(t, s.Schema)["L.big"]; err != nil || got != big {
			t.Fatalf("SchemaByID(%d): default %s, %v; want %s", id, got, err, big)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// emptyUnionWithDefault makes hamba/avro v2.31.0's parser panic (index out of range).
const emptyUnionWithDefault = `{"type":"record","name":"A","fields":[{"name":"a","type":[],"default":""}]}`

// TestMalformedSchemaRefusedNotPanicking: a schema that panics hamba/avro's parser is an invalid schema
// (HTTP 422, 42201, naming the problem) through the API and the Go API, and a log record holding it is
// refused by every replica alike instead of bringing them down.
func TestMalformedSchemaRefusedNotPanicking(t *testing.T) {
	a := newAPI(t, nil)
	a.expectError("POST", "/subjects/a-value/versions", body(emptyUnionWithDefault), CodeInvalidSchema, "Invalid schema", "cannot be parsed")
	a.expectError("POST", "/compatibility/subjects/a-value/versions/latest", body(emptyUnionWithDefault), CodeInvalidSchema)
	if _, err := a.e.Register(context.Background(), "a-value", stream.RegisteredSchema{Schema: emptyUnionWithDefault}); ErrorCode(err) != CodeInvalidSchema {
		t.Errorf("Register: %v, want error code 42201", err)
	}

	// The record as another replica (or an older version) may have appended it.
	value, _ := json.Marshal(recordValue{Subject: "a-value", SchemaType: TypeAvro, Schema: emptyUnionWithDefault})
	log := NewMemoryLog()
	if err := log.Append(context.Background(), []byte(`{"op":"register","attempt":"bad"}`), value); err != nil {
		t.Fatal(err)
	}
	b := newAPI(t, log)
	b.expectError("GET", "/subjects/a-value/versions", "", CodeSubjectNotFound)
	b.expect("POST", "/subjects/a-value/versions", body(stringSchema), 200, `{"id":1}`)
}
