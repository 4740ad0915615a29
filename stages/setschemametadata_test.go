package stages_test

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's SetSchemaMetadataTest.java are named after the Java test they come from.

func TestSetSchemaMetadata(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     stages.SchemaMetadata
		name    string
		version int
	}{
		"schemaNameUpdate":           {stages.SchemaMetadata{Name: "foo"}, "foo", 0},
		"schemaVersionUpdate":        {stages.SchemaMetadata{Version: 42}, "", 42},
		"schemaNameAndVersionUpdate": {stages.SchemaMetadata{Name: "foo", Version: 42}, "foo", 42},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := stages.SetSchemaMetadata("meta", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			schema := stream.NewStruct("").MustBuild()
			out := ftRun(t, s, stream.Record{ValueSchema: schema})
			if out.ValueSchema.Name != tc.name || out.ValueSchema.Version != tc.version || out.Value != nil {
				t.Errorf("got %+v", out.ValueSchema)
			}
			if schema.Name != "" || schema.Version != 0 {
				t.Error("input schema changed")
			}
		})
	}
}

// schemaNameAndVersionUpdateWithStruct, schemaNameAndVersionUpdateWithStructAndNullField (with
// replace.null.with.default=true, the only behaviour Sluice has)
func TestSetSchemaMetadataWithStruct(t *testing.T) {
	s, _ := stages.SetSchemaMetadata("meta", stages.SchemaMetadata{Name: "foo", Version: 42})
	schema := stream.NewStruct("my.orig.SchemaDefn").
		Field("f1", stream.StringSchema().AsOptional().WithDefault("default")).
		Field("f2", stream.Int32Schema()).
		MustBuild()
	out := ftRun(t, s, stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "f2", int32(1))})
	got := out.Value.(*stream.Struct)
	if out.ValueSchema.Name != "foo" || out.ValueSchema.Version != 42 || got.Schema() != out.ValueSchema {
		t.Fatalf("schema %+v, struct schema %+v", out.ValueSchema, got.Schema())
	}
	for i, f := range out.ValueSchema.Fields {
		if f.Schema != schema.Fields[i].Schema || f.Name != schema.Fields[i].Name {
			t.Errorf("field %d changed", i)
		}
	}
	ftSameValue(t, "f1", got.Get("f1"), "default")
	ftSameValue(t, "f2", got.Get("f2"), int32(1))
	if err := out.ValueSchema.Validate(got); err != nil {
		t.Error(err)
	}

	// A struct default is renamed with its schema.
	withDefault := schema.AsOptional().WithDefault(ftStruct(t, schema, "f2", int32(9)))
	out = ftRun(t, s, stream.Record{ValueSchema: withDefault})
	if err := out.ValueSchema.Check(); err != nil {
		t.Errorf("renamed schema: %v", err)
	}
	ftSameValue(t, "default f2", out.ValueSchema.Default.(*stream.Struct).Get("f2"), int32(9))

	// On the key, and for a value that is not a struct (updateSchemaOfNonStruct).
	key, _ := stages.SetSchemaMetadata("meta", stages.SchemaMetadata{Name: "ids.Id"}, stages.OnKey())
	out = ftRun(t, key, stream.Record{KeySchema: stream.Int64Schema(), Key: int64(5), Value: "v"})
	ftSameSchema(t, "key schema", out.KeySchema, stream.Int64Schema().WithName("ids.Id"))
	ftSameValue(t, "key", out.Key, int64(5))
}

// valueSchemaRequired, ignoreRecordWithNullValue
func TestSetSchemaMetadataSchemaless(t *testing.T) {
	s, _ := stages.SetSchemaMetadata("meta", stages.SchemaMetadata{Name: "foo"})
	ftRunErr(t, s, stream.Record{Value: int32(42)}, "value", "no schema")
	out := ftRun(t, s, stream.Record{})
	if out.Value != nil || out.ValueSchema != nil || out.Key != nil || out.KeySchema != nil {
		t.Errorf("null value: %+v", out)
	}
}

func TestSetSchemaMetadataConfig(t *testing.T) {
	s, err := stages.SetSchemaMetadata("meta", stages.SchemaMetadata{})
	ftConfigErr(t, s, err, "neither Name nor Version")
	s, err = stages.SetSchemaMetadata("meta", stages.SchemaMetadata{Version: math.MaxInt32 + 1})
	ftConfigErr(t, s, err, "Version")
	ftConfigErr(t, nil, stages.SchemaMetadata{Version: math.MinInt32 - 1}.Validate(), "Version")
}
