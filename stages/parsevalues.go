package stages

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// describeKind names what v is in the user's words (the data model's kinds, as JSON would call them), for
// error messages: "text", "a number", "an object", never a Go type.
func describeKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case []byte:
		return "bytes"
	case bool:
		return "a boolean"
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint, float32, float64, stream.Decimal:
		return "a number"
	case time.Time:
		return "a time"
	case []any:
		return "an array"
	case map[string]any, map[any]any:
		return "an object"
	case *stream.Struct:
		if x == nil {
			return "null"
		}
		if n := x.Schema().Name; n != "" {
			return fmt.Sprintf("a struct (%s)", n)
		}
		return "a struct"
	}
	return "a value of a kind Sluice does not know"
}

// userText returns the message of err from stream without the sentinel's own words ("stream: malformed
// data: "), which say nothing to a user beside the message.
func userText(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{stream.ErrMalformed, stream.ErrSchemaMismatch, stream.ErrInvalidSchema} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
	}
	return msg
}

// inferSchema derives a struct schema from an object as InferSchema documents: every field optional, in
// the order of their names (a JSON object's order is not kept by the decoder).
func inferSchema(m map[string]any) (*stream.Schema, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	b := stream.NewStruct("")
	for _, k := range names {
		fs, err := inferValueSchema(m[k])
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		b.Field(k, fs)
	}
	return b.Build()
}

func inferValueSchema(v any) (*stream.Schema, error) {
	switch x := v.(type) {
	case nil, string:
		return stream.StringSchema().AsOptional(), nil
	case bool:
		return stream.BooleanSchema().AsOptional(), nil
	case int64:
		return stream.Int64Schema().AsOptional(), nil
	case stream.Decimal:
		if x.Scale < 0 {
			return stream.DecimalSchema(0).AsOptional(), nil
		}
		return stream.DecimalSchema(int(x.Scale)).AsOptional(), nil
	case map[string]any:
		s, err := inferSchema(x)
		if err != nil {
			return nil, err
		}
		return s.AsOptional(), nil
	case []any:
		if len(x) == 0 {
			return stream.ArrayOf(stream.StringSchema().AsOptional()).AsOptional(), nil
		}
		items, err := inferValueSchema(x[0])
		if err != nil {
			return nil, fmt.Errorf("element 0: %w", err)
		}
		return stream.ArrayOf(items).AsOptional(), nil
	}
	return nil, fmt.Errorf("holds %s, which has no schema", describeKind(v))
}
