package stages

import (
	"context"
	"maps"
	"slices"

	"github.com/sluicehq/sluice/stream"
)

// ReplaceFieldConfig configures ReplaceField, with Kafka Connect's ReplaceField options.
type ReplaceFieldConfig struct {
	// Exclude lists fields to drop. It takes precedence over Include.
	Exclude []string
	// Include, if not empty, lists the only fields to keep.
	Include []string
	// Renames maps old field names to new ones, applied to the fields that are kept.
	Renames map[string]string
}

// Validate reports empty or repeated field names, and renames that give two fields the same name.
func (c ReplaceFieldConfig) Validate() error {
	return c.validate("")
}

func (c ReplaceFieldConfig) validate(stage string) error {
	if err := checkFieldNames(stage, "Exclude", c.Exclude, false); err != nil {
		return err
	}
	if err := checkFieldNames(stage, "Include", c.Include, false); err != nil {
		return err
	}
	to := make(map[string]string, len(c.Renames))
	for _, from := range slices.Sorted(maps.Keys(c.Renames)) {
		name := c.Renames[from]
		switch {
		case from == "" || name == "":
			return configErrorf(stage, "Renames", "renames %q to %q; field names cannot be empty", from, name)
		case to[name] != "":
			return configErrorf(stage, "Renames", "renames both %q and %q to %q", to[name], from, name)
		}
		to[name] = from
	}
	return nil
}

// ReplaceField makes a stage that drops, keeps or renames the fields of the key or value: Kafka Connect's
// ReplaceField transform. A field is kept if it is not in Exclude and Include is empty or lists it; kept
// fields are then renamed by Renames.
//
// With a schema, the new struct schema keeps the name, version, doc and parameters of the old one and the
// schemas of the kept fields. A renamed field that lands on the name of another kept field is an error for
// the record. A nil key or value passes through unchanged.
func ReplaceField(name string, cfg ReplaceFieldConfig, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("replace-field", name); err != nil {
		return nil, err
	}
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	s := &replaceFieldStage{
		name:    name,
		target:  newFieldTarget(opts),
		exclude: make(map[string]bool, len(cfg.Exclude)),
		include: make(map[string]bool, len(cfg.Include)),
		renames: maps.Clone(cfg.Renames),
	}
	for _, f := range cfg.Exclude {
		s.exclude[f] = true
	}
	for _, f := range cfg.Include {
		s.include[f] = true
	}
	return s, nil
}

type replaceFieldStage struct {
	name             string
	target           fieldTarget
	exclude, include map[string]bool
	renames          map[string]string
	cache            schemaCache
}

func (s *replaceFieldStage) Name() string { return s.name }

func (s *replaceFieldStage) keep(field string) bool {
	return !s.exclude[field] && (len(s.include) == 0 || s.include[field])
}

func (s *replaceFieldStage) renamed(field string) string {
	if to, ok := s.renames[field]; ok {
		return to
	}
	return field
}

// Process replaces the fields of r's value (or key).
func (s *replaceFieldStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
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
		from := make(map[string]string, len(m))
		for _, field := range slices.Sorted(maps.Keys(m)) {
			if !s.keep(field) {
				continue
			}
			to := s.renamed(field)
			if other, dup := from[to]; dup {
				return nil, s.target.errorf(to, "both %q and %q would be named %q", other, field, to)
			}
			from[to] = field
			out[to] = m[field]
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
	for _, f := range schema.Fields {
		if s.keep(f.Name) {
			values[s.renamed(f.Name)] = st.Get(f.Name)
		}
	}
	out, err := structOf(updated, values)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	s.target.set(&r, updated, out)
	return []stream.Record{r}, nil
}

func (s *replaceFieldStage) updatedSchema(schema *stream.Schema) (*stream.Schema, error) {
	if schema.Type != stream.TypeStruct {
		return nil, s.target.errorf("", "schema is %s; replacing fields needs a struct", describeSchema(schema))
	}
	var fields []stream.Field
	from := make(map[string]string, len(schema.Fields))
	for _, f := range schema.Fields {
		if !s.keep(f.Name) {
			continue
		}
		to := s.renamed(f.Name)
		if other, dup := from[to]; dup {
			return nil, s.target.errorf(to, "both %q and %q would be named %q", other, f.Name, to)
		}
		from[to] = f.Name
		fields = append(fields, stream.Field{Name: to, Schema: f.Schema})
	}
	updated, err := newStructSchema(schema, fields)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	return updated, nil
}
