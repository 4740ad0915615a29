package avro_test

import (
	"context"
	"encoding/binary"
	"math/big"
	"reflect"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/stream"
)

// pythonPaymentSchema is test/python/avro_interop.py's PAYMENT_SCHEMA exactly as Python's json.dumps writes
// it and Confluent's Python AvroSerializer registers it.
const pythonPaymentSchema = `{"type": "record", "name": "Payment", "namespace": "com.example.payments", "fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 9}}, {"name": "booked", "type": {"type": "int", "logicalType": "date"}}, {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}}, {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}}, {"name": "payer", "type": {"type": "record", "name": "Party", "fields": [{"name": "name", "type": "string"}, {"name": "country", "type": "string"}, {"name": "score", "type": "double"}]}}, {"name": "tags", "type": {"type": "array", "items": "string"}}, {"name": "limits", "type": {"type": "map", "values": "long"}}, {"name": "memo", "type": ["null", "string"], "default": null}, {"name": "rate", "type": "float"}, {"name": "active", "type": "boolean"}, {"name": "blob", "type": "bytes"}]}`

// TestForeignSchemaWrittenBackUnderItsOwnID: records that Confluent's Python serializer wrote are read from
// one topic and written to the same topic and to another by Sluice's codec (as a flow that re-writes them
// does): they carry the writer's schema id, no new schema is registered, and they hold the same value.
// SchemaFor's mapping of the same schema is another text (connect.* properties, {"type":"long"}), which
// the registry would give a new id.
func TestForeignSchemaWrittenBackUnderItsOwnID(t *testing.T) {
	ctx := context.Background()
	reg := openRegistry(t, "")
	id, err := reg.Register(ctx, "payments-value", stream.RegisteredSchema{Type: "AVRO", Schema: pythonPaymentSchema})
	if err != nil {
		t.Fatal(err)
	}
	// The body as another Avro implementation writes it.
	hs, err := hamba.ParseWithCache(pythonPaymentSchema, "", &hamba.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := hamba.Marshal(hs, map[string]any{
		"id": int64(1), "amount": new(big.Rat).SetFrac(big.NewInt(12345678901), big.NewInt(1000000000)),
		"booked": time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), "at": time.Date(2026, 11, 30, 21, 34, 40, 123456000, time.UTC),
		"ref": "0b7e6a52-8a4e-4c39-9a6b-1f2d3c4b5a69", "payer": map[string]any{"name": "Ada", "country": "GB", "score": 0.1},
		"tags": []any{"card", "eur"}, "limits": map[string]any{"monthly": int64(9223372036854775807)},
		"memo": "first", "rate": float32(1.5), "active": true, "blob": []byte{0, 1, 0xff}})
	if err != nil {
		t.Fatal(err)
	}
	data := binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	data = append(data, body...)

	schema, v, err := bind(t, reg, "payments", false, "").Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if mapped, err := avro.SchemaFor(schema); err != nil || mapped == pythonPaymentSchema {
		t.Fatalf("SchemaFor gives %q, %v: the test needs a mapping that differs from Python's text", mapped, err)
	}
	for _, topic := range []string{"payments", "payments-copy"} {
		again, err := bind(t, reg, topic, false, "").Encode(schema, v)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		if got := int(binary.BigEndian.Uint32(again[1:5])); got != id {
			s, _ := reg.SchemaByID(ctx, got)
			t.Errorf("%s: written with schema id %d, want the writer's %d; registered %s", topic, got, id, s.Schema)
		}
		// hamba writes arrays and maps in blocks that carry their size: compare what the bytes hold.
		var want, got any
		if err := hamba.Unmarshal(hs, body, &want); err != nil {
			t.Fatal(err)
		}
		if err := hamba.Unmarshal(hs, again[5:], &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: hamba reads %v (%v) from what the codec wrote, %v from its own bytes", topic, got, err, want)
		}
	}
	versions := 0
	for v := 1; ; v++ {
		if _, err := reg.SchemaByID(ctx, v); err != nil {
			break
		}
		versions++
	}
	if versions != 1 {
		t.Errorf("the registry holds %d schemas, want 1 (the writer's)", versions)
	}
}
