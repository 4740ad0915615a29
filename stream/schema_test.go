package stream

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStructBuilder(t *testing.T) {
	s := mustBuild(t, NewStruct("shop.Item").
		Field("id", Int64Schema()).
		Field("tags", ArrayOf(StringSchema())).
		Version(2).Doc("an item").Optional())
	if s.Type != TypeStruct || s.Name != "shop.Item" || s.Version != 2 || s.Doc != "an item" || !s.Optional {
		t.Errorf("unexpected schema %+v", s)
	}
	for i, name := range []string{"id", "tags"} {
		f, ok := s.Field(name)
		if !ok || f.Index != i || f.Name != name {
			t.Errorf("Field(%q) = %+v, %v", name, f, ok)
		}
	}
	if _, ok := s.Field("nope"); ok {
		t.Error(`Field("nope") found a field`)
	}
}

func TestStructBuilderErrors(t *testing.T) {
	tests := []struct {
		name    string
		builder *StructBuilder
		want    string
	}{
		{"duplicate", NewStruct("").Field("a", Int8Schema()).Field("a", Int16Schema()), `duplicate struct field "a"`},
		{"empty name", NewStruct("").Field("", Int8Schema()), "struct field 0 has no name"},
		{"nil schema", NewStruct("").Field("a", nil), `field "a": field has no schema`},
		{"array without items", NewStruct("").Field("a", &Schema{Type: TypeArray}), `field "a": array schema has no Items`},
		{"map without value", NewStruct("").Field("m", &Schema{Type: TypeMap, Key: StringSchema()}), "map schema needs both Key and Value"},
		{"unknown type", NewStruct("").Field("a", &Schema{Type: "int128"}), `unknown type "int128"`},
		{"bad default", NewStruct("").Field("a", Int32Schema().WithDefault("x")), "default value"},
		{"bad scale", NewStruct("").Field("d", DecimalSchema(2).WithParameter("scale", "two")), `Decimal scale "two"`},
		{"no scale", NewStruct("").Field("d", &Schema{Type: TypeBytes, Name: DecimalName}), `no "scale" parameter`},
		{"nested", NewStruct("").Field("inner", &Schema{Type: TypeStruct, Fields: []Field{{Name: "x", Schema: ArrayOf(nil)}}}),
			`field "inner.x": array schema has no Items`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.builder.Build()
			if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build() error = %v, want ErrInvalidSchema containing %q", err, tt.want)
			}
		})
	}
}

func TestMustBuildPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustBuild did not panic on a duplicate field")
		}
	}()
	NewStruct("").Field("a", Int8Schema()).Field("a", Int8Schema()).MustBuild()
}

func TestBuilderReuseDoesNotAlias(t *testing.T) {
	b := NewStruct("s").Field("a", Int8Schema())
	first := mustBuild(t, b)
	b.Field("b", Int8Schema())
	if len(first.Fields) != 1 {
		t.Errorf("building again changed an earlier schema: %d fields", len(first.Fields))
	}
}

func TestCopyHelpersDoNotMutate(t *testing.T) {
	orig := DecimalSchema(2)
	_ = orig.AsOptional().WithDefault(NewDecimal(1, 2)).WithDoc("d").WithName("n").WithVersion(9).
		WithParameter("scale", "5").WithParameter("extra", "x")
	if !orig.Equal(DecimalSchema(2)) {
		t.Errorf("copy helpers mutated the original: %+v", orig)
	}
	opt := orig.AsOptional()
	if !opt.Optional || opt.AsRequired().Optional {
		t.Error("AsOptional/AsRequired do not set Optional")
	}
}

func TestLogicalSchemas(t *testing.T) {
	tests := []struct {
		s    *Schema
		typ  Type
		name string
	}{
		{DecimalSchema(3), TypeBytes, DecimalName},
		{DateSchema(), TypeInt32, DateName},
		{TimeSchema(), TypeInt32, TimeName},
		{TimestampSchema(), TypeInt64, TimestampName},
	}
	for _, tt := range tests {
		if tt.s.Type != tt.typ || tt.s.Name != tt.name || tt.s.Version != 1 || tt.s.Check() != nil {
			t.Errorf("%s: got %+v", tt.name, tt.s)
		}
	}
	if DecimalSchema(3).Parameters["scale"] != "3" {
		t.Error("DecimalSchema does not set the scale parameter")
	}
	// A logical name on the wrong type is only a name.
	if (&Schema{Type: TypeInt64, Name: DateName}).logical() != notLogical {
		t.Error("Date name on int64 treated as Date")
	}
}

