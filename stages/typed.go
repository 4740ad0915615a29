package stages

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// The conversion rules of the typed stages are in the package documentation (stage.go), under "Typed
// stages".

// unknownFieldsPolicy says what a typed stage does with input fields its Go type does not declare.
type unknownFieldsPolicy int8

const (
	keepUnknown   unknownFieldsPolicy = iota // carry them through (the default)
	refuseUnknown                            // fail the record
	dropUnknown                              // drop them
)

// TypedOption adjusts a typed stage (MapValue, FilterValue, FlatMapValue, RouteValue).
type TypedOption func(*typedConfig)

type typedConfig struct {
	unknown unknownFieldsPolicy
}

// KeepUnknownFields makes a typed stage carry the input fields its Go type does not declare into its output
// (see the package documentation). It is the default.
func KeepUnknownFields() TypedOption { return func(c *typedConfig) { c.unknown = keepUnknown } }

// RefuseUnknownFields makes a typed stage fail each record that has a field its Go type does not declare,
// with an error wrapping ErrUnknownField that names the fields.
func RefuseUnknownFields() TypedOption { return func(c *typedConfig) { c.unknown = refuseUnknown } }

// DropUnknownFields makes a typed stage drop the input fields its Go type does not declare, as
// encoding/json does. Use it only where losing them is intended.
func DropUnknownFields() TypedOption { return func(c *typedConfig) { c.unknown = dropUnknown } }

func newTypedConfig(opts []TypedOption) typedConfig {
	var c typedConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

var (
	// ErrUnknownField is wrapped by a typed stage's error for a record with fields its Go type does not
	// declare, under RefuseUnknownFields, or that it cannot carry under KeepUnknownFields. The message names
	// the fields.
	ErrUnknownField = errors.New("field not declared by the stage's type")
	// ErrMissingField is wrapped by a typed stage's error for a record without a field its Go type requires
	// (a field that is not a pointer, slice, map or interface, and not tagged omitempty or omitzero).
	ErrMissingField = errors.New("required field missing")
	// ErrFieldType is wrapped by a typed stage's error for a field (or value) that does not convert to the
	// Go type: a string for a number, a fraction for an integer, a number out of range, null for a required
	// field, an object for a scalar.
	ErrFieldType = errors.New("field does not convert to the stage's type")
)

// unknownFieldsError lists the unknown fields a stage refuses or cannot carry.
type unknownFieldsError struct {
	typeName string
	fields   []string
	carrying bool // under KeepUnknownFields: the fields cannot be placed in the result
}

func (e *unknownFieldsError) Error() string {
	var b strings.Builder
	if len(e.fields) == 1 {
		b.WriteString("field ")
	} else {
		b.WriteString("fields ")
	}
	const listed = 10 // a record with hundreds of unknown fields gets a readable error
	if len(e.fields) > listed {
		fmt.Fprintf(&b, "%s and %d more", strings.Join(e.fields[:listed], ", "), len(e.fields)-listed)
	} else {
		b.WriteString(strings.Join(e.fields, ", "))
	}
	fmt.Fprintf(&b, ": not declared by %s", e.typeName)
	if e.carrying {
		them := "it"
		if len(e.fields) > 1 {
			them = "them"
		}
		fmt.Fprintf(&b, " and cannot be carried into the result; declare %s in %s, or build the stage with DropUnknownFields or RefuseUnknownFields", them, e.typeName)
	} else {
		b.WriteString(" (the stage refuses unknown fields)")
	}
	return b.String()
}

func (e *unknownFieldsError) Unwrap() error { return ErrUnknownField }

// typedInput converts record values to In under a stage's options.
type typedInput[In any] struct {
	stage string
	cfg   typedConfig
}

// convert returns r's value as an In and the input fields In does not declare (nil under DropUnknownFields).
// Errors name the stage.
func (t typedInput[In]) convert(r stream.Record) (In, []unknownField, error) {
	var in In
	if v, ok := r.Value.(In); ok {
		return v, nil, nil
	}
	dst := reflect.ValueOf(&in).Elem()
	src := r.Value
	switch x := src.(type) {
	case string, []byte:
		switch {
		case dst.Kind() == reflect.String:
			dst.SetString(string(asBytes(x)))
			return in, nil, nil
		case dst.Kind() == reflect.Slice && dst.Type().Elem().Kind() == reflect.Uint8:
			dst.SetBytes(append([]byte(nil), asBytes(x)...))
			return in, nil, nil
		}
		v, err := parseJSONText(asBytes(x))
		if err != nil {
			return in, nil, fmt.Errorf("stage %q: value: is %s that is not JSON, want %s: %w", t.stage,
				describeSource(src), describeGoType(dst.Type()), ErrFieldType)
		}
		src = v
	}
	var c inputConverter
	if err := c.convert(nil, src, dst); err != nil {
		return in, nil, fmt.Errorf("stage %q: %w", t.stage, err)
	}
	if len(c.unknown) == 0 {
		return in, nil, nil
	}
	switch t.cfg.unknown {
	case refuseUnknown:
		fields := make([]string, len(c.unknown))
		for i, u := range c.unknown {
			fields[i] = u.path
		}
		return in, nil, fmt.Errorf("stage %q: %w", t.stage, &unknownFieldsError{typeName: typeName(dst.Type()), fields: fields})
	case dropUnknown:
		return in, nil, nil
	}
	return in, c.unknown, nil
}

func asBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	return v.([]byte)
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer && t.Name() == "" {
		t = t.Elem()
	}
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

// result stores out as r's value and carries the unknown fields into it (see the package documentation).
// Errors name the stage.
func (t typedInput[In]) result(r *stream.Record, out any, unknown []unknownField) error {
	if err := setValue(r, out); err != nil {
		return fmt.Errorf("stage %q: %w", t.stage, err)
	}
	if len(unknown) == 0 {
		return nil
	}
	m, ok := r.Value.(map[string]any)
	if !ok {
		return nil // not an object: the result replaces the whole value
	}
	if err := carry(m, unknown); err != nil {
		var ue *unknownFieldsError
		if errors.As(err, &ue) {
			ue.typeName = typeName(reflect.TypeFor[In]())
		}
		return fmt.Errorf("stage %q: %w", t.stage, err)
	}
	return nil
}

// MapValue makes a stage that replaces each record's value by fn's result, converted as the package
// documentation says; the input fields In does not declare are carried into the result by default (opts
// change that).
func MapValue[In, Out any](name string, fn func(ctx context.Context, v In) (Out, error), opts ...TypedOption) Stage {
	t := typedInput[In]{stage: name, cfg: newTypedConfig(opts)}
	return typedOneStage[In, Out]{oneStage: oneStage{name: name, fn: func(ctx context.Context, r stream.Record) (stream.Record, bool, error) {
		in, unknown, err := t.convert(r)
		if err != nil {
			return r, false, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return r, false, err
		}
		if err := t.result(&r, out, unknown); err != nil {
			return r, false, err
		}
		return r, true, nil
	}}}
}

// FilterValue makes a stage that keeps the records whose value keep accepts. Kept records pass unchanged,
// unknown fields included; under RefuseUnknownFields a record with unknown fields fails instead.
func FilterValue[In any](name string, keep func(v In) bool, opts ...TypedOption) Stage {
	t := typedInput[In]{stage: name, cfg: newTypedConfig(opts)}
	return typedOneStage[In, In]{passes: true, oneStage: oneStage{name: name, fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
		in, _, err := t.convert(r)
		if err != nil {
			return r, false, err
		}
		return r, keep(in), nil
	}}}
}

