package avro_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/stream"
)

// foreignSchemas are Avro schemas as other serializers write them, registered for the fuzz targets.
var foreignSchemas = []string{
	`{"type":"enum","name":"Suit","namespace":"cards","symbols":["SPADES","HEARTS"],"default":"SPADES"}`,
	`{"type":"fixed","name":"amount","size":3,"logicalType":"decimal","precision":6,"scale":2}`,
	`{"type":"record","name":"R","fields":[{"name":"u","type":["null","int","string",{"type":"record","name":"S","fields":[{"name":"x","type":"long"}]}]},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"f","type":{"type":"fixed","name":"F","size":2}},{"name":"a","type":{"type":"array","items":["null","S"]}}]}`,
	`{"type":"record","name":"P","fields":[{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},{"name":"t","type":{"type":"long","logicalType":"time-micros"}},{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":38}},{"name":"m","type":{"type":"map","values":["null","double"]}}]}`,
	`["null","float","boolean","bytes"]`,
}

// fuzzRegistry returns a registry holding the schemas of every round-trip case and the foreign schemas,
// and seeds: each case's value in the wire format.
func fuzzRegistry(f testing.TB) (*exactRegistry, [][]byte) {
	reg := &exactRegistry{}
	var seeds [][]byte
	for _, text := range foreignSchemas {
		id, _ := reg.Register(context.Background(), "foreign", stream.RegisteredSchema{Schema: text})
		seeds = append(seeds, []byte{0, 0, 0, 0, byte(id), 2, 0x0a, 0, 4, 0x61, 0x62, 2, 2, 2, 0, 0})
	}
	codec := bind(f, reg, "fuzz", false, "")
	for _, tt := range roundTripCases(f) {
		v := tt.v
		if v == nil {
			v = tt.schema.Default
		}
		if v == nil {
			continue
		}
		data, err := codec.Encode(tt.schema, v)
		if err != nil {
			f.Fatalf("%s: %v", tt.name, err)
		}
		seeds = append(seeds, data)
	}
	return reg, seeds
}

// FuzzDecode feeds the avro codec arbitrary messages in Confluent's wire format, for every schema of the
// round-trip table and the foreign schemas. Decoding never panics; whatever decodes encodes again, decodes
// to an equal schema and value, and encodes to the same bytes the second time (the encoding is canonical).
func FuzzDecode(f *testing.F) {
	reg, seeds := fuzzRegistry(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	codec := bind(f, reg, "fuzz", false, "")
	f.Fuzz(func(t *testing.T, data []byte) {
		schema, v, err := codec.Decode(data)
		if err != nil || v == nil {
			return
		}
		encoded, err := codec.Encode(schema, v)
		if err != nil {
			t.Fatalf("% x decoded to %+v, %v, which does not encode: %v", data, schema, v, err)
		}
		schema2, v2, err := codec.Decode(encoded)
		if err != nil {
			t.Fatalf("% x re-encoded as % x, which does not decode: %v", data, encoded, err)
		}
		if !schema.Equal(schema2) || !stream.EqualValues(v, v2) {
			t.Fatalf("% x decoded to %+v, %v; its encoding % x decoded to %+v, %v", data, schema, v, encoded, schema2, v2)
		}
		again, err := codec.Encode(schema2, v2)
		if err != nil || !bytes.Equal(again, encoded) {
			t.Fatalf("encoding is not canonical: % x then % x (%v)", encoded, again, err)
		}
	})
}

// FuzzStreamSchema feeds StreamSchema arbitrary Avro schema text. It never panics; a schema it maps is
// written back by SchemaFor to an Avro schema that maps to an equal schema.
func FuzzStreamSchema(f *testing.F) {
	for _, text := range foreignSchemas {
		f.Add(text)
	}
	for _, tt := range roundTripCases(f) {
		text, err := avro.SchemaFor(tt.schema)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(text)
	}
	f.Add(`"int"`)
	f.Add(`{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := avro.StreamSchema(text)
		if err != nil {
			return
		}
		again, err := avro.SchemaFor(s)
		if err != nil {
			t.Fatalf("%s maps to %+v, which SchemaFor refuses: %v", text, s, err)
		}
		s2, err := avro.StreamSchema(again)
		if err != nil {
			t.Fatalf("%s maps to a schema written as %s, which StreamSchema refuses: %v", text, again, err)
		}
		if !s.Equal(s2) {
			t.Fatalf("%s maps to %+v; written as %s it maps to %+v", text, s, again, s2)
		}
	})
}
