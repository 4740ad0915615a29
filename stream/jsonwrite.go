package stream

import (
	"bytes"
	"slices"
	"strconv"
	"time"
)

// decimalFormat is how a JSON writer writes Decimal values, as Connect's decimal.format setting.
type decimalFormat int8

const (
	decimalNumeric decimalFormat = iota // a JSON number: 1.56
	decimalBase64                       // base64 of the unscaled value's two's complement: "AJw="
)

// jsonWriter appends JSON as Kafka Connect's JsonConverter (Jackson) writes it: no whitespace, struct fields in
// schema order, floats in Java's notation ("1.0", "1.0E10"), strings escaped as Jackson escapes them.
type jsonWriter struct {
	buf      []byte
	decimals decimalFormat
}

// value writes v as described by s; a nil s writes v schemalessly.
func (w *jsonWriter) value(s *Schema, v any) error {
	if s == nil {
		return w.schemaless(v)
	}
	if v == nil {
		switch {
		case s.Default != nil:
			return w.value(s, s.Default)
		case s.Optional:
			w.buf = append(w.buf, "null"...)
			return nil
		}
		return mismatchf("nil value for required %s", s.describe())
	}
	if s.logical() != notLogical {
		return w.logical(s, v)
	}
	ok := true
	switch s.Type {
	case TypeInt8:
		var x int8
		x, ok = v.(int8)
		w.buf = strconv.AppendInt(w.buf, int64(x), 10)
	case TypeInt16:
		var x int16
		x, ok = v.(int16)
		w.buf = strconv.AppendInt(w.buf, int64(x), 10)
	case TypeInt32:
		var x int32
		x, ok = v.(int32)
		w.buf = strconv.AppendInt(w.buf, int64(x), 10)
	case TypeInt64:
		var x int64
		x, ok = v.(int64)
		w.buf = strconv.AppendInt(w.buf, x, 10)
	case TypeFloat32:
		var x float32
		x, ok = v.(float32)
		w.float(float64(x), 32)
	case TypeFloat64:
		var x float64
		x, ok = v.(float64)
		w.float(x, 64)
	case TypeBoolean:
		var x bool
		x, ok = v.(bool)
		w.buf = strconv.AppendBool(w.buf, x)
	case TypeString:
		var x string
		x, ok = v.(string)
		w.string(x)
	case TypeBytes:
		var x []byte
		x, ok = v.([]byte)
		w.bytes(x)
	case TypeArray:
		return w.array(s, v)
	case TypeMap:
		return w.mapValue(s, v)
	case TypeStruct:
		return w.structValue(s, v)
	default:
		return invalidSchemaf("unknown type %q", s.Type)
	}
	if !ok {
		return expected(s, v)
	}
	return nil
}

func (w *jsonWriter) logical(s *Schema, v any) error {
	if s.logical() == logicalDecimal {
		d, ok := v.(Decimal)
		if !ok {
			return expected(s, v)
		}
		scale, err := s.decimalScale()
		if err != nil {
			return err
		}
		if d, err = d.Rescale(scale); err != nil {
			return err
		}
		if w.decimals == decimalBase64 {
			w.bytes(twosComplement(d.unscaled()))
		} else {
			w.buf = append(w.buf, d.JavaString()...)
		}
		return nil
	}
	t, ok := v.(time.Time)
	if !ok {
		return expected(s, v)
	}
	var n int64
	var err error
	switch s.logical() {
	case logicalDate:
		var days int32
		days, err = dateDays(t)
		n = int64(days)
	case logicalTime:
		var ms int32
		ms, err = timeMillis(t)
		n = int64(ms)
	default:
		n, err = timestampMillis(t)
	}
	if err != nil {
		return err
	}
	w.buf = strconv.AppendInt(w.buf, n, 10)
	return nil
}

func (w *jsonWriter) array(s *Schema, v any) error {
	items, ok := v.([]any)
	if !ok {
		return expected(s, v)
	}
	if s.Items == nil {
		return invalidSchemaf("array schema has no Items")
	}
	w.buf = append(w.buf, '[')
	for i, item := range items {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if err := w.value(s.Items, item); err != nil {
			return inElement(err, i)
		}
	}
	w.buf = append(w.buf, ']')
	return nil
}

// mapValue writes a map as a JSON object when its keys are strings, otherwise as an array of [key, value]
// pairs, as Connect does. Entries are sorted (by key, or by encoded pair) so that output is deterministic.
func (w *jsonWriter) mapValue(s *Schema, v any) error {
	if s.Key == nil || s.Value == nil {
		return invalidSchemaf("map schema needs both Key and Value")
	}
	if mapLen(v) < 0 {
		return expected(s, v)
	}
	if s.Key.Type == TypeString {
		keys, err := stringKeys(v)
		if err != nil {
			return err
		}
		return w.object(keys, func(k string) error { e, _ := lookup(v, k); return w.value(s.Value, e) })
	}
	if _, isStringMap := v.(map[string]any); isStringMap {
		return mismatchf("expected map with %s keys, got map with string keys", s.Key.describe())
	}
	return w.pairs(v.(map[any]any), s.Key, s.Value)
}

