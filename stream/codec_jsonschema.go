package stream

// JSONSchemaCodec is the "json-schema" codec: Kafka Connect's JsonConverter with schemas.enable=true, whose
// messages carry their schema in an envelope:
//
//	{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false},"payload":{"id":42}}
//
// Encode writes the bytes JsonConverter writes for the same data: members and struct fields in the same
// order, no whitespace, Decimals as base64 of the unscaled two's-complement bytes (Connect's default
// decimal.format=BASE64), Date, Time and Timestamp as integers, floats in Java notation. Schema parameters
// are written with "scale" first and the others sorted. A nil schema with a *Struct value uses the
// Struct's schema; a nil schema with another value writes {"schema":null,"payload":...}. A nil value with
// a schema writes the schema's default or, if the schema is optional, {"schema":...,"payload":null}; a nil
// schema and nil value encode to nil bytes (a tombstone).
//
// Decode reads the envelope back to the *Schema and a value of the Go types documented on Schema (structs
// as *Struct, integers at their width, Decimals from base64 or numbers, logical types as time.Time and
// Decimal). Every number is exact: a float32 field reads the float32 its shortest text was written for, a
// Decimal field every digit at the schema's scale. A payload under a null schema reads as the "json" codec
// reads it (numbers as int64 or exact Decimals, see JSONCodec). Nil or empty data decodes to a nil schema
// and value.
type JSONSchemaCodec struct{}

// Name returns "json-schema".
func (JSONSchemaCodec) Name() string { return "json-schema" }

// Encode writes the envelope for v and schema. Errors wrap ErrSchemaMismatch or ErrInvalidSchema and name
// the field path.
func (JSONSchemaCodec) Encode(schema *Schema, v any) ([]byte, error) {
	if schema == nil && v == nil {
		return nil, nil
	}
	if st, ok := v.(*Struct); ok && schema == nil && st != nil {
		schema = st.schema
	}
	w := jsonWriter{decimals: decimalBase64}
	w.buf = append(w.buf, `{"schema":`...)
	if schema == nil {
		w.buf = append(w.buf, "null"...)
	} else if err := w.schema(schema); err != nil {
		return nil, err
	}
	w.buf = append(w.buf, `,"payload":`...)
	if err := w.value(schema, v); err != nil {
		return nil, err
	}
	w.buf = append(w.buf, '}')
	return w.buf, nil
}

// Decode parses an envelope. Errors wrap ErrMalformed (invalid JSON, not an envelope), ErrInvalidSchema (a
// schema Connect would reject) or ErrSchemaMismatch (a payload that does not fit its schema).
func (JSONSchemaCodec) Decode(data []byte) (*Schema, any, error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	n, err := parseJSON(data)
	if err != nil {
		return nil, nil, err
	}
	env, ok := n.(map[string]any)
	_, hasSchema := env["schema"]
	_, hasPayload := env["payload"]
	if !ok || len(env) != 2 || !hasSchema || !hasPayload {
		return nil, nil, malformedf(`json-schema needs an object with exactly "schema" and "payload" members; ` +
			`use the "json" codec for plain JSON`)
	}
	var schema *Schema
	if env["schema"] != nil {
		if schema, err = schemaFromJSON(env["schema"]); err != nil {
			return nil, nil, err
		}
	}
	v, err := valueFromJSON(schema, env["payload"])
	if err != nil {
		return nil, nil, err
	}
	return schema, v, nil
}
