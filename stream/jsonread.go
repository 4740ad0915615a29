package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// parseJSON parses exactly one JSON value, keeping numbers as json.Number so that no precision is lost.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var n any
	if err := dec.Decode(&n); err != nil {
		return nil, malformedf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformedf("invalid JSON: data after the top-level value")
	}
	return n, nil
}

// jsonKind names the kind of a parsed JSON node for error messages.
func jsonKind(n any) string {
	switch n.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func isIntegerLiteral(s string) bool { return !strings.ContainsAny(s, ".eE") }

// schemalessFromJSON converts a parsed JSON node without a schema: objects to map[string]any, arrays to
// []any, and numbers without loss (see schemalessNumber). Connect's JsonConverter would give float64 for
// numbers with a fraction, which turns a DECIMAL 1234567890123456789.12 into 1.2345678901234568E18.
func schemalessFromJSON(n any) (any, error) {
	switch x := n.(type) {
	case json.Number:
		return schemalessNumber(x)
	case []any:
		for i, e := range x {
			v, err := schemalessFromJSON(e)
			if err != nil {
				return nil, inElement(err, i)
			}
			x[i] = v
		}
	case map[string]any:
		for k, e := range x {
			v, err := schemalessFromJSON(e)
			if err != nil {
				return nil, inElement(err, k)
			}
			x[k] = v
		}
	}
	return n, nil
}

// schemalessNumber reads a JSON number exactly: an integer within the int64 range as an int64 (also when
// written with an exponent that leaves scale 0: "1.0E1" is 10), any other number (a fraction, a negative
// scale such as "1E+3", or an integer beyond int64) as a Decimal holding exactly its digits, with the scale
// Java's BigDecimal(String) gives the text ("2.00" has scale 2, "1.5E+3" scale -2). Numbers of more than
// 16384 digits or whose scale is beyond ±16384 ("1e-99999") are refused rather than rounded.
func schemalessNumber(x json.Number) (any, error) {
	if isIntegerLiteral(string(x)) {
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
	}
	d, err := ParseDecimal(string(x))
	if err != nil {
		return nil, mismatchf("number %.40s cannot be held exactly: more than 16384 digits or an exponent beyond ±16384", x)
	}
	if d.Scale == 0 && d.unscaled().IsInt64() {
		// "1.0E1" and "0E0" are integers of scale 0, which the Decimal would be written back as ("10", "0"):
		// read them as that text reads, so that decoding what was encoded gives the same value again.
		return d.unscaled().Int64(), nil
	}
	return d, nil
}

// valueFromJSON converts a parsed JSON node to a value of s, as Connect's JsonConverter does, but rejecting
// nodes of the wrong JSON kind and numbers out of range instead of coercing them. A null or missing node
// gives the schema's default, or nil if the schema is optional.
func valueFromJSON(s *Schema, n any) (any, error) {
	if s == nil {
		return schemalessFromJSON(n)
	}
	if n == nil {
		switch {
		case s.Default != nil:
			return s.Default, nil
		case s.Optional:
			return nil, nil
		}
		return nil, mismatchf("null for required %s", s.describe())
	}
	if s.logical() != notLogical {
		return logicalFromJSON(s, n)
	}
	switch s.Type {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		return intFromJSON(s, n)
	case TypeFloat32, TypeFloat64:
		return floatFromJSON(s, n)
	case TypeBoolean:
		if b, ok := n.(bool); ok {
			return b, nil
		}
	case TypeString:
		if str, ok := n.(string); ok {
			return str, nil
		}
	case TypeBytes:
		if str, ok := n.(string); ok {
			b, err := base64.StdEncoding.DecodeString(str)
			if err != nil {
				return nil, mismatchf("bytes are not base64: %v", err)
			}
			return b, nil
		}
	case TypeArray:
		return arrayFromJSON(s, n)
	case TypeMap:
		return mapFromJSON(s, n)
	case TypeStruct:
		return structFromJSON(s, n)
	default:
		return nil, invalidSchemaf("unknown type %q", s.Type)
	}
	return nil, jsonExpected(s, n)
}

func jsonExpected(s *Schema, n any) error {
	return mismatchf("expected %s, got JSON %s", s.describe(), jsonKind(n))
}

func intFromJSON(s *Schema, n any) (any, error) {
	num, ok := n.(json.Number)
	if !ok || !isIntegerLiteral(string(num)) {
		return nil, jsonExpected(s, n)
	}
	bits := 64
	switch s.Type {
	case TypeInt8:
		bits = 8
	case TypeInt16:
		bits = 16
	case TypeInt32:
		bits = 32
	}
	i, err := strconv.ParseInt(string(num), 10, bits)
	if err != nil {
		return nil, mismatchf("%s out of range for %s", num, s.Type)
	}
	switch s.Type {
	case TypeInt8:
		return int8(i), nil
	case TypeInt16:
		return int16(i), nil
	case TypeInt32:
		return int32(i), nil
	}
	return i, nil
}

// floatFromJSON accepts numbers and Jackson's "NaN", "Infinity" and "-Infinity" strings.
func floatFromJSON(s *Schema, n any) (any, error) {
	bits := 64
	if s.Type == TypeFloat32 {
		bits = 32
	}
	var f float64
	switch x := n.(type) {
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), bits); err != nil {
			return nil, mismatchf("%s out of range for %s", x, s.Type)
		}
	case string:
		switch x {
		case "NaN", "Infinity", "-Infinity":
			f, _ = strconv.ParseFloat(x, 64)
		default:
			return nil, jsonExpected(s, n)
		}
	default:
		return nil, jsonExpected(s, n)
	}
	if bits == 32 {
		return float32(f), nil
	}
	return f, nil
}

