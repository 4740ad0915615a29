// Package stages holds record transformations. The same Stage value runs before Kafka (ETL, inside a
// source task, before produce) or after it (ELT, inside the processor that feeds a sink).
package stages

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/stream"
)

// Stage turns one record into zero or more records.
//
// Process is called from one goroutine per task or partition at a time, in record order; a stage that keeps
// state across calls must guard it itself. An error stops the pipeline (or, under a dead-letter policy,
// sends the record to the dead-letter topic with the stage's name and the error in its headers).
type Stage interface {
	// Name identifies the stage in metrics, logs and errors.
	Name() string
	Process(ctx context.Context, r stream.Record) ([]stream.Record, error)
}

// ErrNoName is returned when a stage is built without a name.
var ErrNoName = errors.New("stage has no name")

// OneToOne is implemented by stages that turn a record into at most one record (Map, Filter and their
// typed forms). Engines call ProcessOne to run them without allocating; it must behave as Process does.
type OneToOne interface {
	// ProcessOne returns the record and true, or false when the record is dropped.
	ProcessOne(ctx context.Context, r stream.Record) (stream.Record, bool, error)
}

type funcStage struct {
	name string
	fn   func(context.Context, stream.Record) ([]stream.Record, error)
}

func (s funcStage) Name() string { return s.name }
func (s funcStage) Process(ctx context.Context, r stream.Record) ([]stream.Record, error) {
	return s.fn(ctx, r)
}

// oneStage is a funcStage that is also OneToOne.
type oneStage struct {
	name string
	fn   func(context.Context, stream.Record) (stream.Record, bool, error)
}

func (s oneStage) Name() string { return s.name }
func (s oneStage) ProcessOne(ctx context.Context, r stream.Record) (stream.Record, bool, error) {
	return s.fn(ctx, r)
}
func (s oneStage) Process(ctx context.Context, r stream.Record) ([]stream.Record, error) {
	out, keep, err := s.fn(ctx, r)
	if err != nil || !keep {
		return nil, err
	}
	return []stream.Record{out}, nil
}

// FlatMap makes a stage from a function that returns any number of records for each input record.
//
// Schemas stay true as with Map: each output record's schemas are derived again or checked against the
// input record's.
func FlatMap(name string, fn func(context.Context, stream.Record) ([]stream.Record, error)) Stage {
	return funcStage{name: name, fn: func(ctx context.Context, r stream.Record) ([]stream.Record, error) {
		outs, err := fn(ctx, r)
		if err != nil {
			return nil, err
		}
		for i := range outs {
			if err := keepSchemasTrue(name, &r, &outs[i]); err != nil {
				return nil, err
			}
		}
		return outs, nil
	}}
}

// Map makes a stage that replaces each record by fn's result.
//
// Schemas stay true: when the result's value (or key) is a *stream.Struct, its ValueSchema (KeySchema)
// becomes the Struct's schema unless fn set another one; otherwise, when the result still carries a
// schema, the value must be of that schema's type at the top level (a cheap check of the Go type, not of
// every nested value). A value that does not fit the schema fn left in place fails the record with
// ErrStaleSchema, naming the stage and the fix: set ValueSchema to the new value's schema, or to nil for a
// schemaless value.
func Map(name string, fn func(stream.Record) (stream.Record, error)) Stage {
	return oneStage{name: name, fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
		out, err := fn(r)
		if err == nil {
			err = keepSchemasTrue(name, &r, &out)
		}
		return out, err == nil, err
	}}
}

// Filter makes a stage that keeps the records for which keep returns true and drops the others.
func Filter(name string, keep func(stream.Record) bool) Stage {
	return oneStage{name: name, fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
		return r, keep(r), nil
	}}
}

// Validate reports a stage that cannot run: nil, or without a name.
func Validate(s Stage) error {
	if s == nil {
		return errors.New("stage is nil")
	}
	if s.Name() == "" {
		return ErrNoName
	}
	return nil
}
