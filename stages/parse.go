package stages

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/stream"
)

// ParseOption adjusts ParseJSON.
type ParseOption func(*parseJSONStage)

// ParseSchema makes ParseJSON read every value as a value of schema (a struct schema: the result is a
// *stream.Struct with it), as the "json-schema" codec reads a payload: a field of the wrong kind, a
// required field missing, a number out of its field's range is a record error naming the field. Fields the
// text has and the schema lacks are dropped. The output shape then knows the schema's field names.
func ParseSchema(schema *stream.Schema) ParseOption {
	return func(s *parseJSONStage) { s.schema = schema }
}

// InferSchema makes ParseJSON derive a struct schema from the first object it parses (each field optional:
// a whole number an int64, another number a Decimal at that number's scale, a string a string, a boolean a
// boolean, an object a struct of its fields, an array an array of its first element's type, null an
// optional string) and read every value with it as ParseSchema does. So records carry a schema, which a
// "json-schema" topic or a sink that maps types needs; a later value that does not fit it (a field that
// held a number now holding text) is a record error. One schema is inferred per stage value, shared by
// every task and partition it runs for.
func InferSchema() ParseOption {
	return func(s *parseJSONStage) { s.infer = true }
}

// AnyJSON lets ParseJSON accept any JSON value (an array, a number, a string, null) instead of only
// objects. The output shape is then unknown: stages downstream that need fields are not checked before the
// pipeline runs. A schema (ParseSchema, InferSchema) still needs objects.
func AnyJSON() ParseOption {
	return func(s *parseJSONStage) { s.anyValue = true }
}

// ParseJSON makes a stage that parses the record value, JSON text in a string or bytes, into a structured
// value: without options a schemaless object, as the "json" codec decodes it (objects as maps of field
// names, numbers exactly: whole numbers within 64 bits as integers, every other number as a Decimal of its
// exact digits; see stream.JSONCodec), and the record's value schema becomes nil.
//
// A value that is not JSON, or JSON that is not an object, is a record error (ErrTransformRecord): the
// pipeline stops, or under a dead-letter policy the record goes to the dead-letter topic. Its message says
// which record and what is wrong: `value at topic "clicks" partition 0 offset 3 is not JSON: invalid
// character 'x' looking for beginning of value at byte 7`. A tombstone (no value) passes unchanged; so
// does a value that already is structured (a map of fields, or a stream.Struct when no schema option
// is given), so that the stage can stay in place when a topic's codec starts parsing.
//
// Shape: it accepts strings and bytes (and values of unknown kind) and refuses structured values only
// when a schema was asked for; it produces structured values, whose field names are known with
// ParseSchema. Keys are untouched.
func ParseJSON(name string, opts ...ParseOption) (Stage, error) {
	if err := checkStageName("parse-json", name); err != nil {
		return nil, err
	}
	s := &parseJSONStage{name: name}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if s.schema != nil {
		if s.infer {
			return nil, configErrorf(name, "InferSchema", "cannot be combined with ParseSchema: choose one")
		}
		if err := s.schema.Check(); err != nil {
			return nil, configErrorf(name, "ParseSchema", "%v", err)
		}
		if s.schema.Type != stream.TypeStruct {
			return nil, configErrorf(name, "ParseSchema", "is a %s schema; it must be a struct schema (objects)", s.schema.Type)
		}
	}
	return s, nil
}

type parseJSONStage struct {
	name     string
	schema   *stream.Schema // declared
	infer    bool
	anyValue bool

	mu       sync.Mutex
	inferred *stream.Schema
}

func (s *parseJSONStage) Name() string { return s.name }

// Accepts takes strings, bytes and values of unknown kind, but not values declared binary (Shape.Binary).
func (s *parseJSONStage) Accepts(in stream.Shape) error {
	if in.Binary {
		return fmt.Errorf("%w: takes JSON text, and the records are declared binary data (a topic's \"bytes\" codec): if they hold JSON text, give the topic the \"string\" codec (or the \"json\" codec, which parses them, and remove this stage)", ErrShapeNeeded)
	}
	if in.Value == stream.StructuredValue {
		return fmt.Errorf("%w: takes JSON text (strings or bytes), and the records already are structured values: remove it", ErrShapeNeeded)
	}
	return nil
}

