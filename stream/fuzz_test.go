package stream

import (
	"bytes"
	"testing"
)

// FuzzJSONSchemaDecode checks that decoding never panics, and that whatever decodes re-encodes and decodes
// to an equal schema and value, with the same bytes the second time (the encoding is canonical). The plain
// "json" codec is held to the same property on the same input.
func FuzzJSONSchemaDecode(f *testing.F) {
	for _, tt := range roundTripCases(f) {
		data, err := JSONSchemaCodec{}.Encode(tt.schema, tt.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		``, `null`, `{"schema":null,"payload":null}`, `{"schema":null,"payload":[1,2.5,"x",{"a":[]}]}`,
		`{"schema":{"type":"map","keys":{"type":"float"},"values":{"type":"int8","optional":true}},"payload":[["NaN",1],["NaN",null],[-0.0,2]]}`,
		`{"schema":{"type":"struct","fields":[{"field":"a","type":"int32","default":5}],"default":{}},"payload":null}`,
		`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"3"}},"payload":1.5E-2}`,
		`{"schema":{"type":"int32","name":"org.apache.kafka.connect.data.Time","optional":true,"version":1.5},"payload":null}`,
		`{"schema":{"type":"map","keys":{"type":"struct","fields":[]},"values":{"type":"string"}},"payload":[[{},"a"],[{},"b"]]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip(t, JSONSchemaCodec{}, data)
		roundTrip(t, JSONCodec{}, data)
	})
}

func roundTrip(t *testing.T, codec Codec, data []byte) {
	schema, v, err := codec.Decode(data)
	if err != nil {
		return
	}
	encoded, err := codec.Encode(schema, v)
	if err != nil {
		t.Fatalf("%s: decoded %q to %+v, %v, which does not encode: %v", codec.Name(), data, schema, v, err)
	}
	schema2, v2, err := codec.Decode(encoded)
	if err != nil {
		t.Fatalf("%s: re-encoded %q as %q, which does not decode: %v", codec.Name(), data, encoded, err)
	}
	if !schema.Equal(schema2) || !EqualValues(v, v2) {
		t.Fatalf("%s: %q decoded to %+v, %v; its encoding %q decoded to %+v, %v",
			codec.Name(), data, schema, v, encoded, schema2, v2)
	}
	again, err := codec.Encode(schema2, v2)
	if err != nil || !bytes.Equal(again, encoded) {
		t.Fatalf("%s: encoding is not canonical: %q then %q (%v)", codec.Name(), encoded, again, err)
	}
}
