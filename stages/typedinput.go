package stages

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// This file converts values of the data model (and JSON text) into the Go type a typed stage declares.
// typed.go documents the rules.

// pathNode is one step of the path from a record value to the field being converted. Paths are written
// like the stream package's: "customer.address.zip", "items[2].sku".
type pathNode struct {
	parent *pathNode
	key    string // object key, or "" for an array element
	index  int    // array index when key is ""
	// carriable is false when this node is below an array element or a map value of the Go type: an
	// unknown field there has no stable place in the stage's result.
	carriable bool
}

func (p *pathNode) String() string {
	if p == nil {
		return ""
	}
	parent := p.parent.String()
	if p.key == "" {
		return parent + "[" + strconv.Itoa(p.index) + "]"
	}
	if parent == "" {
		return p.key
	}
	return parent + "." + p.key
}

// keys returns the object keys from the value to p.
func (p *pathNode) keys() []string {
	var ks []string
	for n := p; n != nil; n = n.parent {
		ks = append(ks, n.key)
	}
	slices.Reverse(ks)
	return ks
}

func (p *pathNode) isCarriable() bool { return p == nil || p.carriable }

// unknownField is a field of the input that the stage's Go type does not declare.
type unknownField struct {
	path      string
	keys      []string // the object keys leading to it, for carrying it into the result
	carriable bool     // false below an array element or map value
	value     any
}

// conversionError is a field (or the whole value) that does not convert to the stage's Go type.
type conversionError struct {
	path string
	msg  string
	kind error // ErrMissingField, ErrFieldType
}

func (e *conversionError) Error() string {
	if e.path == "" {
		return "value: " + e.msg
	}
	return "field " + e.path + ": " + e.msg
}

func (e *conversionError) Unwrap() error { return e.kind }

// inputConverter converts one record value; it collects the unknown fields it meets.
type inputConverter struct {
	unknown []unknownField
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[stream.Decimal]()
	numberType  = reflect.TypeFor[json.Number]()
	structPtr   = reflect.TypeFor[*stream.Struct]()
	bytesType   = reflect.TypeFor[[]byte]()
	jsonUnmarsh = reflect.TypeFor[json.Unmarshaler]()
	textUnmarsh = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// convert stores src, a value of the data model, into dst, which is settable.
func (c *inputConverter) convert(p *pathNode, src any, dst reflect.Value) error {
	t := dst.Type()
	if src == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			dst.SetZero()
			return nil
		}
		return c.mismatch(p, src, dst)
	}
	switch t {
	case timeType:
		switch x := src.(type) {
		case time.Time:
			dst.Set(reflect.ValueOf(x))
			return nil
		case string:
			var tm time.Time
			if err := tm.UnmarshalText([]byte(x)); err != nil {
				return &conversionError{p.String(), fmt.Sprintf("is %s, want an RFC 3339 timestamp (time.Time)", describeSource(src)), ErrFieldType}
			}
			dst.Set(reflect.ValueOf(tm))
			return nil
		}
		return c.mismatch(p, src, dst)
	case decimalType:
		d, ok, err := decimalOf(src)
		if !ok {
			return c.mismatch(p, src, dst)
		}
		if err != nil {
			return &conversionError{p.String(), fmt.Sprintf("is %s, which is not a decimal number: %v", describeSource(src), err), ErrFieldType}
		}
		dst.Set(reflect.ValueOf(d))
		return nil
	case numberType:
		n, ok, err := numberTextOf(src)
		if !ok {
			return c.mismatch(p, src, dst)
		}
		if err != nil {
			return &conversionError{p.String(), fmt.Sprintf("is %s: %v", describeSource(src), err), ErrFieldType}
		}
		dst.SetString(n)
		return nil
	case structPtr:
		if st, ok := src.(*stream.Struct); ok {
			dst.Set(reflect.ValueOf(st))
			return nil
		}
		return c.mismatch(p, src, dst)
	}
	if t.Kind() != reflect.Interface && t.Kind() != reflect.Pointer {
		if reflect.PointerTo(t).Implements(jsonUnmarsh) {
			return c.unmarshalJSON(p, src, dst)
		}
		if s, ok := src.(string); ok && reflect.PointerTo(t).Implements(textUnmarsh) {
			if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				return &conversionError{p.String(), fmt.Sprintf("is %s, which %s does not accept: %v", describeSource(src), t, err), ErrFieldType}
			}
			return nil
		}
	}
	switch t.Kind() {
	case reflect.Interface:
		v := reflect.ValueOf(src)
		if !v.Type().AssignableTo(t) {
			return c.mismatch(p, src, dst)
		}
		dst.Set(v)
		return nil
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(t.Elem()))
		}
		return c.convert(p, src, dst.Elem())
	case reflect.Struct:
		return c.object(p, src, dst)
	case reflect.Map:
		return c.mapValue(p, src, dst)
	case reflect.Slice, reflect.Array:
		return c.array(p, src, dst)
	case reflect.String:
		if s, ok := src.(string); ok {
			dst.SetString(s)
			return nil
		}
	case reflect.Bool:
		if b, ok := src.(bool); ok {
			dst.SetBool(b)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return c.integer(p, src, dst)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return c.integer(p, src, dst)
	case reflect.Float32, reflect.Float64:
		return c.float(p, src, dst)
	default:
		return &conversionError{p.String(), fmt.Sprintf("the stage's type %s cannot hold data", t), ErrFieldType}
	}
	return c.mismatch(p, src, dst)
}

