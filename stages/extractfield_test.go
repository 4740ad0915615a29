package stages_test

import (
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's ExtractFieldTest.java and FieldPathNotationTest.java are named after the
// Java test they come from. Connect's ExtractFieldTest runs on the key, so these do too.

func extractKey(t *testing.T, field string, syntax stages.FieldSyntax) stages.Stage {
	t.Helper()
	s, err := stages.ExtractField("extract", stages.ExtractFieldConfig{Field: field, Syntax: syntax}, stages.OnKey())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExtractFieldSchemaless(t *testing.T) {
	nested := map[string]any{"magic": map[string]any{"foo": int32(42)}}
	for _, tc := range []struct {
		name   string
		field  string
		syntax stages.FieldSyntax
		key    any
		want   any
	}{
		{"schemaless", "magic", "", map[string]any{"magic": int32(42)}, int32(42)},
		{"schemalessAndNestedPath", "magic.foo", stages.FieldSyntaxV2, nested, int32(42)},
		{"nullSchemaless", "magic", "", nil, nil},
		{"nonExistentFieldSchemalessShouldReturnNull", "nonexistent", "", map[string]any{"magic": int32(42)}, nil},
		{"nonExistentNestedFieldSchemalessShouldReturnNull", "magic.nonexistent", stages.FieldSyntaxV2, nested, nil},
		{"V1 reads dots as part of the name", "magic.foo", stages.FieldSyntaxV1, map[string]any{"magic.foo": "dotted"}, "dotted"},
		{"nil on the way", "magic.foo", stages.FieldSyntaxV2, map[string]any{"magic": nil}, nil},
		{"map[any]any", "a.b", stages.FieldSyntaxV2, map[any]any{"a": map[any]any{"b": "x"}}, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := ftRun(t, extractKey(t, tc.field, tc.syntax), stream.Record{Topic: "test", Key: tc.key})
			if out.KeySchema != nil {
				t.Errorf("key schema %v", out.KeySchema)
			}
			ftSameValue(t, "key", out.Key, tc.want)
		})
	}
	ftRunErr(t, extractKey(t, "magic.foo.bar", stages.FieldSyntaxV2), stream.Record{Key: nested}, `key field "magic.foo"`, "int32")
	ftRunErr(t, extractKey(t, "magic", ""), stream.Record{Key: "text"}, "key", "string")
}

func TestExtractFieldWithSchema(t *testing.T) {
	fooSchema := stream.NewStruct("").Field("foo", stream.Int32Schema()).MustBuild()
	nestedSchema := stream.NewStruct("").Field("magic", fooSchema).MustBuild()
	nested := ftStruct(t, nestedSchema, "magic", ftStruct(t, fooSchema, "foo", int32(42)))
	flatSchema := stream.NewStruct("").Field("magic", stream.Int32Schema()).MustBuild()
	optionalSchema := stream.NewStruct("").Field("magic", stream.Int32Schema()).Optional().MustBuild()

	// withSchema
	out := ftRun(t, extractKey(t, "magic", ""), stream.Record{KeySchema: flatSchema, Key: ftStruct(t, flatSchema, "magic", int32(42))})
	ftSameSchema(t, "schema", out.KeySchema, stream.Int32Schema())
	ftSameValue(t, "key", out.Key, int32(42))

	// withSchemaAndNestedPath
	out = ftRun(t, extractKey(t, "magic.foo", stages.FieldSyntaxV2), stream.Record{KeySchema: nestedSchema, Key: nested})
	ftSameSchema(t, "schema", out.KeySchema, stream.Int32Schema())
	ftSameValue(t, "key", out.Key, int32(42))

	// testNullWithSchema: the schema is the field's, the key stays nil.
	out = ftRun(t, extractKey(t, "magic", ""), stream.Record{KeySchema: optionalSchema})
	ftSameSchema(t, "schema", out.KeySchema, stream.Int32Schema())
	if out.Key != nil {
		t.Errorf("key %v", out.Key)
	}

	// A nil field reads as its default.
	withDefault := stream.NewStruct("").Field("magic", stream.Int32Schema().AsOptional().WithDefault(int32(7))).MustBuild()
	out = ftRun(t, extractKey(t, "magic", ""), stream.Record{KeySchema: withDefault, Key: ftStruct(t, withDefault)})
	ftSameValue(t, "default", out.Key, int32(7))

	// nonExistentFieldWithSchemaShouldFail, nonExistentNestedFieldWithSchemaShouldFail
	ftRunErr(t, extractKey(t, "nonexistent", ""), stream.Record{KeySchema: flatSchema, Key: ftStruct(t, flatSchema, "magic", int32(42))},
		`"nonexistent"`, "no such field")
	ftRunErr(t, extractKey(t, "magic.nonexistent", stages.FieldSyntaxV2), stream.Record{KeySchema: nestedSchema, Key: nested},
		`"magic.nonexistent"`, "no such field")
	ftRunErr(t, extractKey(t, "magic.foo.x", stages.FieldSyntaxV2), stream.Record{KeySchema: nestedSchema, Key: nested},
		`"magic.foo"`, "int32")
	ftRunErr(t, extractKey(t, "magic", ""), stream.Record{KeySchema: flatSchema, Key: map[string]any{"magic": 1}}, "must be a struct")
}

// FieldPathNotationTest: how V2 paths split into field names, checked by extracting from nested maps whose
// keys are the expected names.
func TestExtractFieldPathSyntax(t *testing.T) {
	for path, steps := range map[string][]string{
		"foobarbaz":             {"foobarbaz"},
		"foo.bar.baz":           {"foo", "bar", "baz"},
		"foo`bar`baz":           {"foo`bar`baz"},
		"`foo.bar.baz`":         {"foo.bar.baz"},
		"foo.`bar.baz`":         {"foo", "bar.baz"},
		"`foo.bar`.baz":         {"foo.bar", "baz"},
		"foo.`bar`.baz":         {"foo", "bar", "baz"},
		"foo.``bar.baz`":        {"foo", "`bar.baz"},
		"foo.`bar.baz``":        {"foo", "bar.baz`"},
		"foo.`ba`r.baz`":        {"foo", "ba`r.baz"},
		"foo.ba`r.baz":          {"foo", "ba`r", "baz"},
		"foo.``bar``.baz":       {"foo", "`bar`", "baz"},
		"``foo.bar.baz``":       {"`foo.bar.baz`"},
		"foo.`bar\\`.baz`":      {"foo", "bar`.baz"},
		"foo.`bar.`baz`":        {"foo", "bar.`baz"},
		"foo.`bar\\`.`baz`":     {"foo", "bar`.`baz"},
		"foo.`bar\\\\`.\\`baz`": {"foo", "bar\\`.\\`baz"},
	} {
		var value any = "found"
		for i := len(steps) - 1; i >= 0; i-- {
			value = map[string]any{steps[i]: value}
		}
		out := ftRun(t, extractKey(t, path, stages.FieldSyntaxV2), stream.Record{Key: value})
		ftSameValue(t, path, out.Key, "found")
	}
}

func TestExtractFieldConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg     stages.ExtractFieldConfig
		mention []string
	}{
		{stages.ExtractFieldConfig{}, []string{"Field", "empty"}},
		{stages.ExtractFieldConfig{Field: "a", Syntax: "V3"}, []string{"Syntax", "V3"}},
		// shouldFailV2WhenIncompleteBackticks
		{stages.ExtractFieldConfig{Field: "`foo.bar.baz", Syntax: stages.FieldSyntaxV2}, []string{"Field", "backtick at position 0"}},
		{stages.ExtractFieldConfig{Field: "foo.`bar.baz", Syntax: stages.FieldSyntaxV2}, []string{"backtick at position 4"}},
		{stages.ExtractFieldConfig{Field: "foo.bar.`baz", Syntax: stages.FieldSyntaxV2}, []string{"backtick at position 8"}},
		{stages.ExtractFieldConfig{Field: "foo.bar.`baz\\`", Syntax: stages.FieldSyntaxV2}, []string{"backtick at position 8"}},
		// shouldIncludeEmptyFieldNames: Connect accepts them and then finds no such field; Sluice refuses them.
		{stages.ExtractFieldConfig{Field: "foo..", Syntax: stages.FieldSyntaxV2}, []string{"empty field name"}},
		{stages.ExtractFieldConfig{Field: ".bar", Syntax: stages.FieldSyntaxV2}, []string{"empty field name"}},
	} {
		s, err := stages.ExtractField("extract", tc.cfg)
		ftConfigErr(t, s, err, tc.mention...)
		ftConfigErr(t, nil, tc.cfg.Validate(), tc.mention...)
	}
}
