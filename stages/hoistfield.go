package stages

import (
	"context"

	"github.com/sluicehq/sluice/stream"
)

// HoistField makes a stage that wraps the key or value in a struct (with a schema) or a map (without) that
// has it as its only field, field: Kafka Connect's HoistField transform. 42 becomes {"field": 42}.
//
// With a schema, the new schema is an unnamed, required struct whose one field has the old schema. As in
// Connect, a nil key or value is wrapped too: without a schema it becomes {"field": nil} (so a tombstone
// stops being one), and with a schema it is an error for the record unless the schema is optional or has a
// default.
func HoistField(name, field string, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("hoist-field", name); err != nil {
		return nil, err
	}
	if field == "" {
		return nil, configErrorf(name, "field", "is empty")
	}
	return &hoistFieldStage{name: name, target: newFieldTarget(opts), field: field}, nil
}

type hoistFieldStage struct {
	name   string
	target fieldTarget
	field  string
	cache  schemaCache
}

func (s *hoistFieldStage) Name() string { return s.name }

// Process wraps r's value (or key).
func (s *hoistFieldStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := s.target.get(&r)
	if schema == nil {
		s.target.set(&r, nil, map[string]any{s.field: v})
		return []stream.Record{r}, nil
	}
	updated, err := s.cache.get(schema, func(schema *stream.Schema) (*stream.Schema, error) {
		updated, err := newStructSchema(nil, []stream.Field{{Name: s.field, Schema: schema}})
		if err != nil {
			return nil, s.target.wrap("", err)
		}
		return updated, nil
	})
	if err != nil {
		return nil, err
	}
	out, err := structOf(updated, map[string]any{s.field: v})
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	s.target.set(&r, updated, out)
	return []stream.Record{r}, nil
}
