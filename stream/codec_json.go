package stream

// JSONCodec is the "json" codec: plain JSON without a schema, like Kafka Connect's JsonConverter with
// schemas.enable=false.
//
// Encode uses the schema, when given, to write each value as Connect does: Decimals as JSON numbers
// (decimal.format=NUMERIC, in Java's BigDecimal notation), Date, Time and Timestamp as their int32/int64
// encodings, bytes as base64, Structs as objects in field order, maps with string keys as objects (sorted
// by key) and other maps as arrays of [key, value] pairs. Without a schema it writes values by their Go type
// (Structs with their own schema). A nil value with a schema writes the schema's default, or null if the
// schema is optional; with a nil schema it writes nil bytes.
//
// Decode returns a nil schema and values as Connect does without a schema: objects as map[string]any, arrays
// as []any, integers as int64 (float64 beyond the int64 range), other numbers as float64, strings, bools,
// and nil for JSON null. Nil or empty data decodes to nil.
type JSONCodec struct{}

// Name returns "json".
func (JSONCodec) Name() string { return "json" }

// Encode writes v as plain JSON. Errors wrap ErrSchemaMismatch (or ErrInvalidSchema) and name the field.
func (JSONCodec) Encode(schema *Schema, v any) ([]byte, error) {
	if schema == nil && v == nil {
		return nil, nil
	}
	w := jsonWriter{decimals: decimalNumeric}
	if err := w.value(schema, v); err != nil {
		return nil, err
	}
	return w.buf, nil
}

// Decode parses data as schemaless JSON. Errors wrap ErrMalformed (invalid JSON) or ErrSchemaMismatch (a
// number beyond the float64 range).
func (JSONCodec) Decode(data []byte) (*Schema, any, error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	n, err := parseJSON(data)
	if err != nil {
		return nil, nil, err
	}
	v, err := schemalessFromJSON(n)
	if err != nil {
		return nil, nil, err
	}
	return nil, v, nil
}
