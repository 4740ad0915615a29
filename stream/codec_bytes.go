package stream

// BytesCodec is the "bytes" codec, like Kafka Connect's ByteArrayConverter: values are raw bytes, passed
// through unchanged.
//
// Encode accepts a []byte or nil value with a nil or bytes schema; anything else is an error wrapping
// ErrSchemaMismatch. A nil value encodes to nil bytes. Decode returns an optional bytes schema and data
// itself, not a copy; nil data decodes to a nil schema and value.
type BytesCodec struct{}

// Name returns "bytes".
func (BytesCodec) Name() string { return "bytes" }

// Encode returns v, which must be a []byte.
func (BytesCodec) Encode(schema *Schema, v any) ([]byte, error) {
	if schema != nil && schema.Type != TypeBytes {
		return nil, mismatchf("bytes codec needs a bytes schema, got %s", schema.describe())
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	}
	return nil, mismatchf("bytes codec needs bytes, got %s", TypeName(v))
}

// Decode returns data as optional bytes.
func (BytesCodec) Decode(data []byte) (*Schema, any, error) {
	if data == nil {
		return nil, nil, nil
	}
	return &Schema{Type: TypeBytes, Optional: true}, data, nil
}
