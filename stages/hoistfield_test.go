package stages_test

import (
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's HoistFieldTest.java are named after the Java test they come from.
// Connect's HoistFieldTest runs on the key, so these do too.

func TestHoistField(t *testing.T) {
	s, err := stages.HoistField("hoist", "magic", stages.OnKey())
	if err != nil {
		t.Fatal(err)
	}

	// schemaless
	out := ftRun(t, s, stream.Record{Topic: "test", Key: int32(42)})
	if out.KeySchema != nil {
		t.Errorf("key schema %v", out.KeySchema)
	}
	ftSameValue(t, "schemaless", out.Key, map[string]any{"magic": int32(42)})

	// testSchemalessMapIsMutable
	out.Key.(map[string]any)["k"] = "v"

	// withSchema
	out = ftRun(t, s, stream.Record{Topic: "test", KeySchema: stream.Int32Schema(), Key: int32(42)})
	want := stream.NewStruct("").Field("magic", stream.Int32Schema()).MustBuild()
	ftSameSchema(t, "schema", out.KeySchema, want)
	ftSameValue(t, "with schema", out.Key, ftStruct(t, want, "magic", int32(42)))
	again := ftRun(t, s, stream.Record{KeySchema: out.KeySchema.Fields[0].Schema, Key: int32(1)})
	if again.KeySchema != out.KeySchema {
		t.Error("schema derived twice")
	}

	// A struct is wrapped in a struct.
	inner := stream.NewStruct("row").Field("id", stream.Int64Schema()).MustBuild()
	value, _ := stages.HoistField("hoist", "after")
	out = ftRun(t, value, stream.Record{ValueSchema: inner, Value: ftStruct(t, inner, "id", int64(3))})
	ftSameValue(t, "nested", out.Value.(*stream.Struct).Get("after"), ftStruct(t, inner, "id", int64(3)))
}

// Connect has no null check in HoistField: a nil value is wrapped, and a required schema refuses it.
func TestHoistFieldNil(t *testing.T) {
	s, _ := stages.HoistField("hoist", "v")
	ftSameValue(t, "schemaless", ftRun(t, s, stream.Record{Key: "k"}).Value, map[string]any{"v": nil})
	out := ftRun(t, s, stream.Record{ValueSchema: stream.StringSchema().AsOptional()})
	ftSameValue(t, "optional", out.Value.(*stream.Struct).Get("v"), nil)
	ftRunErr(t, s, stream.Record{ValueSchema: stream.StringSchema()}, "value", `"v"`, "nil")
}

func TestHoistFieldConfig(t *testing.T) {
	s, err := stages.HoistField("hoist", "")
	ftConfigErr(t, s, err, "field", "empty", `stage "hoist"`)
}
