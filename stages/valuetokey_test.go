package stages_test

import (
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's ValueToKeyTest.java are named after the Java test they come from.

func TestValueToKey(t *testing.T) {
	s, err := stages.ValueToKey("to-key", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}

	// schemaless
	in := map[string]any{"a": int32(1), "b": int32(2), "c": int32(3)}
	out := ftRun(t, s, stream.Record{Value: in})
	if out.KeySchema != nil {
		t.Errorf("key schema %v", out.KeySchema)
	}
	ftSameValue(t, "key", out.Key, map[string]any{"a": int32(1), "b": int32(2)})
	ftSameValue(t, "value", out.Value, in)

	// A field the map lacks is nil in the key, as in Connect.
	out = ftRun(t, s, stream.Record{Value: map[string]any{"a": "x"}})
	ftSameValue(t, "missing", out.Key, map[string]any{"a": "x", "b": nil})

	// withSchema
	schema := stream.NewStruct("").Field("a", stream.Int32Schema()).Field("b", stream.Int32Schema()).Field("c", stream.Int32Schema()).MustBuild()
	value := ftStruct(t, schema, "a", int32(1), "b", int32(2), "c", int32(3))
	out = ftRun(t, s, stream.Record{KeySchema: stream.StringSchema(), Key: "old", ValueSchema: schema, Value: value})
	wantSchema := stream.NewStruct("").Field("a", stream.Int32Schema()).Field("b", stream.Int32Schema()).MustBuild()
	ftSameSchema(t, "key schema", out.KeySchema, wantSchema)
	ftSameValue(t, "key", out.Key, ftStruct(t, wantSchema, "a", int32(1), "b", int32(2)))
	if out.Value != value || out.ValueSchema != schema {
		t.Error("value changed")
	}

	// Fields keep the order given, not the value's.
	reversed, _ := stages.ValueToKey("to-key", []string{"c", "a"})
	out = ftRun(t, reversed, stream.Record{ValueSchema: schema, Value: value})
	ftSameSchema(t, "order", out.KeySchema, stream.NewStruct("").Field("c", stream.Int32Schema()).Field("a", stream.Int32Schema()).MustBuild())
}

// nonExistingField; a tombstone, which Connect refuses too (requireMap / requireStruct on null).
func TestValueToKeyErrors(t *testing.T) {
	s, _ := stages.ValueToKey("to-key", []string{"not_exist"})
	schema := stream.NewStruct("").Field("a", stream.Int32Schema()).MustBuild()
	ftRunErr(t, s, stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "a", int32(1))}, `"not_exist"`, "does not exist")
	ftRunErr(t, s, stream.Record{Key: "k"}, "value", "tombstone")
	ftRunErr(t, s, stream.Record{Key: "k", ValueSchema: schema}, "value", "tombstone")
	ftRunErr(t, s, stream.Record{Value: "text"}, "value", "string")

	for name, fields := range map[string][]string{"none": nil, "empty name": {"a", ""}, "twice": {"a", "a"}} {
		t.Run(name, func(t *testing.T) {
			st, err := stages.ValueToKey("to-key", fields)
			ftConfigErr(t, st, err, "fields", `stage "to-key"`)
		})
	}
}
