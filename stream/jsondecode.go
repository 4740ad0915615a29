package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeJSONValue reads data, one JSON value, as a value of the data model: with a nil schema as the
// "json" codec decodes (objects as map[string]any, numbers exactly: see JSONCodec), with a schema as the
// "json-schema" codec decodes a payload of that schema (a struct schema gives a *Struct). Unlike Decode,
// empty data is an error, and the message of invalid JSON says where it went wrong in the words of the
// text, to follow the name of what was read: "is not JSON: invalid character 'x' looking for beginning of
// value at byte 7", "is empty: no JSON value", "has text after the JSON value, at byte 9".
//
// Errors wrap ErrMalformed (not one JSON value) or ErrSchemaMismatch (a value that does not fit schema, or
// a number that cannot be held exactly), and name the field.
func DecodeJSONValue(schema *Schema, data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var n any
	if err := dec.Decode(&n); err != nil {
		return nil, malformedf("%s", jsonSyntaxText(err, data))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformedf("has text after the JSON value, at byte %d", dec.InputOffset()+1)
	}
	return valueFromJSON(schema, n)
}

// jsonSyntaxText says what is wrong with data, which encoding/json refused with err, without Go terms.
func jsonSyntaxText(err error, data []byte) string {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		if len(bytes.TrimSpace(data)) == 0 {
			return "is empty: no JSON value"
		}
		return "is not JSON"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "is not JSON: the text ends inside a value"
	case errors.As(err, &syn):
		return fmt.Sprintf("is not JSON: %s at byte %d", syn.Error(), syn.Offset)
	}
	return "is not JSON: " + err.Error()
}
