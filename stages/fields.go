package stages

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/stream"
)

// This file holds what the field transforms share: the OnKey option, their errors, and helpers that read
// and rebuild schema'd values (*stream.Struct) and schemaless objects (map[string]any).
//
// The field transforms (Cast, ReplaceField, InsertField, MaskField, ExtractField, Flatten, HoistField,
// ValueToKey, SetSchemaMetadata, TimestampConverter) are Kafka Connect's single message transforms of the
// same names. Each works on the record value, or on the key with OnKey (Connect's $Key and $Value
// variants). A value with a schema (Record.ValueSchema or KeySchema set) must be a *stream.Struct where
// the transform needs fields, and the transform updates the schema with the value; a schemaless value must
// be a map[string]any (or a map[any]any whose keys are strings). Fields that hold nil read as their schema's
// default, as in Connect with replace.null.with.default=true.

var (
	// ErrTransformConfig is wrapped by the errors of the field transforms' constructors: the configuration
	// cannot work. The message names the stage and the option at fault.
	ErrTransformConfig = errors.New("invalid stage configuration")
	// ErrTransformRecord is wrapped by the errors a field transform's Process returns for a record it cannot
	// transform: a value of the wrong shape, a missing field, a value that does not convert. The message
	// names the key or value and the field; under a dead-letter policy the record goes to the dead-letter
	// topic with it.
	ErrTransformRecord = errors.New("stages: cannot transform record")
)

// FieldOption adjusts a field transform.
type FieldOption func(*fieldTarget)

// OnKey makes a field transform work on the record key and key schema instead of the value, like Kafka
// Connect's $Key variants.
func OnKey() FieldOption {
	return func(t *fieldTarget) { t.key = true }
}

// fieldTarget is the part of a record a field transform works on: the value, or the key.
type fieldTarget struct {
	key bool
}

func newFieldTarget(opts []FieldOption) fieldTarget {
	var t fieldTarget
	for _, o := range opts {
		if o != nil {
			o(&t)
		}
	}
	return t
}

func (t fieldTarget) String() string {
	if t.key {
		return "key"
	}
	return "value"
}

// get returns the schema and value the transform works on.
func (t fieldTarget) get(r *stream.Record) (*stream.Schema, any) {
	if t.key {
		return r.KeySchema, r.Key
	}
	return r.ValueSchema, r.Value
}

// set replaces the schema and value the transform works on.
func (t fieldTarget) set(r *stream.Record, schema *stream.Schema, v any) {
	if t.key {
		r.KeySchema, r.Key = schema, v
	} else {
		r.ValueSchema, r.Value = schema, v
	}
}

// errorf returns an error wrapping ErrTransformRecord about field ("" for the whole key or value).
func (t fieldTarget) errorf(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrTransformRecord, t.where(field), fmt.Sprintf(format, args...))
}

// wrap returns an error wrapping both ErrTransformRecord and err, about field ("" for the whole key or value).
func (t fieldTarget) wrap(field string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrTransformRecord, t.where(field), err)
}

func (t fieldTarget) where(field string) string {
	if field == "" {
		return t.String()
	}
	return fmt.Sprintf("%s field %q", t, field)
}

