package stages

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// The Shaped methods of the stages of this package, in one place so that the rules read together.
//
//	stage                        accepts (value)                       produces
//	Cast (fields)                structured, with the fields           the same shape
//	Cast (whole value)           anything                              values of unknown kind
//	ExtractField                 structured, with the field            values of unknown kind
//	Flatten                      structured                            structured, fields unknown
//	HoistField                   anything                              structured, one field
//	InsertField                  structured                            structured, the fields added
//	MaskField                    structured                            the same shape
//	ReplaceField                 structured                            structured, fields as configured
//	SetSchemaMetadata            anything                              the same shape
//	TimestampConverter (field)   structured, with the field            the same shape
//	TimestampConverter (whole)   anything                              values of unknown kind
//	ValueToKey                   structured, with the fields           the same shape, keys identify
//	Unwrap                       structured, a Debezium envelope       structured, fields unknown
//	ParseJSON, ParseCSV          strings, bytes                        structured
//	FormatJSON                   anything                              strings
//	Filter, FilterValue          anything (FilterValue: see below)     the same shape
//	HeaderFromValue              structured                            the same shape (HeaderMove: the
//	                                                                   fields moved out)
//	HeaderFromKey                anything                              the same shape
//	Dedupe (a keyed step)        anything                              the same shape
//	InsertHeader, DropHeaders,   anything                              the same shape
//	RegexRouter, TimestampRouter
//	When(pred, s)                what s accepts                        s's shape where it agrees with the
//	                                                                   input's, else unknown
//
// A stage working on the key (OnKey) accepts any value, as keys' shapes are not tracked, and leaves the
// value's shape as it was. "Anything" includes values of unknown kind, which no stage refuses.

func (s *castStage) Accepts(in stream.Shape) error {
	if s.whole != "" {
		return nil
	}
	return needFields(s.target.key, in, sortedKeys(s.fields)...)
}

func (s *castStage) Produces(in stream.Shape) stream.Shape {
	if s.whole != "" && !s.target.key {
		return derived(in, stream.AnyValue, nil, s.name)
	}
	return in
}

func (s *extractFieldStage) Accepts(in stream.Shape) error {
	return needFields(s.target.key, in, s.path[0])
}

func (s *extractFieldStage) Produces(in stream.Shape) stream.Shape {
	if s.target.key {
		return in
	}
	return derived(in, stream.AnyValue, nil, s.name)
}

func (s *flattenStage) Accepts(in stream.Shape) error { return needStructured(s.target.key, in) }

func (s *flattenStage) Produces(in stream.Shape) stream.Shape {
	if s.target.key {
		return in
	}
	return derived(in, stream.StructuredValue, nil, s.name)
}

func (s *hoistFieldStage) Accepts(stream.Shape) error { return nil }

func (s *hoistFieldStage) Produces(in stream.Shape) stream.Shape {
	if s.target.key {
		return in
	}
	return derived(in, stream.StructuredValue, []string{s.field}, s.name)
}

func (s *insertFieldStage) Accepts(in stream.Shape) error { return needStructured(s.target.key, in) }

func (s *insertFieldStage) Produces(in stream.Shape) stream.Shape {
	if s.target.key || in.Fields == nil {
		return in
	}
	fields := slices.Clone(in.Fields)
	for _, spec := range []*insertSpec{s.specs.topic, s.specs.partition, s.specs.offset, s.specs.timestamp, s.specs.static} {
		if spec != nil && !slices.Contains(fields, spec.name) {
			fields = append(fields, spec.name)
		}
	}
	out := in
	out.Fields = fields
	return out
}

func (s *maskFieldStage) Accepts(in stream.Shape) error { return needStructured(s.target.key, in) }

func (s *maskFieldStage) Produces(in stream.Shape) stream.Shape { return in }

func (s *replaceFieldStage) Accepts(in stream.Shape) error { return needStructured(s.target.key, in) }

func (s *replaceFieldStage) Produces(in stream.Shape) stream.Shape {
	if s.target.key || in.Fields == nil {
		return in
	}
	var fields []string
	for _, f := range in.Fields {
		if s.exclude[f] || (len(s.include) > 0 && !s.include[f]) {
			continue
		}
		if to, ok := s.renames[f]; ok {
			f = to
		}
		fields = append(fields, f)
	}
	out := in
	out.Fields = fields
	if out.Fields == nil {
		out.Fields = []string{}
	}
	return out
}

func (s *setSchemaMetadataStage) Accepts(stream.Shape) error { return nil }

func (s *setSchemaMetadataStage) Produces(in stream.Shape) stream.Shape { return in }

func (s *timestampConverterStage) Accepts(in stream.Shape) error {
	if s.field == "" {
		return nil
	}
	return needFields(s.target.key, in, s.field)
}

func (s *timestampConverterStage) Produces(in stream.Shape) stream.Shape {
	if s.field == "" && !s.target.key {
		return derived(in, stream.AnyValue, nil, s.name)
	}
	return in
}

func (s *valueToKeyStage) Accepts(in stream.Shape) error { return needFields(false, in, s.fields...) }

// Produces keeps the value's shape; the keys, made of value fields the user chose, identify records.
func (s *valueToKeyStage) Produces(in stream.Shape) stream.Shape {
	out := in
	out.KeysIdentify = true
	return out
}

func (s *unwrapStage) Accepts(in stream.Shape) error {
	if err := needStructured(false, in); err != nil {
		return fmt.Errorf("%w: needs Debezium change events (structured values with \"before\" and \"after\")", ErrShapeNeeded)
	}
	if !in.MayHaveField("after") {
		return fmt.Errorf("%w: needs Debezium change events, with \"before\" and \"after\" fields; the records have %s", ErrShapeNeeded, fieldList(in.Fields))
	}
	return nil
}