// Produces returns structured values (unknown with AnyJSON), with the declared schema's field names.
func (s *parseJSONStage) Produces(in stream.Shape) stream.Shape {
	out := stream.Shape{Value: stream.StructuredValue, KeysIdentify: in.KeysIdentify,
		From: "JSON objects"}
	if s.anyValue && s.schema == nil && !s.infer {
		out.Value, out.From = stream.AnyValue, "JSON values"
	}
	if s.schema != nil {
		out.Fields = fieldNames(s.schema)
	}
	return out
}

func fieldNames(schema *stream.Schema) []string {
	names := make([]string, len(schema.Fields))
	for i, f := range schema.Fields {
		names[i] = f.Name
	}
	return names
}

// ProcessOne parses the value of r.
func (s *parseJSONStage) ProcessOne(_ context.Context, r stream.Record) (stream.Record, bool, error) {
	var text []byte
	switch v := r.Value.(type) {
	case nil:
		return r, true, nil
	case string:
		text = []byte(v)
	case []byte:
		text = v
	case map[string]any, map[any]any:
		if s.schema == nil && !s.infer {
			r.ValueSchema = nil
			return r, true, nil
		}
		return r, false, s.recordErrorf(&r, "is an object already parsed, not JSON text: remove the stage, or read the topic with a codec that keeps text (\"string\")")
	case *stream.Struct:
		if s.schema == nil && !s.infer {
			return r, true, nil
		}
		return r, false, s.recordErrorf(&r, "is a structured value already parsed, not JSON text: remove the stage, or read the topic with a codec that keeps text (\"string\")")
	default:
		return r, false, s.recordErrorf(&r, "is %s, not JSON text", describeKind(r.Value))
	}
	schema := s.schema
	if s.infer {
		var err error
		if schema, err = s.inferFrom(&r, text); err != nil {
			return r, false, err
		}
	}
	v, err := stream.DecodeJSONValue(schema, text)
	if err != nil {
		return r, false, s.recordErrorf(&r, "%s", decodeText(err))
	}
	if schema == nil && !s.anyValue {
		if _, ok := v.(map[string]any); !ok {
			return r, false, s.recordErrorf(&r, "is JSON %s, not an object (use the AnyJSON option to take any JSON value)", describeKind(v))
		}
	}
	r.Value, r.ValueSchema = v, schema
	return r, true, nil
}

// Process is ProcessOne for the Stage interface.
func (s *parseJSONStage) Process(ctx context.Context, r stream.Record) ([]stream.Record, error) {
	out, _, err := s.ProcessOne(ctx, r)
	if err != nil {
		return nil, err
	}
	return []stream.Record{out}, nil
}

// inferFrom returns the inferred schema, inferring it from text if none was yet.
func (s *parseJSONStage) inferFrom(r *stream.Record, text []byte) (*stream.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inferred != nil {
		return s.inferred, nil
	}
	v, err := stream.DecodeJSONValue(nil, text)
	if err != nil {
		return nil, s.recordErrorf(r, "%s", decodeText(err))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, s.recordErrorf(r, "is JSON %s, not an object: a schema is inferred from objects only", describeKind(v))
	}
	schema, err := inferSchema(m)
	if err != nil {
		return nil, s.recordErrorf(r, "cannot infer a schema from it: %s", userText(err))
	}
	s.inferred = schema
	return schema, nil
}

// decodeText is the message of an error of stream.DecodeJSONValue, to follow "value at ...".
func decodeText(err error) string {
	if errors.Is(err, stream.ErrMalformed) {
		return userText(err)
	}
	return "does not fit the schema: " + userText(err)
}

// recordErrorf returns a record error about r's value, naming where r comes from.
func (s *parseJSONStage) recordErrorf(r *stream.Record, format string, args ...any) error {
	return fmt.Errorf("%w: value %s %s", ErrTransformRecord, recordPlace(r), fmt.Sprintf(format, args...))
}

// recordPlace names where a record comes from: its topic, partition and offset after Kafka, its source
// position before.
func recordPlace(r *stream.Record) string {
	switch {
	case r.Topic != "":
		return fmt.Sprintf("at topic %q partition %d offset %d", r.Topic, r.Partition, r.Offset)
	case len(r.Position) > 0:
		return fmt.Sprintf("at source position %s", r.Position)
	}
	return "of the record"
}
