package stream

import (
	"fmt"
	"strings"
	"time"
)

// Struct is a value of a struct schema: one value per field of its schema, nil until Put.
//
// A Struct is not safe for concurrent writes; once built it is treated as immutable, and decoders may return
// Structs sharing default values with their schema.
type Struct struct {
	schema *Schema
	values []any
}

// NewStructValue returns an empty Struct of schema, which must be a struct schema (preferably built by
// StructBuilder.Build, which checks it). The error wraps ErrInvalidSchema.
func NewStructValue(schema *Schema) (*Struct, error) {
	if schema == nil || schema.Type != TypeStruct {
		return nil, invalidSchemaf("NewStructValue needs a struct schema, got %s", schema.describe())
	}
	return newStruct(schema), nil
}

func newStruct(schema *Schema) *Struct {
	return &Struct{schema: schema, values: make([]any, len(schema.Fields))}
}

// Schema returns the struct's schema.
func (s *Struct) Schema() *Schema { return s.schema }

// Put sets field name to v after checking that the field exists and that v is a value of its schema (nil
// only if the field is optional or has a default). On error the struct is unchanged; the error wraps
// ErrSchemaMismatch and names the field.
func (s *Struct) Put(name string, v any) error {
	i := s.schema.fieldIndex(name)
	if i < 0 {
		return inField(mismatchf("no such field in %s", s.schema.describe()), name)
	}
	if err := validateValue(s.schema.Fields[i].Schema, v); err != nil {
		return inField(err, name)
	}
	s.values[i] = v
	return nil
}

// Get returns the value of field name, or the field's default if the value is nil, as Connect's
// Struct.get does. It returns nil for an unknown field; FieldValue and the typed getters report that.
func (s *Struct) Get(name string) any {
	i := s.schema.fieldIndex(name)
	if i < 0 {
		return nil
	}
	if v := s.values[i]; v != nil {
		return v
	}
	return s.schema.Fields[i].Schema.Default
}

// Validate checks that every required field without a default is set and that every value fits its field
// schema, recursively. The error wraps ErrSchemaMismatch and names the field path.
func (s *Struct) Validate() error {
	if s == nil || s.schema == nil {
		return invalidSchemaf("struct value has no schema")
	}
	for i, f := range s.schema.Fields {
		if err := validateValue(f.Schema, s.values[i]); err != nil {
			return inField(err, f.Name)
		}
	}
	return nil
}

// String formats s like Connect's Struct.toString: "Struct{id=1,name=Ada}", leaving out nil fields.
func (s *Struct) String() string {
	var b strings.Builder
	b.WriteString("Struct{")
	first := true
	for i, f := range s.schema.Fields {
		if s.values[i] == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%s=%v", f.Name, s.values[i])
	}
	b.WriteByte('}')
	return b.String()
}

// FieldValue returns the value of field name (or its default) as a T. A nil value gives T's zero value and
// no error; an unknown field or a value of another Go type gives an error wrapping ErrSchemaMismatch.
func FieldValue[T any](s *Struct, name string) (T, error) {
	var zero T
	if s.schema.fieldIndex(name) < 0 {
		return zero, inField(mismatchf("no such field in %s", s.schema.describe()), name)
	}
	v := s.Get(name)
	if v == nil {
		return zero, nil
	}
	t, ok := v.(T)
	if !ok {
		return zero, inField(mismatchf("value is %s, not %s", TypeName(v), TypeName(zero)), name)
	}
	return t, nil
}

// GetInt8 returns field name as an int8 (see FieldValue).
func (s *Struct) GetInt8(name string) (int8, error) { return FieldValue[int8](s, name) }

// GetInt16 returns field name as an int16 (see FieldValue).
func (s *Struct) GetInt16(name string) (int16, error) { return FieldValue[int16](s, name) }

// GetInt32 returns field name as an int32 (see FieldValue).
func (s *Struct) GetInt32(name string) (int32, error) { return FieldValue[int32](s, name) }

// GetInt64 returns field name as an int64 (see FieldValue).
func (s *Struct) GetInt64(name string) (int64, error) { return FieldValue[int64](s, name) }

// GetFloat32 returns field name as a float32 (see FieldValue).
func (s *Struct) GetFloat32(name string) (float32, error) { return FieldValue[float32](s, name) }

// GetFloat64 returns field name as a float64 (see FieldValue).
func (s *Struct) GetFloat64(name string) (float64, error) { return FieldValue[float64](s, name) }

// GetBoolean returns field name as a bool (see FieldValue).
func (s *Struct) GetBoolean(name string) (bool, error) { return FieldValue[bool](s, name) }

// GetString returns field name as a string (see FieldValue).
func (s *Struct) GetString(name string) (string, error) { return FieldValue[string](s, name) }

// GetBytes returns field name as a []byte (see FieldValue).
func (s *Struct) GetBytes(name string) ([]byte, error) { return FieldValue[[]byte](s, name) }

// GetArray returns field name as a []any (see FieldValue).
func (s *Struct) GetArray(name string) ([]any, error) { return FieldValue[[]any](s, name) }

// GetStruct returns field name as a *Struct (see FieldValue).
func (s *Struct) GetStruct(name string) (*Struct, error) { return FieldValue[*Struct](s, name) }

// GetDecimal returns field name as a Decimal (see FieldValue).
func (s *Struct) GetDecimal(name string) (Decimal, error) { return FieldValue[Decimal](s, name) }

// GetTime returns field name, a Date, Time or Timestamp, as a time.Time (see FieldValue).
func (s *Struct) GetTime(name string) (time.Time, error) { return FieldValue[time.Time](s, name) }