func (s *unwrapStage) Produces(in stream.Shape) stream.Shape {
	return derived(in, stream.StructuredValue, nil, s.name)
}

// derived returns the shape a stage makes of in: another kind of value, with the given fields, keys as
// they were.
func derived(in stream.Shape, kind stream.ValueKind, fields []string, _ string) stream.Shape {
	return stream.Shape{Value: kind, Fields: fields, KeysIdentify: in.KeysIdentify}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// typedOneStage is a typed stage (MapValue, FilterValue, RouteValue) with its Shaped methods; passes says
// that records leave it unchanged (a filter, a router).
type typedOneStage[In, Out any] struct {
	oneStage
	passes bool
}

func (s typedOneStage[In, Out]) Accepts(in stream.Shape) error { return typedAccepts[In](in) }

func (s typedOneStage[In, Out]) Produces(in stream.Shape) stream.Shape {
	if s.passes {
		return in
	}
	return typedProduces[Out](in)
}

// typedFuncStage is FlatMapValue with its Shaped methods.
type typedFuncStage[In, Out any] struct{ funcStage }

func (s typedFuncStage[In, Out]) Accepts(in stream.Shape) error { return typedAccepts[In](in) }

func (s typedFuncStage[In, Out]) Produces(in stream.Shape) stream.Shape {
	return typedProduces[Out](in)
}

// typedAccepts refuses structured values for a stage whose In is text (a string or bytes); every other In
// takes text too (read as JSON) and structured values.
func typedAccepts[In any](in stream.Shape) error {
	if in.Value == stream.StructuredValue && typedKind[In]() != stream.StructuredValue && typedKind[In]() != stream.AnyValue {
		return fmt.Errorf("%w: needs %s (its function takes text), and the records are structured values: add stages.FormatJSON before it, or take a struct or map", ErrShapeNeeded, typedKind[In]())
	}
	return nil
}

// typedProduces is the shape of values of type Out.
func typedProduces[Out any](in stream.Shape) stream.Shape {
	return stream.Shape{Value: typedKind[Out](), KeysIdentify: in.KeysIdentify}
}

// typedKind is the kind of value a Go type gives in the data model (see the package documentation on
// results): text, bytes, structured (structs, maps, *stream.Struct), or unknown.
func typedKind[T any]() stream.ValueKind {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		if t == reflect.TypeFor[*stream.Struct]() {
			return stream.StructuredValue
		}
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.String:
		return stream.StringValue
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return stream.BytesValue
	case t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]() && t != reflect.TypeFor[stream.Decimal](),
		t.Kind() == reflect.Map:
		return stream.StructuredValue
	}
	return stream.AnyValue
}

// filterStage is Filter: records pass unchanged, so their shape does too.
type filterStage struct{ oneStage }

func (filterStage) Accepts(stream.Shape) error { return nil }

func (filterStage) Produces(in stream.Shape) stream.Shape { return in }

// headerFromStage is HeaderFromValue or HeaderFromKey with its Shaped methods.
type headerFromStage struct {
	Stage
	h *hdrHeaderFrom
}

func (s headerFromStage) Accepts(in stream.Shape) error { return needStructured(s.h.key, in) }

func (s headerFromStage) Produces(in stream.Shape) stream.Shape {
	if s.h.key || !s.h.move || in.Fields == nil {
		return in
	}
	out := in
	out.Fields = slices.DeleteFunc(slices.Clone(in.Fields), func(f string) bool { return slices.Contains(s.h.fields, f) })
	return out
}

// Accepts takes every shape: Dedupe compares records, whatever they hold.
func (d *dedupe) Accepts(stream.Shape) error { return nil }

// Produces returns in: Dedupe passes records unchanged or drops them.
func (d *dedupe) Produces(in stream.Shape) stream.Shape { return in }

// keepsShape makes a stage built with Map that changes neither values nor keys (headers, the topic) Shaped:
// it takes every shape and passes it on.
func keepsShape(s Stage) Stage { return keepShapeStage{s.(oneStage)} }

type keepShapeStage struct{ oneStage }

func (keepShapeStage) Accepts(stream.Shape) error { return nil }

func (keepShapeStage) Produces(in stream.Shape) stream.Shape { return in }

// Accepts is the guarded stage's: the records that match must suit it.
func (w predWhenStage) Accepts(in stream.Shape) error {
	if sh, ok := w.stage.(Shaped); ok {
		return sh.Accepts(in)
	}
	return nil
}

// Produces merges what the guarded stage makes with the records that pass by it unchanged.
func (w predWhenStage) Produces(in stream.Shape) stream.Shape {
	sh, ok := w.stage.(Shaped)
	if !ok {
		return stream.Shape{}
	}
	out := sh.Produces(in)
	merged := stream.Shape{Value: in.Value, KeysIdentify: in.KeysIdentify && out.KeysIdentify}
	if out.Value != in.Value {
		merged.Value = stream.AnyValue
	} else if in.Fields != nil && out.Fields != nil {
		merged.Fields = slices.Clone(in.Fields)
		for _, f := range out.Fields {
			if !slices.Contains(merged.Fields, f) {
				merged.Fields = append(merged.Fields, f)
			}
		}
	}
	if merged.Value == in.Value && slices.Equal(merged.Fields, in.Fields) {
		merged.From, merged.Hint, merged.Binary = in.From, in.Hint, in.Binary
	}
	return merged
}
