package stream

import (
	"maps"
	"slices"
)

// Type is the type of a Schema. Its values are Kafka Connect's type names as written in the "type" field of
// JsonConverter's schema envelope.
type Type string

// The schema types of Kafka Connect, each with the Go type of its values.
const (
	TypeInt8    Type = "int8"    // int8
	TypeInt16   Type = "int16"   // int16
	TypeInt32   Type = "int32"   // int32 (Date and Time: time.Time)
	TypeInt64   Type = "int64"   // int64 (Timestamp: time.Time)
	TypeFloat32 Type = "float"   // float32
	TypeFloat64 Type = "double"  // float64
	TypeBoolean Type = "boolean" // bool
	TypeString  Type = "string"  // string
	TypeBytes   Type = "bytes"   // []byte (Decimal: Decimal)
	TypeArray   Type = "array"   // []any
	TypeMap     Type = "map"     // map[string]any or map[any]any
	TypeStruct  Type = "struct"  // *Struct
)

// valid reports whether t is one of the twelve schema types.
func (t Type) valid() bool {
	switch t {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64, TypeFloat32, TypeFloat64, TypeBoolean, TypeString,
		TypeBytes, TypeArray, TypeMap, TypeStruct:
		return true
	}
	return false
}

// Schema describes a key or value in Kafka Connect's data model, so that records from Debezium, Kafka
// Connect and Sluice are interchangeable.
//
// Values of each schema type are carried by these Go types:
//
//	Schema                      Go type
//	int8, int16, int32, int64   int8, int16, int32, int64
//	float, double               float32, float64
//	boolean                     bool
//	string                      string
//	bytes                       []byte
//	array                       []any
//	map                         map[string]any when the key schema is string; map[any]any otherwise
//	                            (keys must then be comparable: not bytes, array or map)
//	struct                      *Struct
//	Decimal (logical, bytes)    Decimal
//	Date (logical, int32)       time.Time at midnight UTC
//	Time (logical, int32)       time.Time on 1970-01-01 UTC, millisecond precision
//	Timestamp (logical, int64)  time.Time, millisecond precision (decoded in UTC)
//	absent (optional) value     nil
//
// Validate and the codecs accept exactly these types (maps also as map[any]any with string keys); decoders
// return exactly these types. Schemaless data (a nil *Schema) uses the same Go types; JSON decoding without
// a schema yields int64, Decimal (numbers with a fraction or an exponent, and integers beyond int64, with
// exactly their digits: see JSONCodec), bool, string, []any, map[string]any and nil.
//
// Type says which of Key, Value, Items and Fields are used. Logical types are identified by Name (see
// DecimalSchema). A Schema is treated as immutable once built: the copy helpers (AsOptional, WithDefault,
// ...) return modified copies, and codecs may share decoded schemas between values.
type Schema struct {
	Type     Type
	Optional bool
	// Default is used in place of a nil value; it is a value of the Go type for this schema.
	Default any
	// Name identifies a named struct or a logical type ("org.apache.kafka.connect.data.Decimal").
	Name string
	// Version is the schema version; 0 means none.
	Version int
	Doc     string
	// Parameters carry logical-type details, such as a Decimal's "scale".
	Parameters map[string]string

	// Fields are a struct's fields, in order.
	Fields []Field
	// Key and Value are a map's key and value schemas.
	Key, Value *Schema
	// Items is an array's element schema.
	Items *Schema
}

// Field is one field of a struct schema.
type Field struct {
	Name string
	// Index is the field's position in Schema.Fields, set by StructBuilder.Build and by decoders.
	Index  int
	Schema *Schema
}

// Int8Schema returns a new required int8 schema.
func Int8Schema() *Schema { return &Schema{Type: TypeInt8} }

// Int16Schema returns a new required int16 schema.
func Int16Schema() *Schema { return &Schema{Type: TypeInt16} }

// Int32Schema returns a new required int32 schema.
func Int32Schema() *Schema { return &Schema{Type: TypeInt32} }

// Int64Schema returns a new required int64 schema.
func Int64Schema() *Schema { return &Schema{Type: TypeInt64} }

// Float32Schema returns a new required float (32-bit) schema.
func Float32Schema() *Schema { return &Schema{Type: TypeFloat32} }

// Float64Schema returns a new required double (64-bit) schema.
func Float64Schema() *Schema { return &Schema{Type: TypeFloat64} }

