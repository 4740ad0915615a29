package stages

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// ErrStaleSchema is wrapped by the error of a user-function stage (Map, FlatMap) whose result carries a
// schema its value does not fit: typically the stage replaced the value and left the schema the record came
// in with. The message names the stage and says how to fix it.
var ErrStaleSchema = errors.New("schema does not match the value")

// keepSchemasTrue derives or checks the key and value schemas of out, a record a user function made from a
// record whose schemas were valueBefore and keyBefore.
func keepSchemasTrue(stage string, valueBefore, keyBefore *stream.Schema, out *stream.Record) error {
	if out.ValueSchema != nil || isStruct(out.Value) {
		if err := keepSchemaTrue(stage, "value", valueBefore, &out.ValueSchema, out.Value); err != nil {
			return err
		}
	}
	if out.KeySchema != nil || isStruct(out.Key) {
		return keepSchemaTrue(stage, "key", keyBefore, &out.KeySchema, out.Key)
	}
	return nil
}

func isStruct(v any) bool {
	_, ok := v.(*stream.Struct)
	return ok
}

// keepSchemaTrue makes *schema true to v: a *stream.Struct brings its own schema (unless the stage set an
// equal one); any other value must fit the schema at the top level. before is the schema the input record
// had, to tell a schema the stage left in place from one it set.
func keepSchemaTrue(stage, part string, before *stream.Schema, schema **stream.Schema, v any) error {
	s := *schema
	if st, ok := v.(*stream.Struct); ok && st != nil {
		switch own := st.Schema(); {
		case s == own:
		case s == nil || s == before:
			*schema = own
		case !s.Equal(own):
			return fmt.Errorf("stage %q: the %s is a struct of schema %s, but the stage set %s to %s; set it to the struct's Schema(): %w",
				stage, part, describeSchema(own), schemaField(part), describeSchema(s), ErrStaleSchema)
		}
		return nil
	}
	if s == nil || fitsSchema(s, v) {
		return nil
	}
	field := schemaField(part)
	if s == before {
		return fmt.Errorf("stage %q: the %s schema is stale: the record still carries the %s schema it came with (%s), but the %s is now %s; set %s to the new %s's schema, or to nil for a schemaless %s: %w",
			stage, part, part, describeSchema(s), part, describeValueShape(v), field, part, part, ErrStaleSchema)
	}
	return fmt.Errorf("stage %q: the %s is %s, which does not fit the %s the stage set (%s); set %s to the %s's schema, or to nil for a schemaless %s: %w",
		stage, part, describeValueShape(v), field, describeSchema(s), field, part, part, ErrStaleSchema)
}

func schemaField(part string) string {
	if part == "key" {
		return "KeySchema"
	}
	return "ValueSchema"
}

// fitsSchema reports whether v has the Go type of schema s at the top level (stream.Schema.Validate checks
// nested values too; this check runs on every record a user function returns, so it stays O(1)).
func fitsSchema(s *stream.Schema, v any) bool {
	if v == nil {
		return s.Optional || s.Default != nil
	}
	switch {
	case s.Name == stream.DecimalName && s.Type == stream.TypeBytes:
		_, ok := v.(stream.Decimal)
		return ok
	case (s.Name == stream.DateName || s.Name == stream.TimeName) && s.Type == stream.TypeInt32,
		s.Name == stream.TimestampName && s.Type == stream.TypeInt64:
		_, ok := v.(time.Time)
		return ok
	}
	ok := false
	switch s.Type {
	case stream.TypeInt8:
		_, ok = v.(int8)
	case stream.TypeInt16:
		_, ok = v.(int16)
	case stream.TypeInt32:
		_, ok = v.(int32)
	case stream.TypeInt64:
		_, ok = v.(int64)
	case stream.TypeFloat32:
		_, ok = v.(float32)
	case stream.TypeFloat64:
		_, ok = v.(float64)
	case stream.TypeBoolean:
		_, ok = v.(bool)
	case stream.TypeString:
		_, ok = v.(string)
	case stream.TypeBytes:
		_, ok = v.([]byte)
	case stream.TypeArray:
		_, ok = v.([]any)
	case stream.TypeMap:
		switch v.(type) {
		case map[string]any, map[any]any:
			ok = true
		}
	case stream.TypeStruct:
		_, ok = v.(*stream.Struct) // a Struct's own schema is handled by keepSchemaTrue
	}
	return ok
}

// describeValueShape names a value's shape for schema errors: "an object", "a string".
func describeValueShape(v any) string {
	switch v.(type) {
	case map[string]any, map[any]any:
		return "an object"
	case []any:
		return "an array"
	}
	return describeSource(v)
}
