package stages

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// MaskFieldConfig configures MaskField with Kafka Connect's MaskField options.
type MaskFieldConfig struct {
	// Fields are the fields to mask.
	Fields []string
	// Replacement, if set, is the value masked fields get instead of their type's empty value: a number for
	// numeric fields (parsed to the field's type), the string itself for string fields. Other fields cannot
	// take a replacement.
	Replacement string
}

// Validate reports an empty Fields list and empty or repeated field names.
func (c MaskFieldConfig) Validate() error {
	return checkFieldNames("", "Fields", c.Fields, true)
}

// MaskField makes a stage that masks fields of the key or value: Kafka Connect's MaskField transform.
//
// Without a Replacement a masked field gets the empty value of its type: false, 0, "", a zero Decimal,
// the epoch (1970-01-01T00:00:00Z) for Date, Time and Timestamp values, an empty array or map. Bytes and
// struct fields cannot be masked. With a Replacement, numeric (including Decimal) and string fields get it
// instead, and other fields cannot be masked. A field that cannot be masked, or a Replacement that does not
// parse as the field's type, is an error for the record.
//
// Fields that hold nil stay nil, fields that the value lacks are left alone, the schema is unchanged, and a
// nil key or value passes through unchanged.
func MaskField(name string, cfg MaskFieldConfig, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("mask-field", name); err != nil {
		return nil, err
	}
	if err := checkFieldNames(name, "Fields", cfg.Fields, true); err != nil {
		return nil, err
	}
	s := &maskFieldStage{name: name, target: newFieldTarget(opts), fields: make(map[string]bool), replacement: cfg.Replacement}
	for _, f := range cfg.Fields {
		s.fields[f] = true
	}
	return s, nil
}

type maskFieldStage struct {
	name        string
	target      fieldTarget
	fields      map[string]bool
	replacement string
}

func (s *maskFieldStage) Name() string { return s.name }

// Process masks the configured fields of r's value (or key).
func (s *maskFieldStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := s.target.get(&r)
	if v == nil {
		return []stream.Record{r}, nil
	}
	if schema == nil {
		m, err := s.target.requireObject(v)
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		for field := range s.fields {
			fv, ok := m[field]
			if !ok {
				continue
			}
			if out[field], err = s.mask(nil, fv); err != nil {
				return nil, s.target.wrap(field, err)
			}
		}
		s.target.set(&r, nil, out)
		return []stream.Record{r}, nil
	}
	st, err := s.target.requireStruct(v)
	if err != nil {
		return nil, err
	}
	values := make(map[string]any, len(st.Schema().Fields))
	for _, f := range st.Schema().Fields {
		fv := st.Get(f.Name)
		if s.fields[f.Name] {
			if fv, err = s.mask(f.Schema, fv); err != nil {
				return nil, s.target.wrap(f.Name, err)
			}
		}
		values[f.Name] = fv
	}
	out, err := structOf(st.Schema(), values)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	s.target.set(&r, schema, out)
	return []stream.Record{r}, nil
}

// mask returns the masked form of v, a value of schema (nil when schemaless). Like Connect, it goes by the
// Go type of v.
func (s *maskFieldStage) mask(schema *stream.Schema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s.replacement != "" {
		return s.replace(schema, v)
	}
	switch x := v.(type) {
	case bool:
		return false, nil
	case int8:
		return int8(0), nil
	case int16:
		return int16(0), nil
	case int32:
		return int32(0), nil
	case int64:
		return int64(0), nil
	case float32:
		return float32(0), nil
	case float64:
		return float64(0), nil
	case string:
		return "", nil
	case stream.Decimal:
		return stream.Decimal{Unscaled: new(big.Int), Scale: x.Scale}, nil
	case time.Time:
		return time.Unix(0, 0).UTC(), nil
	case []any:
		return []any{}, nil
	case map[string]any:
		return map[string]any{}, nil
	case map[any]any:
		return map[any]any{}, nil
	}
	return nil, fmt.Errorf("cannot mask a value of type %s", stream.TypeName(v))
}

// replace returns the Replacement as a value of v's type.
func (s *maskFieldStage) replace(schema *stream.Schema, v any) (any, error) {
	bad := func(err error) (any, error) {
		return nil, fmt.Errorf("replacement %q does not convert to %s: %w", s.replacement, stream.TypeName(v), err)
	}
	parseInt := func(bits int) (int64, error) { return strconv.ParseInt(s.replacement, 10, bits) }
	switch x := v.(type) {
	case string:
		return s.replacement, nil
	case int8:
		n, err := parseInt(8)
		if err != nil {
			return bad(err)
		}
		return int8(n), nil
	case int16:
		n, err := parseInt(16)
		if err != nil {
			return bad(err)
		}
		return int16(n), nil
	case int32:
		n, err := parseInt(32)
		if err != nil {
			return bad(err)
		}
		return int32(n), nil
	case int64:
		n, err := parseInt(64)
		if err != nil {
			return bad(err)
		}
		return n, nil
	case float32:
		f, err := strconv.ParseFloat(s.replacement, 32)
		if err != nil {
			return bad(err)
		}
		return float32(f), nil
	case float64:
		f, err := strconv.ParseFloat(s.replacement, 64)
		if err != nil {
			return bad(err)
		}
		return f, nil
	case stream.Decimal:
		d, err := stream.ParseDecimal(s.replacement)
		if err != nil {
			return bad(err)
		}
		if schema == nil {
			return d, nil
		}
		// A Decimal field has one scale: give the replacement the field's scale (the value's, when valid).
		if d, err = d.Rescale(x.Scale); err != nil {
			return bad(err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("cannot mask a value of type %s with a replacement", stream.TypeName(v))
}
