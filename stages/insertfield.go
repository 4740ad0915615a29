package stages

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// InsertFieldConfig configures InsertField with Kafka Connect's InsertField options. Each *Field option
// names a field to insert, "" for none. As in Connect, a name may end in "!" to make the field required in
// the updated schema, or in "?" to make it optional (the default); the suffix is not part of the name.
type InsertFieldConfig struct {
	// TopicField gets the record's topic, a string.
	TopicField string
	// PartitionField gets the record's partition, an int32.
	PartitionField string
	// OffsetField gets the record's offset, an int64. Only records read from Kafka have one, so only
	// stages after Kafka (ELT, in front of a sink) may use it.
	OffsetField string
	// TimestampField gets the record's timestamp: a Timestamp (time.Time) with a schema, int64 Unix
	// milliseconds without. Records without a timestamp get none.
	TimestampField string
	// StaticField gets StaticValue, a string.
	StaticField string
	StaticValue string
}

// Validate reports a configuration that inserts nothing, a StaticField without a StaticValue, and empty or
// repeated field names.
func (c InsertFieldConfig) Validate() error {
	_, err := c.specs("")
	return err
}

// insertSpec is one field to insert.
type insertSpec struct {
	name     string
	optional bool
}

// insertSpecs are the fields InsertField inserts; nil members insert nothing.
type insertSpecs struct {
	topic, partition, offset, timestamp, static *insertSpec
}

func (c InsertFieldConfig) specs(stage string) (insertSpecs, error) {
	var specs insertSpecs
	seen := map[string]string{}
	parse := func(option, spec string) (*insertSpec, error) {
		if spec == "" {
			return nil, nil
		}
		s := &insertSpec{name: spec, optional: true}
		if name, ok := strings.CutSuffix(spec, "!"); ok {
			s.name, s.optional = name, false
		} else if name, ok := strings.CutSuffix(spec, "?"); ok {
			s.name = name
		}
		if s.name == "" {
			return nil, configErrorf(stage, option, "%q has no field name", spec)
		}
		if other, dup := seen[s.name]; dup {
			return nil, configErrorf(stage, option, "field %q is also inserted by %s", s.name, other)
		}
		seen[s.name] = option
		return s, nil
	}
	var err error
	if specs.topic, err = parse("TopicField", c.TopicField); err != nil {
		return specs, err
	}
	if specs.partition, err = parse("PartitionField", c.PartitionField); err != nil {
		return specs, err
	}
	if specs.offset, err = parse("OffsetField", c.OffsetField); err != nil {
		return specs, err
	}
	if specs.timestamp, err = parse("TimestampField", c.TimestampField); err != nil {
		return specs, err
	}
	if specs.static, err = parse("StaticField", c.StaticField); err != nil {
		return specs, err
	}
	switch {
	case specs == insertSpecs{}:
		return specs, configErrorf(stage, "InsertFieldConfig", "inserts no field; set TopicField, PartitionField, OffsetField, TimestampField or StaticField")
	case specs.static != nil && c.StaticValue == "":
		return specs, configErrorf(stage, "StaticValue", "is empty for StaticField %q", specs.static.name)
	case specs.static == nil && c.StaticValue != "":
		return specs, configErrorf(stage, "StaticValue", "is set but StaticField is not")
	}
	return specs, nil
}

// InsertField makes a stage that adds fields from the record's metadata (topic, partition, offset,
// timestamp) or a static string to the key or value: Kafka Connect's InsertField transform.
//
// Without a schema the value must be a map, which gets the fields as entries (replacing entries of the
// same names). With a schema it must be a struct; the updated schema keeps the name, version, doc and
// parameters of the old one, and its fields, followed by the inserted ones (string, int32, int64,
// Timestamp, string), optional or required as configured. Inserting a field the schema already has is an
// error for the record, as is a required timestamp field for a record without a timestamp. A nil key or
// value (a tombstone) passes through unchanged.
func InsertField(name string, cfg InsertFieldConfig, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("insert-field", name); err != nil {
		return nil, err
	}
	specs, err := cfg.specs(name)
	if err != nil {
		return nil, err
	}
	return &insertFieldStage{name: name, target: newFieldTarget(opts), specs: specs, staticValue: cfg.StaticValue}, nil
}

type insertFieldStage struct {
	name        string
	target      fieldTarget
	specs       insertSpecs
	staticValue string
	cache       schemaCache
}

func (s *insertFieldStage) Name() string { return s.name }

// Process inserts the configured fields into r's value (or key).
func (s *insertFieldStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := s.target.get(&r)
	if v == nil {
		return []stream.Record{r}, nil
	}
	if s.specs.offset != nil && r.Position != nil {
		// Connect's requireSinkRecord: a record that still carries its source position was not read from Kafka.
		return nil, s.target.errorf(s.specs.offset.name, "the record has no Kafka offset: it was not read from Kafka (it carries a source position)")
	}
	if schema == nil {
		m, err := s.target.requireObject(v)
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		for name, fv := range s.inserted(&r, false) {
			out[name] = fv
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
	values := s.inserted(&r, true)
	for _, f := range schema.Fields {
		values[f.Name] = st.Get(f.Name)
	}
	if ts := s.specs.timestamp; ts != nil && !ts.optional && values[ts.name] == nil {
		return nil, s.target.errorf(ts.name, "the record has no timestamp for this required field")
	}
	out, err := structOf(updated, values)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	s.target.set(&r, updated, out)
	return []stream.Record{r}, nil
}

// inserted returns the values of the fields to insert, by name; the timestamp is a time.Time with a schema,
// Unix milliseconds without, and left out when the record has none.
func (s *insertFieldStage) inserted(r *stream.Record, withSchema bool) map[string]any {
	values := make(map[string]any, 5)
	if sp := s.specs.topic; sp != nil {
		values[sp.name] = r.Topic
	}
	if sp := s.specs.partition; sp != nil {
		values[sp.name] = r.Partition
	}
	if sp := s.specs.offset; sp != nil {
		values[sp.name] = r.Offset
	}
	if sp := s.specs.timestamp; sp != nil && !r.Timestamp.IsZero() {
		if withSchema {
			values[sp.name] = time.UnixMilli(r.Timestamp.UnixMilli()).UTC()
		} else {
			values[sp.name] = r.Timestamp.UnixMilli()
		}
	}
	if sp := s.specs.static; sp != nil {
		values[sp.name] = s.staticValue
	}
	return values
}

func (s *insertFieldStage) updatedSchema(schema *stream.Schema) (*stream.Schema, error) {
	if schema.Type != stream.TypeStruct {
		return nil, s.target.errorf("", "schema is %s; inserting fields needs a struct", describeSchema(schema))
	}
	fields := append([]stream.Field(nil), schema.Fields...)
	add := func(sp *insertSpec, fs *stream.Schema) error {
		if sp == nil {
			return nil
		}
		if _, exists := schema.Field(sp.name); exists {
			return s.target.errorf(sp.name, "cannot be inserted: the schema already has a field of that name")
		}
		fs.Optional = sp.optional
		fields = append(fields, stream.Field{Name: sp.name, Schema: fs})
		return nil
	}
	for _, err := range []error{
		add(s.specs.topic, stream.StringSchema()),
		add(s.specs.partition, stream.Int32Schema()),
		add(s.specs.offset, stream.Int64Schema()),
		add(s.specs.timestamp, stream.TimestampSchema()),
		add(s.specs.static, stream.StringSchema()),
	} {
		if err != nil {
			return nil, err
		}
	}
	updated, err := newStructSchema(schema, fields)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	return updated, nil
}
