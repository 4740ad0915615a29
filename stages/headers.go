package stages

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/sluicehq/sluice/stream"
)

// HeaderFromOperation says whether HeaderFromKey and HeaderFromValue leave the fields in the key or value
// (HeaderCopy) or remove them (HeaderMove). It is Connect's "operation" option of HeaderFrom.
type HeaderFromOperation string

// The operations of HeaderFrom.
const (
	HeaderCopy HeaderFromOperation = "copy"
	HeaderMove HeaderFromOperation = "move"
)

// HeaderFromConfig configures HeaderFromKey and HeaderFromValue, with Connect's HeaderFrom options.
type HeaderFromConfig struct {
	// Fields are the top-level fields whose values go into headers ("fields"). A field may be listed more
	// than once, to fill several headers.
	Fields []string
	// Headers are the names of the headers, one per field and in the same order ("headers"). A name may be
	// listed more than once, and may already be on the record: headers are always appended.
	Headers []string
	// Operation is HeaderCopy or HeaderMove ("operation"); there is no default, as in Connect.
	Operation HeaderFromOperation
}

// Validate reports the first problem with c: no fields, no headers, lists of different lengths, an empty
// field or header name, or an unknown operation. The error wraps ErrTransformConfig and names the option.
func (c HeaderFromConfig) Validate() error {
	switch {
	case len(c.Fields) == 0:
		return invalidStageOptionf("Fields", "must not be empty")
	case len(c.Headers) == 0:
		return invalidStageOptionf("Headers", "must not be empty")
	case len(c.Fields) != len(c.Headers):
		return invalidStageOptionf("Headers", "has %d names for %d Fields; they must pair up", len(c.Headers), len(c.Fields))
	}
	for i := range c.Fields {
		if c.Fields[i] == "" {
			return invalidStageOptionf(fmt.Sprintf("Fields[%d]", i), "must not be empty")
		}
		if c.Headers[i] == "" {
			return invalidStageOptionf(fmt.Sprintf("Headers[%d]", i), "must not be empty")
		}
	}
	if c.Operation != HeaderCopy && c.Operation != HeaderMove {
		return invalidStageOptionf("Operation", "must be %q or %q, got %q", HeaderCopy, HeaderMove, c.Operation)
	}
	return nil
}

// HeaderFromValue makes a stage that copies or moves fields of each record's value into headers, like
// Connect's HeaderFrom$Value. HeaderFromKey does the same with the key.
//
// With a schema (or a *stream.Struct value, whose own schema is used when Record.ValueSchema is nil) the
// value must be a *stream.Struct and every listed field must be in its schema; a move builds a new struct
// schema without the moved fields (same name, version, doc and parameters, not optional, as Connect's
// SchemaUtil.copySchemaBasics does). Without a schema the value must be a map[string]any; a missing key
// gives a header with a nil value, and a move returns a new map without the keys. Anything else is an error
// wrapping stream.ErrSchemaMismatch. The input record's map, struct and header slice are never modified.
//
// A nil value (a tombstone) passes through unchanged; Connect fails on it instead.
//
// Header values are bytes, so field values are encoded as a header converter would: nil as a nil header
// value (a Kafka null), strings as their UTF-8 bytes, []byte as is, numbers, booleans, Decimals and times
// as text like the "string" codec (Connect's SimpleHeaderConverter: "42", "1.5", "true"), and structs, maps
// and arrays as JSON like the "json" codec with the field's schema (`{"id":1,"name":"Ada"}`).
func HeaderFromValue(name string, cfg HeaderFromConfig) (Stage, error) {
	return hdrNewHeaderFrom("HeaderFromValue", name, cfg, false)
}

// HeaderFromKey is HeaderFromValue for the record's key (Connect's HeaderFrom$Key): it reads and, for
// HeaderMove, rewrites Record.Key and Record.KeySchema.
func HeaderFromKey(name string, cfg HeaderFromConfig) (Stage, error) {
	return hdrNewHeaderFrom("HeaderFromKey", name, cfg, true)
}

func hdrNewHeaderFrom(kind, name string, cfg HeaderFromConfig, key bool) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError(kind, name, ErrNoName)
	}
	if err := cfg.Validate(); err != nil {
		return nil, wrapStageConfigError(kind, name, err)
	}
	h := &hdrHeaderFrom{
		kind:    kind,
		name:    name,
		fields:  slices.Clone(cfg.Fields),
		headers: slices.Clone(cfg.Headers),
		move:    cfg.Operation == HeaderMove,
		key:     key,
	}
	return headerFromStage{FlatMap(name, h.process), h}, nil
}

type hdrHeaderFrom struct {
	kind, name      string
	fields, headers []string
	move, key       bool
}

func (h *hdrHeaderFrom) process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, value := r.ValueSchema, r.Value
	if h.key {
		schema, value = r.KeySchema, r.Key
	}
	st, isStruct := value.(*stream.Struct)
	if value == nil || (isStruct && st == nil) {
		return []stream.Record{r}, nil
	}
	if isStruct && schema == nil {
		schema = st.Schema()
	}
	added := make([]stream.Header, 0, len(h.fields))
	var err error
	if schema != nil {
		schema, value, err = h.withSchema(schema, value, &added)
	} else {
		value, err = h.schemaless(value, &added)
	}
	if err != nil {
		return nil, err
	}
	if h.key {
		r.KeySchema, r.Key = schema, value
	} else {
		r.ValueSchema, r.Value = schema, value
	}
	r.Headers = append(slices.Clip(r.Headers), added...)
	return []stream.Record{r}, nil
}

