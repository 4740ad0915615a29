package stages

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/stream"
)

// FormatJSON makes a stage that writes the record value as JSON text, the reverse of ParseJSON: the
// value becomes a string, as the "json" codec writes it with the record's value schema (Decimals as exact
// numbers, structs as objects in field order, schemaless objects sorted by key), and the value schema
// becomes the string schema. A tombstone passes unchanged. A value that does not fit its schema is a record
// error (ErrTransformRecord) naming the record's place and the field.
//
// Use it where text is wanted: a topic of the "string" codec read by tools that take any text, or a file
// sink writing one JSON document per line.
//
// Shape: it accepts values of every kind and produces strings.
func FormatJSON(name string) (Stage, error) {
	if err := checkStageName("format-json", name); err != nil {
		return nil, err
	}
	return &formatJSONStage{name: name}, nil
}

type formatJSONStage struct{ name string }

func (s *formatJSONStage) Name() string { return s.name }

// Accepts takes every kind of value.
func (s *formatJSONStage) Accepts(stream.Shape) error { return nil }

// Produces returns strings.
func (s *formatJSONStage) Produces(in stream.Shape) stream.Shape {
	return stream.Shape{Value: stream.StringValue, KeysIdentify: in.KeysIdentify,
		From: "JSON text"}
}

// ProcessOne writes the value of r as JSON text.
func (s *formatJSONStage) ProcessOne(_ context.Context, r stream.Record) (stream.Record, bool, error) {
	if r.Value == nil {
		return r, true, nil
	}
	b, err := stream.JSONCodec{}.Encode(r.ValueSchema, r.Value)
	if err != nil {
		return r, false, fmt.Errorf("%w: value %s cannot be written as JSON: %s", ErrTransformRecord, recordPlace(&r), userText(err))
	}
	r.Value, r.ValueSchema = string(b), stream.StringSchema()
	return r, true, nil
}

// Process is ProcessOne for the Stage interface.
func (s *formatJSONStage) Process(ctx context.Context, r stream.Record) ([]stream.Record, error) {
	out, _, err := s.ProcessOne(ctx, r)
	if err != nil {
		return nil, err
	}
	return []stream.Record{out}, nil
}
