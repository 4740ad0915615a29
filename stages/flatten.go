package stages

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// DefaultFlattenDelimiter is the delimiter Flatten uses when given none, as in Kafka Connect.
const DefaultFlattenDelimiter = "."

// Flatten makes a stage that flattens the nested structs or maps of the key or value into one level, naming
// each field by joining the names on its path with delimiter ("" for DefaultFlattenDelimiter): Kafka
// Connect's Flatten transform. {"a": {"b": 1}} becomes {"a.b": 1}.
//
// With a schema the value must be a struct. Nested struct fields are replaced by their fields; other fields,
// arrays and maps included, are kept as they are. A flattened field is optional if it or any struct above
// it is optional, and takes its default from its own schema or else from the default of a struct above it.
// The flattened schema keeps the name, version, doc and parameters of the old one.
//
// Without a schema the value must be a map; nested maps are flattened, and other values (arrays included)
// are kept as they are. A struct inside a schemaless value is an error for the record.
//
// Two fields that flatten to the same name are an error for the record. A nil key or value passes through
// unchanged.
func Flatten(name, delimiter string, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("flatten", name); err != nil {
		return nil, err
	}
	if delimiter == "" {
		delimiter = DefaultFlattenDelimiter
	}
	return &flattenStage{name: name, target: newFieldTarget(opts), delimiter: delimiter}, nil
}

type flattenStage struct {
	name      string
	target    fieldTarget
	delimiter string
	cache     schemaCache
}

func (s *flattenStage) Name() string { return s.name }

func (s *flattenStage) join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + s.delimiter + name
}

// Process flattens r's value (or key).
func (s *flattenStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := s.target.get(&r)
	if v == nil {
		return []stream.Record{r}, nil
	}
	if schema == nil {
		m, err := s.target.requireObject(v)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		if err := s.flattenObject(m, "", out); err != nil {
			return nil, err
		}
		s.target.set(&r, nil, out)
		return []stream.Record{r}, nil
	}
	st, err := s.target.requireStruct(v)
	if err != nil {
		return nil, err
	}
	updated, err := s.cache.get(schema, s.updatedSchema)
	if err != nil {
		return nil, err
	}
	values := make(map[string]any, len(updated.Fields))
	s.flattenStruct(st, "", values)
	out, err := structOf(updated, values)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	s.target.set(&r, updated, out)
	return []stream.Record{r}, nil
}

func (s *flattenStage) flattenObject(m map[string]any, prefix string, out map[string]any) error {
	for _, key := range slices.Sorted(maps.Keys(m)) {
		name := s.join(prefix, key)
		switch v := m[key].(type) {
		case map[string]any, map[any]any:
			nested, ok := objectOf(v)
			if !ok {
				return s.target.errorf(name, "is a map with keys that are not strings")
			}
			if err := s.flattenObject(nested, name, out); err != nil {
				return err
			}
			continue
		case nil, bool, int8, int16, int32, int64, float32, float64, string, []byte, []any, stream.Decimal, time.Time:
		default:
			return s.target.errorf(name, "is %s, which cannot be flattened without a schema", stream.TypeName(v))
		}
		if _, dup := out[name]; dup {
			return s.target.errorf(name, "two fields flatten to this name")
		}
		out[name] = m[key]
	}
	return nil
}

func (s *flattenStage) flattenStruct(st *stream.Struct, prefix string, values map[string]any) {
	if st == nil {
		return
	}
	for _, f := range st.Schema().Fields {
		name := s.join(prefix, f.Name)
		if f.Schema.Type == stream.TypeStruct {
			nested, _ := st.Get(f.Name).(*stream.Struct)
			s.flattenStruct(nested, name, values)
			continue
		}
		values[name] = st.Get(f.Name)
	}
}

func (s *flattenStage) updatedSchema(schema *stream.Schema) (*stream.Schema, error) {
	if schema.Type != stream.TypeStruct {
		return nil, s.target.errorf("", "schema is %s; flattening needs a struct", describeSchema(schema))
	}
	var fields []stream.Field
	parentDefault, _ := schema.Default.(*stream.Struct)
	s.flattenSchema(schema, "", schema.Optional, parentDefault, &fields)
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if seen[f.Name] {
			return nil, s.target.errorf(f.Name, "two fields flatten to this name")
		}
		seen[f.Name] = true
	}
	updated, err := newStructSchema(schema, fields)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	return updated, nil
}

// flattenSchema appends the flattened fields of the struct schema to fields. optional says whether a struct
// above is optional, parentDefault is the default of the struct (nil if none).
func (s *flattenStage) flattenSchema(schema *stream.Schema, prefix string, optional bool, parentDefault *stream.Struct, fields *[]stream.Field) {
	for _, f := range schema.Fields {
		name := s.join(prefix, f.Name)
		fieldOptional := optional || f.Schema.Optional
		fieldDefault := f.Schema.Default
		if fieldDefault == nil && parentDefault != nil {
			fieldDefault = parentDefault.Get(f.Name)
		}
		if f.Schema.Type == stream.TypeStruct {
			nestedDefault, _ := fieldDefault.(*stream.Struct)
			s.flattenSchema(f.Schema, name, fieldOptional, nestedDefault, fields)
			continue
		}
		// Connect's copySchemaBasics, then the optionality and default found on the way down.
		fs := &stream.Schema{
			Type: f.Schema.Type, Name: f.Schema.Name, Version: f.Schema.Version, Doc: f.Schema.Doc,
			Parameters: maps.Clone(f.Schema.Parameters), Items: f.Schema.Items, Key: f.Schema.Key, Value: f.Schema.Value,
			Optional: fieldOptional, Default: fieldDefault,
		}
		*fields = append(*fields, stream.Field{Name: name, Schema: fs})
	}
}
