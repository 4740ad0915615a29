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
// Decode returns a nil schema and values as Connect does without a schema, except for numbers, which it
// reads without loss: objects as map[string]any, arrays as []any, strings, bools, nil for JSON null, and
// numbers as follows. Nil or empty data decodes to nil.
//
// Numbers, from JSON text to Go value and back to JSON text (Encode without a schema):
//
//	JSON text                 Go value                             JSON text written
//	-9223372036854775808 ..   int64                                the same digits
//	  9223372036854775807
//	18446744073709551615      Decimal{18446744073709551615, 0}     18446744073709551615
//	2.00                      Decimal{200, 2}                      2.00
//	-1234567890123456789.12   Decimal{-123456789012345678912, 2}   -1234567890123456789.12
//	0.1                       Decimal{1, 1}                        0.1
//	1.0E-300 (or 1.0e-300)    Decimal{10, 301}                     1.0E-300
//	3.4028235E38              Decimal{34028235, -31}               3.4028235E+38
//	1e3                       Decimal{1, -3}                       1E+3
//	0.0000001                 Decimal{1, 7}                        1E-7
//	-0.0                      Decimal{0, 1}                        0.0
//
// That is: an integer within the int64 range is an int64 (also "1.0E1" or "0E0", whose exponent leaves no
// fraction and scale 0, as their Decimal would be written back as "10" and "0"); every other number is a
// Decimal holding exactly its digits, with the scale Java's BigDecimal(String) gives the text (digits
// after the point minus the exponent, so trailing zeros are kept: 2.00 stays 2.00). A Decimal is written
// back as Java's BigDecimal.toString writes it, which Connect writes too: plain notation, unless the scale
// is negative or the value is below 10^-6, then exponent notation with a capital E and a signed exponent.
// So the digits and the value always survive a round trip, and the text keeps its form except for the
// exponent's spelling (e → E, E38 → E+38), plain numbers below 10^-6 (written with an exponent), and the
// sign of a negative zero. A number of more than 16384 digits, or whose exponent would make a scale beyond
// ±16384, cannot be held exactly and fails to decode (ErrSchemaMismatch) rather than being rounded.
//
// Values decoded with a schema (the "json-schema" codec) take their schema's type instead: an int64 field
// is an int64, a float32 field the nearest float32 (Encode writes float32's shortest text, which reads
// back to the same float32), a Decimal field a Decimal at the schema's scale.
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

// Decode parses data as schemaless JSON, numbers exactly (see JSONCodec). Errors wrap ErrMalformed (invalid
// JSON) or ErrSchemaMismatch (a number that cannot be held exactly).
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