// logicalFromJSON reads a Decimal from base64 bytes or a number, Date and Time from an int32, Timestamp from
// an int64.
func logicalFromJSON(s *Schema, n any) (any, error) {
	if s.logical() == logicalDecimal {
		scale, err := s.decimalScale()
		if err != nil {
			return nil, err
		}
		switch x := n.(type) {
		case json.Number:
			d, err := ParseDecimal(string(x))
			if err != nil {
				return nil, mismatchf("%v", err)
			}
			return d.Rescale(scale)
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil || len(b) == 0 {
				return nil, mismatchf("Decimal is neither a number nor non-empty base64 bytes")
			}
			return Decimal{Unscaled: fromTwosComplement(b), Scale: scale}, nil
		}
		return nil, jsonExpected(s, n)
	}
	num, ok := n.(json.Number)
	if !ok || !isIntegerLiteral(string(num)) {
		return nil, jsonExpected(s, n)
	}
	bits := 32
	if s.logical() == logicalTimestamp {
		bits = 64
	}
	i, err := strconv.ParseInt(string(num), 10, bits)
	if err != nil {
		return nil, mismatchf("%s out of range for %s", num, s.describe())
	}
	switch s.logical() {
	case logicalDate:
		return dateFromDays(int32(i)), nil
	case logicalTime:
		return timeFromMillis(int32(i))
	}
	return time.UnixMilli(i).UTC(), nil
}

func arrayFromJSON(s *Schema, n any) (any, error) {
	items, ok := n.([]any)
	if !ok {
		return nil, jsonExpected(s, n)
	}
	if s.Items == nil {
		return nil, invalidSchemaf("array schema has no Items")
	}
	for i, e := range items {
		v, err := valueFromJSON(s.Items, e)
		if err != nil {
			return nil, inElement(err, i)
		}
		items[i] = v
	}
	return items, nil
}

// mapFromJSON reads a map with string keys from a JSON object, any other map from an array of [key, value]
// pairs.
func mapFromJSON(s *Schema, n any) (any, error) {
	if s.Key == nil || s.Value == nil {
		return nil, invalidSchemaf("map schema needs both Key and Value")
	}
	if s.Key.Type == TypeString {
		obj, ok := n.(map[string]any)
		if !ok {
			return nil, mismatchf("expected map with string keys as JSON object, got JSON %s", jsonKind(n))
		}
		for k, e := range obj {
			v, err := valueFromJSON(s.Value, e)
			if err != nil {
				return nil, inElement(err, k)
			}
			obj[k] = v
		}
		return obj, nil
	}
	pairs, ok := n.([]any)
	if !ok {
		return nil, mismatchf("expected map with %s keys as JSON array of pairs, got JSON %s", s.Key.describe(), jsonKind(n))
	}
	m := make(map[any]any, len(pairs))
	for i, p := range pairs {
		pair, ok := p.([]any)
		if !ok || len(pair) != 2 {
			return nil, inElement(mismatchf("map entry is not a [key, value] pair"), i)
		}
		k, err := valueFromJSON(s.Key, pair[0])
		if err != nil {
			return nil, inElement(err, i)
		}
		switch k.(type) {
		case []byte, []any, map[string]any, map[any]any:
			return nil, invalidSchemaf("map keys of type %s are not supported", s.Key.describe())
		}
		v, err := valueFromJSON(s.Value, pair[1])
		if err != nil {
			return nil, inElement(err, k)
		}
		m[k] = v
	}
	return m, nil
}

// structFromJSON reads a Struct from a JSON object, ignoring members that are not fields of s.
func structFromJSON(s *Schema, n any) (any, error) {
	obj, ok := n.(map[string]any)
	if !ok {
		return nil, jsonExpected(s, n)
	}
	st := newStruct(s)
	for i, f := range s.Fields {
		if f.Schema == nil {
			return nil, inField(invalidSchemaf("field has no schema"), f.Name)
		}
		v, err := valueFromJSON(f.Schema, obj[f.Name])
		if err != nil {
			return nil, inField(err, f.Name)
		}
		st.values[i] = v
	}
	return st, nil
}