func TestSchemaEqual(t *testing.T) {
	a := NewStruct("s").Field("x", Int32Schema()).Field("m", MapOf(StringSchema(), DecimalSchema(2))).MustBuild()
	b := NewStruct("s").Field("x", Int32Schema()).Field("m", MapOf(StringSchema(), DecimalSchema(2))).MustBuild()
	if !a.Equal(b) {
		t.Error("identical schemas are not Equal")
	}
	for name, c := range map[string]*Schema{
		"optional":  a.AsOptional(),
		"name":      a.WithName("t"),
		"doc":       a.WithDoc("d"),
		"version":   a.WithVersion(1),
		"parameter": a.WithParameter("k", "v"),
		"field":     NewStruct("s").Field("x", Int64Schema()).Field("m", MapOf(StringSchema(), DecimalSchema(2))).MustBuild(),
		"nested":    NewStruct("s").Field("x", Int32Schema()).Field("m", MapOf(StringSchema(), DecimalSchema(3))).MustBuild(),
		"default":   Int32Schema().WithDefault(int32(1)),
	} {
		if a.Equal(c) {
			t.Errorf("schemas differing in %s are Equal", name)
		}
	}
	if !Int32Schema().WithDefault(int32(1)).Equal(Int32Schema().WithDefault(int32(1))) {
		t.Error("equal defaults are not Equal")
	}
	var nilSchema *Schema
	if !nilSchema.Equal(nil) || nilSchema.Equal(a) {
		t.Error("nil schema equality")
	}
}

// A struct schema whose default is a Struct of itself (as decoders build it) compares without recursing
// forever.
func TestSchemaEqualSelfReferentialDefault(t *testing.T) {
	build := func() *Schema {
		s := NewStruct("p").Field("x", Int32Schema()).MustBuild()
		d := newStruct(s)
		d.values[0] = int32(7)
		s.Default = d
		return s
	}
	a, b := build(), build()
	if !a.Equal(b) {
		t.Error("self-referential schemas are not Equal")
	}
	b.Default.(*Struct).values[0] = int32(8)
	if a.Equal(b) {
		t.Error("self-referential schemas with different defaults are Equal")
	}
	if err := a.Check(); err != nil {
		t.Error(err)
	}
}

func TestEqualValues(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	s := NewStruct("").Field("a", Int32Schema()).MustBuild()
	tests := []struct {
		a, b any
		want bool
	}{
		{nil, nil, true},
		{int32(1), int32(1), true},
		{int32(1), int64(1), false},
		{float64(0), float64(-0.0), true},
		{float32(1), float64(1), false},
		{[]byte{}, []byte(nil), true},
		{dec(t, "1.5"), dec(t, "1.50"), false},
		{ts, ts.In(time.FixedZone("X", 3600)), true},
		{[]any{int64(1), "a"}, []any{int64(1), "a"}, true},
		{[]any{int64(1)}, []any{int64(1), nil}, false},
		{map[string]any{"a": int64(1)}, map[any]any{"a": int64(1)}, true},
		{map[any]any{int32(1): "x", dec(t, "1.5"): "y"}, map[any]any{dec(t, "1.5"): "y", int32(1): "x"}, true},
		{map[any]any{dec(t, "1.5"): "y"}, map[any]any{dec(t, "1.5"): "z"}, false},
		{map[string]any{"a": nil}, map[string]any{"b": nil}, false},
		{structOf(t, s, "a", int32(1)), structOf(t, s, "a", int32(1)), true},
		{structOf(t, s, "a", int32(1)), structOf(t, s, "a", int32(2)), false},
		{"x", []byte("x"), false},
		{uint(1), uint(1), false}, // not a type of the data model
	}
	for i, tt := range tests {
		if got := EqualValues(tt.a, tt.b); got != tt.want {
			t.Errorf("%d: EqualValues(%v, %v) = %v, want %v", i, tt.a, tt.b, got, tt.want)
		}
	}
}
