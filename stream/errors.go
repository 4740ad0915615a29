package stream

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrSchemaMismatch means a value does not fit its schema: a wrong Go type, a nil for a required schema
	// without a default, a missing struct field, a number out of range. Errors wrapping it name the field path.
	ErrSchemaMismatch = errors.New("stream: schema mismatch")
	// ErrInvalidSchema means a schema is not well formed: an array without Items, a Decimal without a valid
	// "scale" parameter, duplicate or empty struct field names, an unknown Type.
	ErrInvalidSchema = errors.New("stream: invalid schema")
	// ErrMalformed means bytes could not be decoded: invalid JSON, or JSON that is not a Connect envelope.
	ErrMalformed = errors.New("stream: malformed data")
)

// pathError is an error about one place in a value or schema. Its path is built while the recursion that
// found it unwinds, so the happy path allocates nothing for it.
type pathError struct {
	kind error  // one of the sentinels above
	path string // "address.zip", "items[2]", "" for the root
	msg  string
}

func (e *pathError) Error() string {
	if e.path == "" {
		return e.kind.Error() + ": " + e.msg
	}
	return e.kind.Error() + ": field " + strconv.Quote(e.path) + ": " + e.msg
}

func (e *pathError) Unwrap() error { return e.kind }

// detail returns the message of err without its sentinel's text, for wrapping it in an error of another kind.
func detail(err error) string {
	var pe *pathError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	if pe.path == "" {
		return pe.msg
	}
	return "field " + strconv.Quote(pe.path) + ": " + pe.msg
}

func mismatchf(format string, args ...any) error {
	return &pathError{kind: ErrSchemaMismatch, msg: fmt.Sprintf(format, args...)}
}

func invalidSchemaf(format string, args ...any) error {
	return &pathError{kind: ErrInvalidSchema, msg: fmt.Sprintf(format, args...)}
}

func malformedf(format string, args ...any) error {
	return &pathError{kind: ErrMalformed, msg: fmt.Sprintf(format, args...)}
}

// inField prefixes the path of err with the struct field name.
func inField(err error, name string) error {
	var pe *pathError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.path == "":
		pe.path = name
	case strings.HasPrefix(pe.path, "["):
		pe.path = name + pe.path
	default:
		pe.path = name + "." + pe.path
	}
	return err
}

// inElement prefixes the path of err with an array index or a map key.
func inElement(err error, key any) error {
	var pe *pathError
	if !errors.As(err, &pe) {
		return err
	}
	var seg string
	if s, ok := key.(string); ok {
		seg = "[" + strconv.Quote(s) + "]"
	} else {
		seg = fmt.Sprintf("[%v]", key)
	}
	if pe.path == "" || strings.HasPrefix(pe.path, "[") {
		pe.path = seg + pe.path
	} else {
		pe.path = seg + "." + pe.path
	}
	return err
}

// TypeName names what v is for error messages, in the data model's words (Kafka Connect's type names, as
// schemas are written), never a Go type: "int32", "double", "map with string keys", "struct". A value
// outside the data model is named by its Go kind only ("Go int", "Go slice"). Stages and connectors use it
// so that every message names values the same way.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int8:
		return "int8"
	case int16:
		return "int16"
	case int32:
		return "int32"
	case int64:
		return "int64"
	case float32:
		return "float"
	case float64:
		return "double"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case Decimal:
		return "Decimal"
	case time.Time:
		return "timestamp"
	case []any:
		return "array"
	case map[string]any:
		return "map with string keys"
	case map[any]any:
		return "map"
	case *Struct:
		return "struct"
	}
	return "Go " + reflect.TypeOf(v).Kind().String()
}
