package stream

import (
	"bytes"
	"maps"
	"math"
	"time"
)

// EqualValues reports whether a and b are the same value of the data model: same Go types and contents,
// Decimals Equal (value and scale), times Equal (same instant), floats equal with NaN equal to NaN, maps
// equal whether held as map[string]any or map[any]any, Structs Equal.
func EqualValues(a, b any) bool {
	var e equality
	return e.values(a, b)
}

// Equal reports whether s and o describe the same schema: type, optionality, default, name, version, doc,
// parameters and nested schemas (struct field names and schemas, in order; Field.Index is ignored).
func (s *Schema) Equal(o *Schema) bool {
	var e equality
	return e.schemas(s, o)
}

// Equal reports whether s and o are values of the same struct (their schemas are Equal apart from the
// struct schema's own Optional, Default and Doc, which do not change what a value is) with EqualValues
// field values.
func (s *Struct) Equal(o *Struct) bool {
	var e equality
	return e.structs(s, o)
}

// equality compares schemas and values. A struct schema's default can be a Struct of that very schema, so it
// remembers the pairs of schemas under comparison and assumes them equal when it meets them again, as
// reflect.DeepEqual does for cyclic pointers.
type equality struct {
	seen map[[2]*Schema]bool
}

func (e *equality) schemas(a, b *Schema) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	pair := [2]*Schema{a, b}
	if e.seen[pair] {
		return true
	}
	if e.seen == nil {
		e.seen = make(map[[2]*Schema]bool)
	}
	e.seen[pair] = true
	if a.Type != b.Type || a.Optional != b.Optional || a.Name != b.Name || a.Version != b.Version ||
		a.Doc != b.Doc || !maps.Equal(a.Parameters, b.Parameters) {
		return false
	}
	if !e.nested(a, b) {
		return false
	}
	return e.values(a.Default, b.Default)
}

// nested compares what a and b contain according to their type.
func (e *equality) nested(a, b *Schema) bool {
	switch a.Type {
	case TypeArray:
		return e.schemas(a.Items, b.Items)
	case TypeMap:
		return e.schemas(a.Key, b.Key) && e.schemas(a.Value, b.Value)
	case TypeStruct:
		if len(a.Fields) != len(b.Fields) {
			return false
		}
		for i := range a.Fields {
			if a.Fields[i].Name != b.Fields[i].Name || !e.schemas(a.Fields[i].Schema, b.Fields[i].Schema) {
				return false
			}
		}
	}
	return true
}

// structSchemaMatches reports whether a Struct of schema got can stand for a value of schema want: the same
// struct apart from optionality, default and doc, so that a Struct built with a schema can be put in an
// optional field of that schema.
func structSchemaMatches(got, want *Schema) bool {
	var e equality
	return e.structSchemas(got, want)
}

func (e *equality) structSchemas(got, want *Schema) bool {
	if got == want {
		return true
	}
	if got == nil || want == nil || got.Type != want.Type || got.Name != want.Name ||
		got.Version != want.Version || !maps.Equal(got.Parameters, want.Parameters) {
		return false
	}
	return e.nested(got, want)
}

func (e *equality) structs(a, b *Struct) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || !e.structSchemas(a.schema, b.schema) || len(a.values) != len(b.values) {
		return false
	}
	for i := range a.values {
		if !e.values(a.values[i], b.values[i]) {
			return false
		}
	}
	return true
}

func (e *equality) values(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case float32:
		y, ok := b.(float32)
		return ok && (x == y || x != x && y != y)
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case Decimal:
		y, ok := b.(Decimal)
		return ok && x.Equal(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *Struct:
		y, ok := b.(*Struct)
		return ok && e.structs(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !e.values(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any, map[any]any:
		return e.maps(a, b)
	case int8, int16, int32, int64, bool, string:
		return a == b
	}
	return false
}

// maps compares two maps held as map[string]any or map[any]any. Entries with plain keys (integers, bools,
// strings) are looked up; the others (Decimals, times, Structs, floats) are matched pairwise.
func (e *equality) maps(a, b any) bool {
	if mapLen(a) != mapLen(b) {
		return false
	}
	var restA, restB [][2]any
	ok := true
	eachEntry(a, func(k, v any) {
		if !ok {
			return
		}
		if !plainKey(k) {
			restA = append(restA, [2]any{k, v})
			return
		}
		w, found := lookup(b, k)
		ok = found && e.values(v, w)
	})
	if !ok {
		return false
	}
	eachEntry(b, func(k, v any) {
		if !plainKey(k) {
			restB = append(restB, [2]any{k, v})
		}
	})
	if len(restA) != len(restB) {
		return false
	}
	used := make([]bool, len(restB))
	for _, ea := range restA {
		found := false
		for j, eb := range restB {
			if !used[j] && e.values(ea[0], eb[0]) && e.values(ea[1], eb[1]) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func plainKey(k any) bool {
	switch k.(type) {
	case nil, int8, int16, int32, int64, bool, string:
		return true
	}
	return false
}

func mapLen(m any) int {
	switch m := m.(type) {
	case map[string]any:
		return len(m)
	case map[any]any:
		return len(m)
	}
	return -1
}

func lookup(m any, k any) (any, bool) {
	switch m := m.(type) {
	case map[string]any:
		s, ok := k.(string)
		if !ok {
			return nil, false
		}
		v, found := m[s]
		return v, found
	case map[any]any:
		v, found := m[k]
		return v, found
	}
	return nil, false
}

func eachEntry(m any, f func(k, v any)) {
	switch m := m.(type) {
	case map[string]any:
		for k, v := range m {
			f(k, v)
		}
	case map[any]any:
		for k, v := range m {
			f(k, v)
		}
	}
}
