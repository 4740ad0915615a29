package stream

import (
	"math"
	"time"
)

// Validate checks that v is a value of s: the Go type for each schema type (see Schema), every required
// struct field present, nil only where the schema is optional or has a default, nested values recursively.
// A nil s accepts any value made of the Go types of the data model (schemaless data).
//
// The error wraps ErrSchemaMismatch (or ErrInvalidSchema for a malformed schema) and names the path of the
// offending field: `stream: schema mismatch: field "address.zip": expected int32, got string`.
func (s *Schema) Validate(v any) error {
	if s == nil {
		return validateSchemaless(v)
	}
	return validateValue(s, v)
}

// Check reports whether s is well formed: a known Type; a Version within int32; Items, Key and Value present
// where the type needs them; non-empty, unique struct field names with non-nil schemas; a valid Decimal scale; defaults that are
// values of their schemas. It checks nested schemas too. Errors wrap ErrInvalidSchema.
func (s *Schema) Check() error {
	if s == nil {
		return invalidSchemaf("nil schema")
	}
	if !s.Type.valid() {
		return invalidSchemaf("unknown type %q", s.Type)
	}
	if s.Version < math.MinInt32 || s.Version > math.MaxInt32 {
		return invalidSchemaf("version %d out of int32 range", s.Version)
	}
	switch s.Type {
	case TypeArray:
		if s.Items == nil {
			return invalidSchemaf("array schema has no Items")
		}
		if err := s.Items.Check(); err != nil {
			return inElement(err, "items")
		}
	case TypeMap:
		if s.Key == nil || s.Value == nil {
			return invalidSchemaf("map schema needs both Key and Value")
		}
		if err := s.Key.Check(); err != nil {
			return inElement(err, "keys")
		}
		if err := s.Value.Check(); err != nil {
			return inElement(err, "values")
		}
	case TypeStruct:
		for i, f := range s.Fields {
			if f.Name == "" {
				return invalidSchemaf("struct field %d has no name", i)
			}
			if s.fieldIndex(f.Name) != i {
				return invalidSchemaf("duplicate struct field %q", f.Name)
			}
			if f.Schema == nil {
				return inField(invalidSchemaf("field has no schema"), f.Name)
			}
			if err := f.Schema.Check(); err != nil {
				return inField(err, f.Name)
			}
		}
	}
	if s.logical() == logicalDecimal {
		if _, err := s.decimalScale(); err != nil {
			return err
		}
	}
	if s.Default != nil {
		if err := validateValue(s, s.Default); err != nil {
			return invalidSchemaf("default value: %s", detail(err))
		}
	}
	return nil
}

// validateValue checks v against a non-nil schema s.
func validateValue(s *Schema, v any) error {
	if v == nil {
		if s.Optional || s.Default != nil {
			return nil
		}
		return mismatchf("nil value for required %s", s.describe())
	}
	switch s.logical() {
	case logicalDecimal:
		d, ok := v.(Decimal)
		if !ok {
			return expected(s, v)
		}
		scale, err := s.decimalScale()
		if err != nil {
			return err
		}
		_, err = d.Rescale(scale)
		return err
	case logicalDate, logicalTime, logicalTimestamp:
		t, ok := v.(time.Time)
		if !ok {
			return expected(s, v)
		}
		var err error
		switch s.logical() {
		case logicalDate:
			_, err = dateDays(t)
		case logicalTime:
			_, err = timeMillis(t)
		default:
			_, err = timestampMillis(t)
		}
		return err
	}
	ok := false
	switch s.Type {
	case TypeInt8:
		_, ok = v.(int8)
	case TypeInt16:
		_, ok = v.(int16)
	case TypeInt32:
		_, ok = v.(int32)
	case TypeInt64:
		_, ok = v.(int64)
	case TypeFloat32:
		_, ok = v.(float32)
	case TypeFloat64:
		_, ok = v.(float64)
	case TypeBoolean:
		_, ok = v.(bool)
	case TypeString:
		_, ok = v.(string)
	case TypeBytes:
		_, ok = v.([]byte)
	case TypeArray:
		return validateArray(s, v)
	case TypeMap:
		return validateMap(s, v)
	case TypeStruct:
		st, isStruct := v.(*Struct)
		if !isStruct || st == nil {
			return expected(s, v)
		}
		if !structSchemaMatches(st.schema, s) {
			return mismatchf("struct schema %s does not match expected %s", st.schema.describe(), s.describe())
		}
		return st.Validate()
	default:
		return invalidSchemaf("unknown type %q", s.Type)
	}
	if !ok {
		return expected(s, v)
	}
	return nil
}

func validateArray(s *Schema, v any) error {
	items, ok := v.([]any)
	if !ok {
		return expected(s, v)
	}
	if s.Items == nil {
		return invalidSchemaf("array schema has no Items")
	}
	for i, item := range items {
		if err := validateValue(s.Items, item); err != nil {
			return inElement(err, i)
		}
	}
	return nil
}

func validateMap(s *Schema, v any) error {
	if s.Key == nil || s.Value == nil {
		return invalidSchemaf("map schema needs both Key and Value")
	}
	switch m := v.(type) {
	case map[string]any:
		if s.Key.Type != TypeString {
			return mismatchf("expected map with %s keys, got map with string keys", s.Key.describe())
		}
		for k, e := range m {
			if err := validateValue(s.Value, e); err != nil {
				return inElement(err, k)
			}
		}
	case map[any]any:
		for k, e := range m {
			if err := validateValue(s.Key, k); err != nil {
				return inElement(err, k)
			}
			if err := validateValue(s.Value, e); err != nil {
				return inElement(err, k)
			}
		}
	default:
		return expected(s, v)
	}
	return nil
}

// validateSchemaless checks that v is made of the data model's Go types.
func validateSchemaless(v any) error {
	switch x := v.(type) {
	case nil, int8, int16, int32, int64, float32, float64, bool, string, []byte, Decimal, time.Time:
		return nil
	case *Struct:
		if x == nil {
			return nil
		}
		return x.Validate()
	case []any:
		for i, e := range x {
			if err := validateSchemaless(e); err != nil {
				return inElement(err, i)
			}
		}
	case map[string]any:
		for k, e := range x {
			if err := validateSchemaless(e); err != nil {
				return inElement(err, k)
			}
		}
	case map[any]any:
		for k, e := range x {
			if err := validateSchemaless(k); err != nil {
				return inElement(err, k)
			}
			if err := validateSchemaless(e); err != nil {
				return inElement(err, k)
			}
		}
	default:
		return mismatchf("%s is not a type of the data model", TypeName(v))
	}
	return nil
}

func expected(s *Schema, v any) error {
	return mismatchf("expected %s, got %s", s.describe(), TypeName(v))
}

// describe names a schema in error messages: its type, or its logical or struct name.
func (s *Schema) describe() string {
	if s == nil {
		return "schemaless value"
	}
	switch s.logical() {
	case logicalDecimal:
		return "Decimal"
	case logicalDate:
		return "Date"
	case logicalTime:
		return "Time"
	case logicalTimestamp:
		return "Timestamp"
	}
	if s.Type == TypeStruct && s.Name != "" {
		return "struct " + s.Name
	}
	return string(s.Type)
}
