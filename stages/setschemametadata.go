package stages

import (
	"context"
	"math"

	"github.com/sluicehq/sluice/stream"
)

// SchemaMetadata configures SetSchemaMetadata with Kafka Connect's SetSchemaMetadata options: the schema
// name and version to set. The zero value of each leaves the schema's own.
type SchemaMetadata struct {
	// Name replaces the schema name unless empty.
	Name string
	// Version replaces the schema version unless 0. It must fit in an int32.
	Version int
}

// Validate reports a configuration that sets nothing, and a Version out of the int32 range.
func (c SchemaMetadata) Validate() error {
	return c.validate("")
}

func (c SchemaMetadata) validate(stage string) error {
	switch {
	case c.Name == "" && c.Version == 0:
		return configErrorf(stage, "SchemaMetadata", "sets neither Name nor Version")
	case c.Version < math.MinInt32 || c.Version > math.MaxInt32:
		return configErrorf(stage, "Version", "%d does not fit in an int32", c.Version)
	}
	return nil
}

// SetSchemaMetadata makes a stage that sets the name, the version or both of the key or value schema:
// Kafka Connect's SetSchemaMetadata transform. Everything else about the schema (type, fields,
// optionality, default, doc, parameters) is kept; a struct value (and a struct default) is rebuilt on the
// renamed schema, and other values are unchanged.
//
// A value without a schema is an error for the record, as in Connect, except a nil one (a tombstone), which
// passes through unchanged.
func SetSchemaMetadata(name string, cfg SchemaMetadata, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("set-schema-metadata", name); err != nil {
		return nil, err
	}
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	return &setSchemaMetadataStage{name: name, target: newFieldTarget(opts), meta: cfg}, nil
}

type setSchemaMetadataStage struct {
	name   string
	target fieldTarget
	meta   SchemaMetadata
	cache  schemaCache
}

func (s *setSchemaMetadataStage) Name() string { return s.name }

// Process sets the metadata of r's value (or key) schema.
func (s *setSchemaMetadataStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := s.target.get(&r)
	if schema == nil {
		if v == nil {
			return []stream.Record{r}, nil
		}
		return nil, s.target.errorf("", "has no schema to update")
	}
	updated, err := s.cache.get(schema, s.updatedSchema)
	if err != nil {
		return nil, err
	}
	if st, ok := v.(*stream.Struct); ok && st != nil && updated.Type == stream.TypeStruct {
		if v, err = restruct(st, updated); err != nil {
			return nil, s.target.wrap("", err)
		}
	}
	s.target.set(&r, updated, v)
	return []stream.Record{r}, nil
}

func (s *setSchemaMetadataStage) updatedSchema(schema *stream.Schema) (*stream.Schema, error) {
	updated := copySchema(schema)
	if s.meta.Name != "" {
		updated.Name = s.meta.Name
	}
	if s.meta.Version != 0 {
		updated.Version = s.meta.Version
	}
	if d, ok := schema.Default.(*stream.Struct); ok && d != nil && schema.Type == stream.TypeStruct {
		// A struct default is a Struct of the schema, so it is renamed too.
		c := copySchema(updated)
		c.Default = nil
		nd, err := restruct(d, c)
		if err != nil {
			return nil, s.target.wrap("", err)
		}
		updated.Default = nd
	}
	return updated, nil
}