// FlatMapValue makes a stage that turns each record into one record per value fn returns, each keeping the
// input's key, headers and metadata. The input fields In does not declare are carried into every result
// that is an object, by default (opts change that).
func FlatMapValue[In, Out any](name string, fn func(ctx context.Context, v In) ([]Out, error), opts ...TypedOption) Stage {
	t := typedInput[In]{stage: name, cfg: newTypedConfig(opts)}
	return typedFuncStage[In, Out]{funcStage: funcStage{name: name, fn: func(ctx context.Context, r stream.Record) ([]stream.Record, error) {
		in, unknown, err := t.convert(r)
		if err != nil {
			return nil, err
		}
		outs, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		recs := make([]stream.Record, 0, len(outs))
		for i, o := range outs {
			rec := r
			rec.Headers = append([]stream.Header(nil), r.Headers...)
			carried := unknown
			if i > 0 && len(unknown) > 0 {
				carried = cloneUnknown(unknown)
			}
			if err := t.result(&rec, o, carried); err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
		return recs, nil
	}}}
}

// RouteValue makes a stage that sends each record to the topic topicFor names ("" keeps its topic). The
// topology must declare every topic a record can be routed to. Records pass unchanged, unknown fields
// included; under RefuseUnknownFields a record with unknown fields fails instead.
func RouteValue[In any](name string, topicFor func(v In) string, opts ...TypedOption) Stage {
	t := typedInput[In]{stage: name, cfg: newTypedConfig(opts)}
	return typedOneStage[In, In]{passes: true, oneStage: oneStage{name: name, fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
		in, _, err := t.convert(r)
		if err != nil {
			return r, false, err
		}
		if topic := topicFor(in); topic != "" {
			r.Topic = topic
		}
		return r, true, nil
	}}}
}

var jsonCodec, _ = stream.LookupCodec("json")

// setValue stores out as the record's value in the data model (see the package documentation on results): a
// *stream.Struct with its schema, anything else schemaless.
func setValue(r *stream.Record, out any) error {
	if st, ok := out.(*stream.Struct); ok {
		if st == nil {
			r.Value, r.ValueSchema = nil, nil
		} else {
			r.Value, r.ValueSchema = st, st.Schema()
		}
		return nil
	}
	v := out
	if !isPlainModelValue(out) {
		var err error
		if v, err = toModel(reflect.ValueOf(out)); err != nil {
			return fmt.Errorf("the function's result: %w", err)
		}
	}
	r.Value, r.ValueSchema = v, nil
	return nil
}

// isPlainModelValue reports a scalar of the data model, which needs no conversion.
func isPlainModelValue(v any) bool {
	switch v.(type) {
	case nil, int8, int16, int32, int64, float32, float64, bool, string, []byte, stream.Decimal:
		return true
	}
	return false
}
