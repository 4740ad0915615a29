package stages

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/stream"
)

// This file reads input objects (Structs and maps) for typed stages and names values and Go types in the
// user's words for their errors.

// describeSource names a value in the user's words: its JSON kind, with a short form of scalars.
func describeSource(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if utf8.RuneCountInString(x) > 40 {
			x = string([]rune(x)[:40]) + "…"
		}
		return fmt.Sprintf("a string (%q)", x)
	case bool:
		return fmt.Sprintf("a boolean (%t)", x)
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint, json.Number:
		return fmt.Sprintf("a number (%v)", x)
	case float32, float64:
		text, err := floatText(x)
		if err != nil {
			return fmt.Sprintf("a number (%v)", x)
		}
		return "a number (" + text + ")"
	case stream.Decimal:
		return "a number (" + x.JavaString() + ")"
	case []byte:
		return fmt.Sprintf("bytes (%d of them)", len(x))
	case time.Time:
		return "a timestamp (" + x.Format(time.RFC3339Nano) + ")"
	case *stream.Struct, map[string]any, map[any]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "a value of the kind " + stream.TypeName(v)
}

// describeGoType names what a Go type accepts, in the user's words, with the type in parentheses.
func describeGoType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer && t != structPtr {
		t = t.Elem()
	}
	name := t.String()
	switch t {
	case timeType:
		return "a timestamp (time.Time)"
	case decimalType, numberType:
		return "a number (" + name + ")"
	case structPtr:
		return "an object with a schema (*stream.Struct)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer (" + name + ")"
	case reflect.Float32, reflect.Float64:
		return "a number (" + name + ")"
	case reflect.String:
		return "a string (" + name + ")"
	case reflect.Bool:
		return "a boolean (" + name + ")"
	case reflect.Struct:
		if t.Name() != "" {
			name = t.Name()
		}
		return "an object (" + name + ")"
	case reflect.Map:
		return "an object (" + name + ")"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes (" + name + ")"
		}
		return "an array (" + name + ")"
	}
	return "a value of " + name
}

// objectView reads a Struct or a map with string keys as an object.
type objectView struct {
	st *stream.Struct
	m  map[string]any
}

// viewObject views src as an object; map[any]any qualifies when all its keys are strings.
func viewObject(src any) (objectView, bool) {
	switch x := src.(type) {
	case *stream.Struct:
		return objectView{st: x}, x != nil
	case map[string]any:
		return objectView{m: x}, true
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			ks, ok := k.(string)
			if !ok {
				return objectView{}, false
			}
			m[ks] = v
		}
		return objectView{m: m}, true
	}
	return objectView{}, false
}

func (o objectView) len() int {
	if o.st != nil {
		return len(o.st.Schema().Fields)
	}
	return len(o.m)
}

func (o objectView) hasExact(name string) (bool, any) {
	if o.st != nil {
		if _, ok := o.st.Schema().Field(name); ok {
			return true, o.st.Get(name)
		}
		return false, nil
	}
	v, ok := o.m[name]
	return ok, v
}

// firstFold returns the smallest key equal to name ignoring case, or "".
func (o objectView) firstFold(name string) string {
	best := ""
	o.each(func(k string, _ any) {
		if strings.EqualFold(k, name) && (best == "" || k < best) {
			best = k
		}
	})
	return best
}

// find returns the key and value of the field name: exact, else the first key equal ignoring case.
func (o objectView) find(name string) (key string, v any, found bool) {
	if ok, v := o.hasExact(name); ok {
		return name, v, true
	}
	if k := o.firstFold(name); k != "" {
		_, v := o.hasExact(k)
		return k, v, true
	}
	return "", nil, false
}

// each calls f for every field (a Struct's nil fields read as their defaults).
func (o objectView) each(f func(k string, v any)) {
	if o.st != nil {
		for _, fd := range o.st.Schema().Fields {
			f(fd.Name, o.st.Get(fd.Name))
		}
		return
	}
	for k, v := range o.m {
		f(k, v)
	}
}

// eachSorted is each in key order (a Struct's in field order), for deterministic errors.
func (o objectView) eachSorted(f func(k string, v any)) {
	if o.st != nil {
		o.each(f)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(o.m)) {
		f(k, o.m[k])
	}
}
