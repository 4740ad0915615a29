package stages

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// This file turns the results of typed stages back into values of the data model, and carries the input's
// unknown fields into them. typed.go documents the rules.

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// isModelValue reports whether v's Go type is one of the data model's (json.Number included, which the json
// codec may produce), without looking inside containers.
func isModelValue(v any) bool {
	switch v.(type) {
	case nil, int8, int16, int32, int64, float32, float64, bool, string, []byte, stream.Decimal, time.Time,
		*stream.Struct, []any, map[string]any, map[any]any, json.Number:
		return true
	}
	return false
}

// toModel converts a Go value into the data model as the package documentation's "Typed stages: results"
// says. Data-model values are kept as they are, except time.Time, which becomes RFC 3339 text.
func toModel(v reflect.Value) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	t := v.Type()
	switch t {
	case timeType:
		// As encoding/json writes it: RFC 3339 with every digit of the nanoseconds (a schemaless time.Time
		// would be written as epoch milliseconds, losing the rest).
		return v.Interface().(time.Time).Format(time.RFC3339Nano), nil
	case decimalType, structPtr, bytesType:
		return v.Interface(), nil
	case numberType:
		return numberModel(json.Number(v.String()))
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		if t.Implements(jsonMarshaler) {
			return marshaledModel(v.Interface().(json.Marshaler))
		}
		if v.CanAddr() && reflect.PointerTo(t).Implements(jsonMarshaler) {
			return marshaledModel(v.Addr().Interface().(json.Marshaler))
		}
		if t.Implements(textMarshaler) {
			text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
			return string(text), err
		}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return toModel(v.Elem())
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.String:
		return v.String(), nil
	case reflect.Int8:
		return int8(v.Int()), nil
	case reflect.Int16:
		return int16(v.Int()), nil
	case reflect.Int32:
		return int32(v.Int()), nil
	case reflect.Int, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := v.Uint(); u > math.MaxInt64 {
			return stream.Decimal{Unscaled: new(big.Int).SetUint64(u)}, nil
		}
		return int64(v.Uint()), nil
	case reflect.Float32:
		return float32(v.Float()), nil
	case reflect.Float64:
		return v.Float(), nil
	case reflect.Struct:
		return structModel(v)
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		m := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			k, err := mapKeyText(it.Key())
			if err != nil {
				return nil, err
			}
			e, err := toModel(it.Value())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			m[k] = e
		}
		return m, nil
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return b, nil
		}
		items := make([]any, v.Len())
		for i := range items {
			e, err := toModel(v.Index(i))
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			items[i] = e
		}
		return items, nil
	}
	return nil, fmt.Errorf("a %s cannot be written as data", t)
}

func structModel(v reflect.Value) (any, error) {
	gs := goStructOf(v.Type())
	m := make(map[string]any, len(gs.fields))
	for i := range gs.fields {
		f := &gs.fields[i]
		fv, ok := fieldOf(v, f.index, false)
		if !ok || (f.omitEmpty && isEmptyValue(fv)) || (f.omitZero && isZeroValue(fv)) {
			continue
		}
		e, err := toModel(fv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if f.quoted {
			e = quotedModel(e)
		}
		m[f.name] = e
	}
	return m, nil
}

// quotedModel writes a number or boolean as a string, for a field tagged `json:",string"`.
func quotedModel(v any) any {
	switch x := v.(type) {
	case bool, int8, int16, int32, int64:
		return fmt.Sprint(x)
	case float32, float64:
		if text, err := floatText(x); err == nil {
			return text
		}
	case stream.Decimal:
		return x.JavaString()
	}
	return v
}

// isEmptyValue is encoding/json's test for omitempty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZeroValue is encoding/json's test for omitzero: an IsZero method, else the zero value.
func isZeroValue(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

func mapKeyText(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		return string(b), err
	}
	switch {
	case k.CanInt():
		return strconv.FormatInt(k.Int(), 10), nil
	case k.CanUint():
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("a map key of type %s cannot be written as data", k.Type())
}

// numberModel gives exact JSON number text as an int64 when it is an integer in range, else a Decimal.
func numberModel(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	d, err := stream.ParseDecimal(string(n))
	if err != nil {
		return nil, fmt.Errorf("%q is not a number", string(n))
	}
	return d, nil
}

func marshaledModel(m json.Marshaler) (any, error) {
	raw, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return parseJSONText(raw)
}

// carry puts the unknown fields into out, the data-model form of a stage's result. out must be an object
// (map[string]any). A field out already has, of exactly that name, is left as the stage set it; objects on
// the way are found by name (exactly, else ignoring case, as a Go field's name matched them), and created
// when missing. An unknown field whose path crosses a value of out that is not an object, or that lies
// below an array element or map value of the input type, cannot be placed: carry returns an error naming
// them.
func carry(out map[string]any, unknown []unknownField) error {
	var stuck []string
	for _, u := range unknown {
		if !u.carriable {
			stuck = append(stuck, u.path+" (inside an array or map of the stage's type)")
			continue
		}
		obj := out
		for i, k := range u.keys {
			last := i == len(u.keys)-1
			if last {
				if _, set := obj[k]; !set {
					obj[k] = u.value
				}
				break
			}
			key, existing, found := findFold(obj, k)
			if !found {
				next := map[string]any{}
				obj[k] = next
				obj = next
				continue
			}
			next, ok := existing.(map[string]any)
			if !ok {
				stuck = append(stuck, fmt.Sprintf("%s (the result's %s is %s, not an object)", u.path, strings.Join(append(u.keys[:i:i], key), "."), describeSource(existing)))
				break
			}
			obj = next
		}
	}
	if len(stuck) > 0 {
		return &unknownFieldsError{fields: stuck, carrying: true}
	}
	return nil
}

// cloneUnknown returns a copy of unknown whose values share no map or slice with it, for the second and
// later results of a FlatMapValue: records must not alias each other's values.
func cloneUnknown(unknown []unknownField) []unknownField {
	c := make([]unknownField, len(unknown))
	for i, u := range unknown {
		c[i] = u
		c[i].value = cloneModel(u.value)
	}
	return c
}

// cloneModel deep-copies the maps and slices of a data-model value (Structs are immutable once built).
func cloneModel(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneModel(e)
		}
		return m
	case map[any]any:
		m := make(map[any]any, len(x))
		for k, e := range x {
			m[k] = cloneModel(e)
		}
		return m
	case []any:
		items := make([]any, len(x))
		for i, e := range x {
			items[i] = cloneModel(e)
		}
		return items
	case []byte:
		return append([]byte(nil), x...)
	}
	return v
}

// findFold finds key k in m: exactly, else equal ignoring case.
func findFold(m map[string]any, k string) (string, any, bool) {
	if v, ok := m[k]; ok {
		return k, v, true
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return mk, v, true
		}
	}
	return "", nil, false
}