func (h *hdrHeaderFrom) what() string {
	if h.key {
		return "key"
	}
	return "value"
}

func (h *hdrHeaderFrom) withSchema(schema *stream.Schema, value any, added *[]stream.Header) (*stream.Schema, any, error) {
	st, ok := value.(*stream.Struct)
	if !ok {
		return nil, nil, fmt.Errorf("stages: %s %q: %w: %s with a schema must be a struct, got %s",
			h.kind, h.name, stream.ErrSchemaMismatch, h.what(), stream.TypeName(value))
	}
	for i, f := range h.fields {
		field, ok := st.Schema().Field(f)
		if !ok {
			return nil, nil, fmt.Errorf("stages: %s %q: %w: field %q: no such field in the %s schema",
				h.kind, h.name, stream.ErrSchemaMismatch, f, h.what())
		}
		b, err := hdrValueBytes(field.Schema, st.Get(f))
		if err != nil {
			return nil, nil, fmt.Errorf("stages: %s %q: field %q: %w", h.kind, h.name, f, err)
		}
		*added = append(*added, stream.Header{Key: h.headers[i], Value: b})
	}
	if !h.move {
		return schema, st, nil
	}
	moved := &stream.Schema{
		Type:       stream.TypeStruct,
		Name:       schema.Name,
		Version:    schema.Version,
		Doc:        schema.Doc,
		Parameters: maps.Clone(schema.Parameters),
	}
	for _, f := range st.Schema().Fields {
		if !slices.Contains(h.fields, f.Name) {
			moved.Fields = append(moved.Fields, stream.Field{Name: f.Name, Index: len(moved.Fields), Schema: f.Schema})
		}
	}
	out, err := stream.NewStructValue(moved)
	if err != nil {
		return nil, nil, fmt.Errorf("stages: %s %q: %w", h.kind, h.name, err)
	}
	for _, f := range moved.Fields {
		if err := out.Put(f.Name, st.Get(f.Name)); err != nil {
			return nil, nil, fmt.Errorf("stages: %s %q: %w", h.kind, h.name, err)
		}
	}
	return moved, out, nil
}

func (h *hdrHeaderFrom) schemaless(value any, added *[]stream.Header) (any, error) {
	m, ok := value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("stages: %s %q: %w: schemaless %s must be a map with string keys (an object), got %s%s",
			h.kind, h.name, stream.ErrSchemaMismatch, h.what(), stream.TypeName(value), parseHint(value))
	}
	for i, f := range h.fields {
		b, err := hdrValueBytes(nil, m[f])
		if err != nil {
			return nil, fmt.Errorf("stages: %s %q: field %q: %w", h.kind, h.name, f, err)
		}
		*added = append(*added, stream.Header{Key: h.headers[i], Value: b})
	}
	if !h.move {
		return m, nil
	}
	out := maps.Clone(m)
	for _, f := range h.fields {
		delete(out, f)
	}
	return out, nil
}

// hdrValueBytes encodes a value of the data model as a header value: see HeaderFromValue.
func hdrValueBytes(schema *stream.Schema, v any) ([]byte, error) {
	switch v.(type) {
	case nil:
		return nil, nil
	case *stream.Struct, []any, map[string]any, map[any]any:
		return stream.JSONCodec{}.Encode(schema, v)
	}
	return stream.StringCodec{}.Encode(schema, v)
}

// InsertHeader makes a stage that appends the header key with the given value to every record, like
// Connect's InsertHeader ("header", "literal.value"). A header of the same name already on the record is
// kept: Kafka headers may repeat. A nil value makes a header with a Kafka null value, as a null
// literal.value does. value is copied: at build time, and again for each record, so that a later stage that
// changes one record's header bytes cannot change another's. An empty key is an error wrapping
// ErrTransformConfig that names "header".
func InsertHeader(name, key string, value []byte) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError("InsertHeader", name, ErrNoName)
	}
	if key == "" {
		return nil, wrapStageConfigError("InsertHeader", name, invalidStageOptionf("header", "must not be empty"))
	}
	value = slices.Clone(value)
	return keepsShape(Map(name, func(r stream.Record) (stream.Record, error) {
		r.Headers = append(slices.Clip(r.Headers), stream.Header{Key: key, Value: slices.Clone(value)})
		return r, nil
	})), nil
}

// DropHeaders makes a stage that removes every header whose key is one of keys, like Connect's DropHeaders
// ("names"). The other headers keep their order; a record without such headers passes through with its
// header slice untouched. No keys, or an empty key, is an error wrapping ErrTransformConfig.
func DropHeaders(name string, keys ...string) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError("DropHeaders", name, ErrNoName)
	}
	if len(keys) == 0 {
		return nil, wrapStageConfigError("DropHeaders", name, invalidStageOptionf("names", "must not be empty"))
	}
	for i, k := range keys {
		if k == "" {
			return nil, wrapStageConfigError("DropHeaders", name, invalidStageOptionf(fmt.Sprintf("names[%d]", i), "must not be empty"))
		}
	}
	drop := make(map[string]bool, len(keys))
	for _, k := range keys {
		drop[k] = true
	}
	return keepsShape(Map(name, func(r stream.Record) (stream.Record, error) {
		if !slices.ContainsFunc(r.Headers, func(h stream.Header) bool { return drop[h.Key] }) {
			return r, nil
		}
		kept := make([]stream.Header, 0, len(r.Headers))
		for _, h := range r.Headers {
			if !drop[h.Key] {
				kept = append(kept, h)
			}
		}
		r.Headers = kept
		return r, nil
	})), nil
}
