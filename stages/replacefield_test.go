package stages_test

import (
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's ReplaceFieldTest.java are named after the Java test they come from.

func TestReplaceFieldConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     stages.ReplaceFieldConfig
		mention []string
	}{
		"empty exclude":     {stages.ReplaceFieldConfig{Exclude: []string{"a", ""}}, []string{"Exclude", "empty"}},
		"repeated include":  {stages.ReplaceFieldConfig{Include: []string{"a", "a"}}, []string{"Include", `"a"`}},
		"empty rename":      {stages.ReplaceFieldConfig{Renames: map[string]string{"a": ""}}, []string{"Renames"}},
		"empty rename from": {stages.ReplaceFieldConfig{Renames: map[string]string{"": "b"}}, []string{"Renames"}},
		"same target":       {stages.ReplaceFieldConfig{Renames: map[string]string{"a": "x", "b": "x"}}, []string{"Renames", `"a"`, `"b"`, `"x"`}},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := stages.ReplaceField("replace", tc.cfg)
			ftConfigErr(t, s, err, append(tc.mention, `stage "replace"`)...)
			ftConfigErr(t, nil, tc.cfg.Validate(), tc.mention...)
		})
	}
	if err := (stages.ReplaceFieldConfig{}).Validate(); err != nil {
		t.Errorf("empty config: %v", err)
	}
}

func TestReplaceFieldSchemaless(t *testing.T) {
	in := map[string]any{"dont": "whatever", "abc": int32(42), "foo": true, "etc": "etc"}
	for name, tc := range map[string]struct {
		cfg  stages.ReplaceFieldConfig
		want map[string]any
	}{
		// schemaless
		"exclude and rename": {stages.ReplaceFieldConfig{Exclude: []string{"dont"}, Renames: map[string]string{"abc": "xyz", "foo": "bar"}},
			map[string]any{"xyz": int32(42), "bar": true, "etc": "etc"}},
		"include and rename": {stages.ReplaceFieldConfig{Include: []string{"abc", "foo"}, Renames: map[string]string{"abc": "xyz", "foo": "bar"}},
			map[string]any{"xyz": int32(42), "bar": true}},
		"exclude wins over include": {stages.ReplaceFieldConfig{Include: []string{"abc", "dont"}, Exclude: []string{"dont"}},
			map[string]any{"abc": int32(42)}},
		"rename into an excluded name": {stages.ReplaceFieldConfig{Exclude: []string{"etc"}, Renames: map[string]string{"foo": "etc"}},
			map[string]any{"dont": "whatever", "abc": int32(42), "etc": true}},
		"swap names":      {stages.ReplaceFieldConfig{Renames: map[string]string{"abc": "foo", "foo": "abc"}}, map[string]any{"dont": "whatever", "foo": int32(42), "abc": true, "etc": "etc"}},
		"nothing to do":   {stages.ReplaceFieldConfig{}, in},
		"unknown include": {stages.ReplaceFieldConfig{Include: []string{"nope"}}, map[string]any{}},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := stages.ReplaceField("replace", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			out := ftRun(t, s, stream.Record{Value: in})
			ftSameValue(t, "value", out.Value, tc.want)
			if out.ValueSchema != nil {
				t.Errorf("schema %v", out.ValueSchema)
			}
		})
	}
	ftSameValue(t, "input unchanged", in["abc"], int32(42))
}

// withSchema
func TestReplaceFieldWithSchema(t *testing.T) {
	s, err := stages.ReplaceField("replace", stages.ReplaceFieldConfig{
		Include: []string{"abc", "foo", "opt"},
		Renames: map[string]string{"abc": "xyz", "foo": "bar"},
	})
	if err != nil {
		t.Fatal(err)
	}
	schema := stream.NewStruct("shop.Order").Version(2).Doc("an order").
		Field("dont", stream.StringSchema()).
		Field("abc", stream.Int32Schema()).
		Field("foo", stream.BooleanSchema()).
		Field("etc", stream.StringSchema()).
		Field("opt", stream.StringSchema().AsOptional().WithDefault("dflt")).
		MustBuild()
	value := ftStruct(t, schema, "dont", "whatever", "abc", int32(42), "foo", true, "etc", "etc")
	out := ftRun(t, s, stream.Record{ValueSchema: schema, Value: value})
	want := stream.NewStruct("shop.Order").Version(2).Doc("an order").
		Field("xyz", stream.Int32Schema()).
		Field("bar", stream.BooleanSchema()).
		Field("opt", stream.StringSchema().AsOptional().WithDefault("dflt")).
		MustBuild()
	ftSameSchema(t, "schema", out.ValueSchema, want)
	ftSameValue(t, "value", out.Value, ftStruct(t, want, "xyz", int32(42), "bar", true, "opt", "dflt"))

	// The derived schema is cached: records sharing a schema share the derived one.
	again := ftRun(t, s, stream.Record{ValueSchema: schema, Value: value})
	if again.ValueSchema != out.ValueSchema {
		t.Error("schema derived twice")
	}

	// On the key.
	keyed, _ := stages.ReplaceField("replace", stages.ReplaceFieldConfig{Exclude: []string{"dont", "etc", "opt"}}, stages.OnKey())
	out = ftRun(t, keyed, stream.Record{KeySchema: schema, Key: value, Value: "v"})
	ftSameValue(t, "key", out.Key, ftStruct(t, out.KeySchema, "abc", int32(42), "foo", true))
	ftSameValue(t, "value", out.Value, "v")
}

// Connect passes tombstones through; renames that collide are errors for the record.
func TestReplaceFieldNullsAndErrors(t *testing.T) {
	s, _ := stages.ReplaceField("replace", stages.ReplaceFieldConfig{Renames: map[string]string{"a": "b"}})
	schema := stream.NewStruct("").Field("a", stream.Int8Schema()).Field("b", stream.Int8Schema()).MustBuild()
	for name, rec := range map[string]stream.Record{
		"tombstone schemaless":  {Key: "k"},
		"tombstone with schema": {Key: "k", ValueSchema: schema},
	} {
		out := ftRun(t, s, rec)
		if out.Value != nil || out.ValueSchema != rec.ValueSchema {
			t.Errorf("%s: %+v", name, out)
		}
	}
	ftRunErr(t, s, stream.Record{Value: map[string]any{"a": 1, "b": 2}}, `"a"`, `"b"`)
	ftRunErr(t, s, stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "a", int8(1), "b", int8(2))}, `"a"`, `"b"`)
	ftRunErr(t, s, stream.Record{Value: []any{1}}, "value", "is array")
	ftRunErr(t, s, stream.Record{ValueSchema: stream.Int8Schema(), Value: int8(1)}, "value", "is int8; with a schema it must be a struct")
}