// configErrorf returns an error wrapping ErrTransformConfig about option of stage.
func configErrorf(stage, option, format string, args ...any) error {
	if stage == "" {
		return fmt.Errorf("%w: %s: %s", ErrTransformConfig, option, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: stage %q: %s: %s", ErrTransformConfig, stage, option, fmt.Sprintf(format, args...))
}

// checkStageName reports a stage built without a name.
func checkStageName(transform, name string) error {
	if name == "" {
		return fmt.Errorf("%s: %w", transform, ErrNoName)
	}
	return nil
}

// checkFieldNames reports an empty or duplicate name in a list of field names given as option.
func checkFieldNames(stage, option string, names []string, needOne bool) error {
	if needOne && len(names) == 0 {
		return configErrorf(stage, option, "needs at least one field name")
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if n == "" {
			return configErrorf(stage, option, "field name %d is empty", i+1)
		}
		if seen[n] {
			return configErrorf(stage, option, "field %q is listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

// objectOf returns v as a schemaless object: a map[string]any as it is (not copied), or a copy of a
// map[any]any whose keys are all strings; a nil map is an empty object. It returns false for anything else,
// nil included.
func objectOf(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		if m == nil {
			return map[string]any{}, true
		}
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, e := range m {
			s, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[s] = e
		}
		return out, true
	}
	return nil, false
}

// requireObject returns the schemaless key or value v as an object, or an error naming what it is instead.
func (t fieldTarget) requireObject(v any) (map[string]any, error) {
	m, ok := objectOf(v)
	if !ok {
		return nil, t.errorf("", "is %s; without a schema it must be a map with string keys (an object)%s", stream.TypeName(v), parseHint(v))
	}
	return m, nil
}

// requireStruct returns the schema'd key or value v as a *stream.Struct, or an error naming what it is
// instead.
func (t fieldTarget) requireStruct(v any) (*stream.Struct, error) {
	s, ok := v.(*stream.Struct)
	if !ok || s == nil {
		return nil, t.errorf("", "is %s; with a schema it must be a struct%s", stream.TypeName(v), parseHint(v))
	}
	return s, nil
}

// parseHint is the fix for text where fields are wanted: parse it first.
func parseHint(v any) string {
	switch v.(type) {
	case string, []byte:
		return ": text must be parsed first (stages.ParseJSON or stages.ParseCSV before this stage)"
	}
	return ""
}

// describeSchema names a schema for error messages: its logical or struct name, or its type.
func describeSchema(s *stream.Schema) string {
	switch {
	case s == nil:
		return "schemaless"
	case s.Name != "":
		return fmt.Sprintf("%s %s", s.Type, s.Name)
	}
	return string(s.Type)
}

// newStructSchema returns a required struct schema with the given fields, whose name, version, doc and
// parameters are those of like (nil for none), as Connect's SchemaUtil.copySchemaBasics makes them. It is
// checked: duplicate field names are an error.
func newStructSchema(like *stream.Schema, fields []stream.Field) (*stream.Schema, error) {
	s := &stream.Schema{Type: stream.TypeStruct, Fields: make([]stream.Field, len(fields))}
	if like != nil {
		s.Name, s.Version, s.Doc, s.Parameters = like.Name, like.Version, like.Doc, maps.Clone(like.Parameters)
	}
	for i, f := range fields {
		s.Fields[i] = stream.Field{Name: f.Name, Index: i, Schema: f.Schema}
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	return s, nil
}

// copySchema returns a copy of s that can be changed without affecting s: its own Fields and Parameters.
func copySchema(s *stream.Schema) *stream.Schema {
	c := *s
	c.Fields = append([]stream.Field(nil), s.Fields...)
	c.Parameters = maps.Clone(s.Parameters)
	return &c
}

// structOf builds a Struct of schema from values by field name, checking each value against its field
// schema as Connect's Struct.put does: a field missing from values is nil, an error if it is required and
// has no default. Names in values that schema lacks are ignored.
func structOf(schema *stream.Schema, values map[string]any) (*stream.Struct, error) {
	s, err := stream.NewStructValue(schema)
	if err != nil {
		return nil, err
	}
	for _, f := range schema.Fields {
		if err := s.Put(f.Name, values[f.Name]); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// restruct copies the field values of s (defaults in place of nils) into a new Struct of schema, whose
// fields must have the same names and schemas.
func restruct(s *stream.Struct, schema *stream.Schema) (*stream.Struct, error) {
	values := make(map[string]any, len(schema.Fields))
	for _, f := range schema.Fields {
		values[f.Name] = s.Get(f.Name)
	}
	return structOf(schema, values)
}

// schemaCache remembers the output schema a transform derived from each input schema, so that records
// sharing a schema (as decoders and sources share them) share the derived schema too and it is built once.
// Like Connect's per-transform LRU cache, it is bounded: it starts afresh when full. Schemas are immutable,
// so entries never go stale.
type schemaCache struct {
	mu      sync.Mutex
	schemas map[*stream.Schema]*stream.Schema
}

const schemaCacheSize = 64

// get returns the schema derived from in, building it with build on a miss. Errors are not cached.
func (c *schemaCache) get(in *stream.Schema, build func(*stream.Schema) (*stream.Schema, error)) (*stream.Schema, error) {
	c.mu.Lock()
	out, ok := c.schemas[in]
	c.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := build(in)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.schemas == nil || len(c.schemas) >= schemaCacheSize {
		c.schemas = make(map[*stream.Schema]*stream.Schema)
	}
	c.schemas[in] = out
	c.mu.Unlock()
	return out, nil
}

// FieldSyntax says how a field path is written, as Kafka Connect's field.syntax.version (KIP-821).
type FieldSyntax string

const (
	// FieldSyntaxV1 reads the path as one top-level field name, dots included. It is the default.
	FieldSyntaxV1 FieldSyntax = "V1"
	// FieldSyntaxV2 reads the path as dot-separated field names from the top level down ("after.id"). A
	// name that contains dots is wrapped in backticks ("`a.b`.c"); a backtick followed by a dot inside a
	// wrapped name is escaped with a backslash.
	FieldSyntaxV2 FieldSyntax = "V2"
)

// parseFieldPath splits path into field names according to syntax ("" is V1).
func parseFieldPath(path string, syntax FieldSyntax) ([]string, error) {
	switch syntax {
	case "", FieldSyntaxV1:
		return []string{path}, nil
	case FieldSyntaxV2:
		return parseFieldPathV2(path)
	}
	return nil, fmt.Errorf("unknown field syntax %q (want %q or %q)", syntax, FieldSyntaxV1, FieldSyntaxV2)
}

// parseFieldPathV2 splits a V2 path as Connect's SingleFieldPath does.
func parseFieldPathV2(path string) ([]string, error) {
	var steps []string
	incomplete := func(at int) error {
		return fmt.Errorf("incomplete backtick pair in path %q: add a backslash before the backtick at position %d to escape it", path, at)
	}
	i := 0
	for i < len(path) {
		if path[i] != '`' {
			j := strings.IndexByte(path[i:], '.')
			if j < 0 {
				steps = append(steps, path[i:])
				i = len(path)
				break
			}
			steps = append(steps, path[i:i+j])
			i += j + 1
			continue
		}
		opening := i
		i++
		var field strings.Builder
		start := i
		for {
			j := strings.IndexByte(path[i:], '`')
			if j < 0 {
				return nil, incomplete(opening)
			}
			i += j
			escaped := path[i-1] == '\\'
			if i >= len(path)-1 { // the closing backtick ends the path
				if escaped {
					return nil, incomplete(opening)
				}
				field.WriteString(path[start:i])
				steps = append(steps, field.String())
				i++
				break
			}
			if path[i+1] != '.' { // a backtick inside the name
				i++
				continue
			}
			if escaped { // \`. inside the name
				field.WriteString(path[start : i-1])
				field.WriteByte('`')
				i++
				start = i
				continue
			}
			field.WriteString(path[start:i])
			steps = append(steps, field.String())
			i += 2
			break
		}
	}
	if strings.HasSuffix(path, ".") {
		steps = append(steps, "")
	}
	if len(steps) == 0 {
		steps = []string{""}
	}
	return steps, nil
}

// logicalName returns the Connect logical type s is (stream.DecimalName, DateName, TimeName or
// TimestampName), or "" if it is none.
func logicalName(s *stream.Schema) string {
	if s == nil {
		return ""
	}
	switch {
	case s.Name == stream.DecimalName && s.Type == stream.TypeBytes,
		s.Name == stream.DateName && s.Type == stream.TypeInt32,
		s.Name == stream.TimeName && s.Type == stream.TypeInt32,
		s.Name == stream.TimestampName && s.Type == stream.TypeInt64:
		return s.Name
	}
	return ""
}
