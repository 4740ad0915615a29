package stages

import (
	"context"
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// ExtractFieldConfig configures ExtractField with Kafka Connect's ExtractField options.
type ExtractFieldConfig struct {
	// Field is the field to extract: a top-level field name, or with Syntax FieldSyntaxV2 a dotted path to
	// a nested field ("after.id").
	Field string
	// Syntax is how Field is written (Connect's field.syntax.version); "" is FieldSyntaxV1.
	Syntax FieldSyntax
}

// Validate reports an empty Field, an unknown Syntax and a V2 path with an unmatched backtick.
func (c ExtractFieldConfig) Validate() error {
	_, err := c.path("")
	return err
}

func (c ExtractFieldConfig) path(stage string) ([]string, error) {
	if c.Field == "" {
		return nil, configErrorf(stage, "Field", "is empty")
	}
	path, err := parseFieldPath(c.Field, c.Syntax)
	if err != nil {
		option := "Field"
		if c.Syntax != "" && c.Syntax != FieldSyntaxV1 && c.Syntax != FieldSyntaxV2 {
			option = "Syntax"
		}
		return nil, configErrorf(stage, option, "%v", err)
	}
	for _, step := range path {
		if step == "" {
			return nil, configErrorf(stage, "Field", "path %q has an empty field name", c.Field)
		}
	}
	return path, nil
}

// ExtractField makes a stage that replaces the key or value by one of its fields: Kafka Connect's
// ExtractField transform.
//
// With a schema the value must be a struct (or nil) and the field must be in its schema, or the record is
// in error; the record gets the field's schema and value (its default if nil). Without a schema the value
// must be a map (or nil), and a missing field extracts nil. On a nested path, every field but the last must
// hold a struct (or a map), or nil, which extracts nil. A nil key or value stays nil (with the field's schema
// if there is a schema).
func ExtractField(name string, cfg ExtractFieldConfig, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("extract-field", name); err != nil {
		return nil, err
	}
	path, err := cfg.path(name)
	if err != nil {
		return nil, err
	}
	return &extractFieldStage{name: name, target: newFieldTarget(opts), field: cfg.Field, path: path}, nil
}

type extractFieldStage struct {
	name   string
	target fieldTarget
	field  string   // as configured, for errors
	path   []string // field names from the top level down
}

func (s *extractFieldStage) Name() string { return s.name }

// Process replaces r's value (or key) by the configured field.
func (s *extractFieldStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := s.target.get(&r)
	if schema == nil {
		var out any
		if v != nil {
			m, err := s.target.requireObject(v)
			if err != nil {
				return nil, err
			}
			if out, err = s.fromObject(m); err != nil {
				return nil, err
			}
		}
		s.target.set(&r, nil, out)
		return []stream.Record{r}, nil
	}
	fieldSchema, err := s.fieldSchema(schema)
	if err != nil {
		return nil, err
	}
	var out any
	if v != nil {
		st, err := s.target.requireStruct(v)
		if err != nil {
			return nil, err
		}
		if out, err = s.fromStruct(st); err != nil {
			return nil, err
		}
	}
	s.target.set(&r, fieldSchema, out)
	return []stream.Record{r}, nil
}

// fieldSchema returns the schema of the extracted field.
func (s *extractFieldStage) fieldSchema(schema *stream.Schema) (*stream.Schema, error) {
	current := schema
	for i, step := range s.path {
		if current.Type != stream.TypeStruct {
			return nil, s.target.errorf(strings.Join(s.path[:i], "."), "schema is %s, which has no fields", describeSchema(current))
		}
		f, ok := current.Field(step)
		if !ok {
			return nil, s.target.errorf(s.field, "no such field in the %s schema", s.target)
		}
		current = f.Schema
	}
	return current, nil
}

func (s *extractFieldStage) fromStruct(st *stream.Struct) (any, error) {
	current := st
	last := len(s.path) - 1
	for i, step := range s.path[:last] {
		if _, ok := current.Schema().Field(step); !ok {
			return nil, nil
		}
		switch next := current.Get(step).(type) {
		case nil:
			return nil, nil
		case *stream.Struct:
			current = next
		default:
			return nil, s.target.errorf(strings.Join(s.path[:i+1], "."), "is %s, not a struct", stream.TypeName(next))
		}
		if current == nil {
			return nil, nil
		}
	}
	if _, ok := current.Schema().Field(s.path[last]); !ok {
		return nil, nil
	}
	return current.Get(s.path[last]), nil
}

func (s *extractFieldStage) fromObject(m map[string]any) (any, error) {
	current := m
	last := len(s.path) - 1
	for i, step := range s.path[:last] {
		next := current[step]
		if next == nil {
			return nil, nil
		}
		var ok bool
		if current, ok = objectOf(next); !ok {
			return nil, s.target.errorf(strings.Join(s.path[:i+1], "."), "is %s, not a map", stream.TypeName(next))
		}
	}
	return current[s.path[last]], nil
}