// BooleanSchema returns a new required boolean schema.
func BooleanSchema() *Schema { return &Schema{Type: TypeBoolean} }

// StringSchema returns a new required string schema.
func StringSchema() *Schema { return &Schema{Type: TypeString} }

// BytesSchema returns a new required bytes schema.
func BytesSchema() *Schema { return &Schema{Type: TypeBytes} }

// ArrayOf returns a new required array schema whose elements are described by items.
func ArrayOf(items *Schema) *Schema { return &Schema{Type: TypeArray, Items: items} }

// MapOf returns a new required map schema. With a string key schema, values are map[string]any and JSON
// codecs write an object; otherwise values are map[any]any written as an array of [key, value] pairs.
func MapOf(key, value *Schema) *Schema { return &Schema{Type: TypeMap, Key: key, Value: value} }

// clone returns a shallow copy of s whose Fields and Parameters can be changed without affecting s.
func (s *Schema) clone() *Schema {
	c := *s
	c.Fields = slices.Clone(s.Fields)
	c.Parameters = maps.Clone(s.Parameters)
	return &c
}

// AsOptional returns a copy of s that allows nil values.
func (s *Schema) AsOptional() *Schema {
	c := s.clone()
	c.Optional = true
	return c
}

// AsRequired returns a copy of s that rejects nil values (unless it has a Default).
func (s *Schema) AsRequired() *Schema {
	c := s.clone()
	c.Optional = false
	return c
}

// WithDefault returns a copy of s whose Default is v. v is checked by Check, by StructBuilder.Build for
// field schemas, and when it is encoded.
func (s *Schema) WithDefault(v any) *Schema {
	c := s.clone()
	c.Default = v
	return c
}

// WithName returns a copy of s named name.
func (s *Schema) WithName(name string) *Schema {
	c := s.clone()
	c.Name = name
	return c
}

// WithVersion returns a copy of s with the given version.
func (s *Schema) WithVersion(version int) *Schema {
	c := s.clone()
	c.Version = version
	return c
}

// WithDoc returns a copy of s documented by doc.
func (s *Schema) WithDoc(doc string) *Schema {
	c := s.clone()
	c.Doc = doc
	return c
}

// WithParameter returns a copy of s with parameter key set to value.
func (s *Schema) WithParameter(key, value string) *Schema {
	c := s.clone()
	if c.Parameters == nil {
		c.Parameters = make(map[string]string, 1)
	}
	c.Parameters[key] = value
	return c
}

// Field returns the struct field called name, and whether there is one.
func (s *Schema) Field(name string) (Field, bool) {
	if i := s.fieldIndex(name); i >= 0 {
		return s.Fields[i], true
	}
	return Field{}, false
}

func (s *Schema) fieldIndex(name string) int {
	if s == nil {
		return -1
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// StructBuilder builds a struct schema field by field. Errors (duplicate or empty field names, nil or invalid
// field schemas) are reported by Build.
type StructBuilder struct {
	schema Schema
}

// NewStruct starts a required struct schema called name ("" for an anonymous struct).
func NewStruct(name string) *StructBuilder {
	return &StructBuilder{schema: Schema{Type: TypeStruct, Name: name}}
}

// Field appends a field. Fields keep the order in which they are added.
func (b *StructBuilder) Field(name string, schema *Schema) *StructBuilder {
	b.schema.Fields = append(b.schema.Fields, Field{Name: name, Index: len(b.schema.Fields), Schema: schema})
	return b
}

// Optional makes the struct schema optional.
func (b *StructBuilder) Optional() *StructBuilder {
	b.schema.Optional = true
	return b
}

// Version sets the struct schema's version.
func (b *StructBuilder) Version(version int) *StructBuilder {
	b.schema.Version = version
	return b
}

// Doc sets the struct schema's documentation.
func (b *StructBuilder) Doc(doc string) *StructBuilder {
	b.schema.Doc = doc
	return b
}

// Build returns the struct schema after checking it with Check. The builder can keep being used; later
// changes do not affect schemas already built.
func (b *StructBuilder) Build() (*Schema, error) {
	s := b.schema.clone()
	if err := s.Check(); err != nil {
		return nil, err
	}
	return s, nil
}

// MustBuild is like Build but panics on error. It is meant for package-level schemas fixed at compile time.
func (b *StructBuilder) MustBuild() *Schema {
	s, err := b.Build()
	if err != nil {
		panic(err)
	}
	return s
}
