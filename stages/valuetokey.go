package stages

import (
	"context"

	"github.com/sluicehq/sluice/stream"
)

// ValueToKey makes a stage that replaces the record key by a struct (with a value schema) or a map (without)
// of the given fields of the value: Kafka Connect's ValueToKey transform. The value is unchanged.
//
// With a schema the value must be a struct with every field listed, or the record is in error; the key
// schema is an unnamed struct of those fields with their schemas, in the order given. Without a schema the
// value must be a map, and a field it lacks is nil in the key. As in Connect, a nil value (a tombstone) is
// an error for the record: there is nothing to build the key from, and keeping the old key would not match
// the keys of the records it deletes.
func ValueToKey(name string, fields []string) (Stage, error) {
	if err := checkStageName("value-to-key", name); err != nil {
		return nil, err
	}
	if err := checkFieldNames(name, "fields", fields, true); err != nil {
		return nil, err
	}
	return &valueToKeyStage{name: name, fields: append([]string(nil), fields...)}, nil
}

type valueToKeyStage struct {
	name   string
	fields []string
	cache  schemaCache
}

func (s *valueToKeyStage) Name() string { return s.name }

// Process sets r's key from its value.
func (s *valueToKeyStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	value := fieldTarget{}
	if r.Value == nil {
		return nil, value.errorf("", "is nil (a tombstone): there are no fields to copy to the key")
	}
	if r.ValueSchema == nil {
		m, err := value.requireObject(r.Value)
		if err != nil {
			return nil, err
		}
		key := make(map[string]any, len(s.fields))
		for _, f := range s.fields {
			key[f] = m[f]
		}
		r.KeySchema, r.Key = nil, key
		return []stream.Record{r}, nil
	}
	st, err := value.requireStruct(r.Value)
	if err != nil {
		return nil, err
	}
	keySchema, err := s.cache.get(r.ValueSchema, s.keySchema)
	if err != nil {
		return nil, err
	}
	values := make(map[string]any, len(s.fields))
	for _, f := range s.fields {
		values[f] = st.Get(f)
	}
	key, err := structOf(keySchema, values)
	if err != nil {
		return nil, fieldTarget{key: true}.wrap("", err)
	}
	r.KeySchema, r.Key = keySchema, key
	return []stream.Record{r}, nil
}

// keySchema derives the key schema from the value schema.
func (s *valueToKeyStage) keySchema(valueSchema *stream.Schema) (*stream.Schema, error) {
	value := fieldTarget{}
	if valueSchema.Type != stream.TypeStruct {
		return nil, value.errorf("", "schema is %s; copying fields to the key needs a struct", describeSchema(valueSchema))
	}
	fields := make([]stream.Field, len(s.fields))
	for i, name := range s.fields {
		f, ok := valueSchema.Field(name)
		if !ok {
			return nil, value.errorf(name, "does not exist")
		}
		fields[i] = stream.Field{Name: name, Schema: f.Schema}
	}
	keySchema, err := newStructSchema(nil, fields)
	if err != nil {
		return nil, fieldTarget{key: true}.wrap("", err)
	}
	return keySchema, nil
}