// mismatch reports that src does not fit dst, after retrying a src that is not of the data model (a Go
// value a user stage stored) in its data-model form.
func (c *inputConverter) mismatch(p *pathNode, src any, dst reflect.Value) error {
	if !isModelValue(src) {
		if m, err := toModel(reflect.ValueOf(src)); err == nil && isModelValue(m) {
			return c.convert(p, m, dst)
		}
	}
	t := dst.Type()
	return &conversionError{p.String(), fmt.Sprintf("is %s, want %s", describeSource(src), describeGoType(t)), ErrFieldType}
}

// unmarshalJSON hands src, written as JSON, to the UnmarshalJSON of dst's type.
func (c *inputConverter) unmarshalJSON(p *pathNode, src any, dst reflect.Value) error {
	raw, err := jsonCodec.Encode(nil, src)
	if err == nil {
		err = dst.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw)
	}
	if err != nil {
		return &conversionError{p.String(), fmt.Sprintf("is %s, which %s does not accept: %v", describeSource(src), dst.Type(), err), ErrFieldType}
	}
	return nil
}

// object converts a Struct or a map with string keys into the Go struct dst.
func (c *inputConverter) object(p *pathNode, src any, dst reflect.Value) error {
	obj, ok := viewObject(src)
	if !ok {
		return c.mismatch(p, src, dst)
	}
	gs := goStructOf(dst.Type())
	var missing []string
	for i := range gs.fields {
		f := &gs.fields[i]
		key, v, found := obj.find(f.name)
		if !found || v == nil {
			if f.optional {
				continue
			}
			if !found {
				missing = append(missing, f.name)
				continue
			}
		}
		fv, _ := fieldOf(dst, f.index, true)
		if text, isText := v.(string); isText && f.quoted {
			if parsed, err := parseJSONText([]byte(text)); err == nil {
				v = parsed // `json:",string"`: the number or boolean is inside the string
			}
		}
		if err := c.convert(&pathNode{parent: p, key: key, carriable: p.isCarriable()}, v, fv); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return missingError(p, missing)
	}
	obj.each(func(k string, v any) {
		if f, exact := gs.lookup(k); f != nil {
			if exact {
				return
			}
			if found, _ := obj.hasExact(f.name); !found && obj.firstFold(f.name) == k {
				return // the field took this key
			}
		}
		n := &pathNode{parent: p, key: k, carriable: p.isCarriable()}
		c.unknown = append(c.unknown, unknownField{path: n.String(), keys: n.keys(), carriable: n.carriable, value: v})
	})
	return nil
}

