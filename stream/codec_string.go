package stream

import (
	"strconv"
	"time"
)

// StringCodec is the "string" codec, like Kafka Connect's StringConverter: values are written as UTF-8
// text and read back as strings.
//
// Encode ignores the schema. It writes a string as is, []byte as is, integers in decimal, floats in Java
// notation ("1.0"), bools as "true"/"false", Decimals in plain notation and times in RFC 3339 with
// nanoseconds; arrays, maps and Structs are rejected. A nil value encodes to nil bytes.
//
// Decode returns an optional string schema and the bytes as a string, unchanged (invalid UTF-8 is kept). Nil
// data decodes to a nil schema and value.
type StringCodec struct{}

// Name returns "string".
func (StringCodec) Name() string { return "string" }

// Encode writes the text form of v. Errors wrap ErrSchemaMismatch.
func (StringCodec) Encode(_ *Schema, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	case int8:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case float32:
		return appendJavaFloat(nil, float64(x), 32), nil
	case float64:
		return appendJavaFloat(nil, x, 64), nil
	case bool:
		return strconv.AppendBool(nil, x), nil
	case Decimal:
		return []byte(x.String()), nil
	case time.Time:
		return x.AppendFormat(nil, time.RFC3339Nano), nil
	}
	return nil, mismatchf("string codec cannot encode %s", TypeName(v))
}

// Decode returns data as an optional string.
func (StringCodec) Decode(data []byte) (*Schema, any, error) {
	if data == nil {
		return nil, nil, nil
	}
	return &Schema{Type: TypeString, Optional: true}, string(data), nil
}
