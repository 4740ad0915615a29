package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

func TestParseJSONSchemaless(t *testing.T) {
	st, err := stages.ParseJSON("parse")
	if err != nil {
		t.Fatal(err)
	}
	out, err := st.Process(context.Background(), stream.Record{ValueSchema: stream.StringSchema(),
		Value: `{"id": 12345678901234567890, "price": 2.50, "n": 3, "tags": ["a"], "who": {"email": "a@b"}}`})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].ValueSchema != nil {
		t.Fatalf("got %+v, want one schemaless record", out)
	}
	m := out[0].Value.(map[string]any)
	if m["n"] != int64(3) {
		t.Errorf("n = %#v, want int64 3", m["n"])
	}
	if d, ok := m["price"].(stream.Decimal); !ok || d.String() != "2.50" {
		t.Errorf("price = %#v, want the Decimal 2.50", m["price"])
	}
	if d, ok := m["id"].(stream.Decimal); !ok || d.String() != "12345678901234567890" {
		t.Errorf("id = %#v, want the exact Decimal", m["id"])
	}
	// bytes too, and a tombstone passes
	out, err = st.Process(context.Background(), stream.Record{Value: []byte(`{"a":true}`)})
	if err != nil || out[0].Value.(map[string]any)["a"] != true {
		t.Fatalf("bytes: %v %+v", err, out)
	}
	out, err = st.Process(context.Background(), stream.Record{Key: "k"})
	if err != nil || len(out) != 1 || out[0].Value != nil {
		t.Fatalf("tombstone: %v %+v", err, out)
	}
}

func TestParseJSONRecordErrors(t *testing.T) {
	st, err := stages.ParseJSON("parse")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rec  stream.Record
		want string
	}{
		{stream.Record{Topic: "clicks", Partition: 0, Offset: 3, Value: `{"a": x}`},
			`value at topic "clicks" partition 0 offset 3 is not JSON: invalid character 'x' looking for beginning of value at byte 7`},
		{stream.Record{Position: stream.Position(`{"offset":120}`), Value: `[1,2]`},
			`value at source position {"offset":120} is JSON an array, not an object`},
		{stream.Record{Topic: "t", Value: `{"a":1`}, `is not JSON: the text ends inside a value`},
		{stream.Record{Topic: "t", Value: `{"a":1} x`}, `text after the JSON value`},
		{stream.Record{Topic: "t", Value: `   `}, `empty: no JSON value`},
		{stream.Record{Topic: "t", Value: int64(3)}, `is a number, not JSON text`},
	} {
		_, err := st.Process(context.Background(), tc.rec)
		if !errors.Is(err, stages.ErrTransformRecord) {
			t.Errorf("%v: error %v does not wrap ErrTransformRecord", tc.rec.Value, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error\n  %v\nwant it to contain\n  %s", tc.rec.Value, err, tc.want)
		}
	}
}

func TestParseJSONSchemas(t *testing.T) {
	schema := stream.NewStruct("order").Field("id", stream.Int64Schema()).
		Field("email", stream.StringSchema().AsOptional()).MustBuild()
	st, err := stages.ParseJSON("parse", stages.ParseSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	out, err := st.Process(context.Background(), stream.Record{Value: `{"id": 7, "email": "a@b", "extra": 1}`})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := out[0].Value.(*stream.Struct)
	if !ok || out[0].ValueSchema != schema || s.Get("id") != int64(7) || s.Get("email") != "a@b" {
		t.Fatalf("got %+v", out[0])
	}
	_, err = st.Process(context.Background(), stream.Record{Topic: "t", Offset: 9, Value: `{"email": "a@b"}`})
	if err == nil || !strings.Contains(err.Error(), "offset 9") || !strings.Contains(err.Error(), `"id"`) {
		t.Fatalf("missing required field: %v", err)
	}
	if sh := st.(stages.Shaped).Produces(stream.Shape{Value: stream.StringValue}); sh.Value != stream.StructuredValue || len(sh.Fields) != 2 {
		t.Fatalf("Produces = %+v", sh)
	}

	inf, err := stages.ParseJSON("infer", stages.InferSchema())
	if err != nil {
		t.Fatal(err)
	}
	out, err = inf.Process(context.Background(), stream.Record{Value: `{"b": 1.25, "a": "x", "n": null}`})
	if err != nil {
		t.Fatal(err)
	}
	got := out[0].ValueSchema
	if got == nil || len(got.Fields) != 3 || got.Fields[0].Name != "a" || got.Fields[1].Schema.Name != stream.DecimalName {
		t.Fatalf("inferred schema %+v", got)
	}
	out2, err := inf.Process(context.Background(), stream.Record{Value: `{"a": "y", "b": 3.50}`})
	if err != nil {
		t.Fatal(err)
	}
	if out2[0].ValueSchema != got {
		t.Errorf("the second record has another schema")
	}
	if _, err := inf.Process(context.Background(), stream.Record{Topic: "t", Value: `{"a": 5}`}); err == nil {
		t.Errorf("a number where the inferred schema has text was accepted")
	}
	if _, err := stages.ParseJSON("x", stages.ParseSchema(stream.StringSchema())); !errors.Is(err, stages.ErrTransformConfig) {
		t.Errorf("a string schema: %v", err)
	}
}