func missingError(p *pathNode, names []string) error {
	prefix := p.String()
	if prefix != "" {
		prefix += "."
	}
	if len(names) == 1 {
		return &conversionError{prefix + names[0], "missing (make the Go field a pointer or tag it omitempty if it is optional)", ErrMissingField}
	}
	return &conversionError{"", fmt.Sprintf("fields %s%s: missing (make the Go fields pointers or tag them omitempty if they are optional)",
		prefix, strings.Join(names, ", "+prefix)), ErrMissingField}
}

// mapValue converts a Struct or an object into the Go map dst.
func (c *inputConverter) mapValue(p *pathNode, src any, dst reflect.Value) error {
	obj, ok := viewObject(src)
	if !ok {
		return c.mismatch(p, src, dst)
	}
	t := dst.Type()
	m := reflect.MakeMapWithSize(t, obj.len())
	var err error
	obj.eachSorted(func(k string, v any) {
		if err != nil {
			return
		}
		n := &pathNode{parent: p, key: k}
		key := reflect.New(t.Key()).Elem()
		if err = mapKey(n, k, key); err != nil {
			return
		}
		val := reflect.New(t.Elem()).Elem()
		if err = c.convert(n, v, val); err != nil {
			return
		}
		m.SetMapIndex(key, val)
	})
	if err != nil {
		return err
	}
	dst.Set(m)
	return nil
}

func mapKey(p *pathNode, k string, dst reflect.Value) error {
	if reflect.PointerTo(dst.Type()).Implements(textUnmarsh) {
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k)); err != nil {
			return &conversionError{p.String(), fmt.Sprintf("key %q does not convert to %s: %v", k, dst.Type(), err), ErrFieldType}
		}
		return nil
	}
	switch dst.Kind() {
	case reflect.String:
		dst.SetString(k)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(k, 10, 64)
		if err == nil && !dst.OverflowInt(i) {
			dst.SetInt(i)
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u, err := strconv.ParseUint(k, 10, 64)
		if err == nil && !dst.OverflowUint(u) {
			dst.SetUint(u)
			return nil
		}
	}
	return &conversionError{p.String(), fmt.Sprintf("key %q does not convert to %s", k, dst.Type()), ErrFieldType}
}

// array converts an array (or bytes, into []byte) into the Go slice or array dst.
func (c *inputConverter) array(p *pathNode, src any, dst reflect.Value) error {
	t := dst.Type()
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		switch x := src.(type) {
		case []byte:
			dst.SetBytes(append([]byte(nil), x...))
			return nil
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return &conversionError{p.String(), fmt.Sprintf("is %s that is not base64, want bytes (%s)", describeSource(src), t), ErrFieldType}
			}
			dst.SetBytes(b)
			return nil
		}
	}
	items, ok := src.([]any)
	if !ok {
		sv := reflect.ValueOf(src)
		if sv.Kind() != reflect.Slice && sv.Kind() != reflect.Array {
			return c.mismatch(p, src, dst)
		}
		items = make([]any, sv.Len())
		for i := range items {
			items[i] = sv.Index(i).Interface()
		}
	}
	if t.Kind() == reflect.Array {
		if len(items) != t.Len() {
			return &conversionError{p.String(), fmt.Sprintf("is an array of %d items, want %d (%s)", len(items), t.Len(), t), ErrFieldType}
		}
	} else {
		dst.Set(reflect.MakeSlice(t, len(items), len(items)))
	}
	for i, item := range items {
		if err := c.convert(&pathNode{parent: p, index: i}, item, dst.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

// parseJSONText parses one JSON value into the data model without losing digits: integers in the int64
// range become int64, every other number an exact Decimal (whatever the json codec does with numbers).
func parseJSONText(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var n any
	if err := dec.Decode(&n); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return exactNumbers(n)
}

// exactNumbers replaces the json.Numbers in a parsed JSON tree by int64 or Decimal values, in place.
func exactNumbers(n any) (any, error) {
	var err error
	switch x := n.(type) {
	case json.Number:
		return numberModel(x)
	case []any:
		for i := range x {
			if x[i], err = exactNumbers(x[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, v := range x {
			if x[k], err = exactNumbers(v); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
}