// stringKeys returns the sorted keys of a map whose keys must all be strings.
func stringKeys(m any) ([]string, error) {
	keys := make([]string, 0, mapLen(m))
	var err error
	eachEntry(m, func(k, _ any) {
		if s, ok := k.(string); ok {
			keys = append(keys, s)
		} else if err == nil {
			err = inElement(mismatchf("expected string key, got %s", TypeName(k)), k)
		}
	})
	slices.Sort(keys)
	return keys, err
}

func (w *jsonWriter) object(keys []string, value func(k string) error) error {
	w.buf = append(w.buf, '{')
	for i, k := range keys {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.string(k)
		w.buf = append(w.buf, ':')
		if err := value(k); err != nil {
			return inElement(err, k)
		}
	}
	w.buf = append(w.buf, '}')
	return nil
}

// pairs writes m as [[k1,v1],[k2,v2],...] sorted by the encoded pairs; nil schemas mean schemaless.
func (w *jsonWriter) pairs(m map[any]any, key, value *Schema) error {
	encoded := make([][]byte, 0, len(m))
	for k, e := range m {
		pw := jsonWriter{buf: []byte{'['}, decimals: w.decimals}
		if err := pw.value(key, k); err != nil {
			return inElement(err, k)
		}
		pw.buf = append(pw.buf, ',')
		if err := pw.value(value, e); err != nil {
			return inElement(err, k)
		}
		encoded = append(encoded, append(pw.buf, ']'))
	}
	slices.SortFunc(encoded, bytes.Compare)
	w.buf = append(w.buf, '[')
	w.buf = append(w.buf, bytes.Join(encoded, []byte{','})...)
	w.buf = append(w.buf, ']')
	return nil
}

func (w *jsonWriter) structValue(s *Schema, v any) error {
	st, ok := v.(*Struct)
	if !ok || st == nil {
		return expected(s, v)
	}
	if !structSchemaMatches(st.schema, s) {
		return mismatchf("struct schema %s does not match expected %s", st.schema.describe(), s.describe())
	}
	w.buf = append(w.buf, '{')
	for i, f := range s.Fields {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.string(f.Name)
		w.buf = append(w.buf, ':')
		if err := w.value(f.Schema, st.values[i]); err != nil {
			return inField(err, f.Name)
		}
	}
	w.buf = append(w.buf, '}')
	return nil
}

// schemaless writes v by its Go type, as Connect does without a schema. Decimals are written as numbers
// and times as Timestamps (milliseconds since the epoch); Structs are written with their own schema.
func (w *jsonWriter) schemaless(v any) error {
	switch x := v.(type) {
	case nil:
		w.buf = append(w.buf, "null"...)
	case int8:
		w.buf = strconv.AppendInt(w.buf, int64(x), 10)
	case int16:
		w.buf = strconv.AppendInt(w.buf, int64(x), 10)
	case int32:
		w.buf = strconv.AppendInt(w.buf, int64(x), 10)
	case int64:
		w.buf = strconv.AppendInt(w.buf, x, 10)
	case float32:
		w.float(float64(x), 32)
	case float64:
		w.float(x, 64)
	case bool:
		w.buf = strconv.AppendBool(w.buf, x)
	case string:
		w.string(x)
	case []byte:
		w.bytes(x)
	case Decimal:
		w.buf = append(w.buf, x.JavaString()...)
	case time.Time:
		ms, err := timestampMillis(x)
		if err != nil {
			return err
		}
		w.buf = strconv.AppendInt(w.buf, ms, 10)
	case *Struct:
		if x == nil {
			w.buf = append(w.buf, "null"...)
			return nil
		}
		return w.value(x.schema, x)
	case []any:
		w.buf = append(w.buf, '[')
		for i, e := range x {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if err := w.schemaless(e); err != nil {
				return inElement(err, i)
			}
		}
		w.buf = append(w.buf, ']')
	case map[string]any, map[any]any:
		if keys, err := stringKeys(x); err == nil {
			return w.object(keys, func(k string) error { e, _ := lookup(x, k); return w.schemaless(e) })
		}
		return w.pairs(x.(map[any]any), nil, nil)
	default:
		return mismatchf("cannot encode %s: not a type of the data model", TypeName(v))
	}
	return nil
}
