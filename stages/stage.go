// Package stages holds record transformations. The same Stage value runs before Kafka (ETL, inside a
// source task, before produce) or after it (ELT, inside the processor that feeds a sink).
//
// Stateful steps are not Stages: a Join (LookupJoin, JoinForeignKey) describes how a flow joins a table,
// and a Keyed step (Dedupe, Aggregate, Count, or the user's own) folds each record into its key's state.
// Both keep their state in Kafka and run only where a flow declares them (topology.Flow.Join,
// topology.Flow.Keyed), each in a goka group of its own; a Stage's Process always can run anywhere.
//
// # Schemas after user functions
//
// Map and FlatMap keep a record's schemas true to the values their function returns: a *stream.Struct
// value (or key) brings its own schema, and a value that does not fit the schema the function left in place
// fails the record with ErrStaleSchema, naming the stage and the fix. The typed stages below set the schema
// from their result.
//
// Typed stages let user code work on its own Go types instead of the data model.
//
// # Typed stages: from the record to In
//
// A value that already is an In (a string, a map[string]any, a *stream.Struct, anything for In = any) is
// handed over as it is. A string or []byte value is read as JSON text first (unless In is itself a string
// or []byte, which then get the text or bytes). Every other value is converted field by field from the data
// model, with the names and options of encoding/json's struct tags (a field matches its tag name, else its
// Go name; exact case first, then ignoring case; embedded structs are promoted; "-" is ignored; ",string"
// reads and writes a number or boolean inside a string). Nothing goes through float64 on the way:
//
//	input value (data model / JSON)        Go field of In                   result
//	-------------------------------        --------------                   ------
//	field In does not declare              -                                unknown: see below
//	field missing                          pointer, slice, map, interface,  zero value (nil)
//	                                       or tagged omitempty / omitzero
//	field missing                          any other                        error ErrMissingField
//	null (nil)                             pointer, slice, map, interface   nil
//	null (nil)                             tagged omitempty / omitzero      zero value
//	null (nil)                             any other                        error ErrFieldType
//	integer (int8..int64, json.Number,     int, int8..int64, uint..uint64   exact; out of range: error
//	  Decimal or float without fraction)
//	number with a fraction                 integer type                     error ErrFieldType
//	any number                             float32, float64                 nearest float (declaring a float is
//	                                                                        the choice to round; beyond range: error)
//	any number, or a string holding one    stream.Decimal, json.Number      exact digits (a float as its shortest
//	                                                                        decimal form)
//	string                                 string                           as is
//	number                                 string                           error ErrFieldType (declare
//	                                                                        json.Number or stream.Decimal)
//	string                                 int, uint, float types           error ErrFieldType (unless tagged
//	                                                                        ",string")
//	boolean                                bool                             as is; anything else: error
//	time.Time, or RFC 3339 string          time.Time                        as is / parsed
//	[]byte, or base64 string               []byte                           copied / decoded
//	array                                  slice, array                     element by element (array: same length)
//	object (*stream.Struct or map)         struct, map[K]V                  field by field; map keys as text
//	*stream.Struct                         *stream.Struct                   as is
//	anything                               any (interface{})                the data-model value as is
//	anything JSON can hold                 a type with UnmarshalJSON        written as JSON and handed to it
//	object, array                          string, number, bool             error ErrFieldType
//
// A tombstone (nil value) is null: In must be a pointer, slice, map or interface type to receive one.
// Errors name the stage, the field path and, in the user's words, what the field is and what the Go type
// wants: `stage "high-value": field amount: is a string ("12x"), want a number (float64)`.
//
// # Typed stages: unknown fields
//
// Fields of the input that In does not declare (at the top level or inside structs of In, "customer.email")
// are handled by the stage's unknown-field option:
//
//   - KeepUnknownFields (the default): the stage works on the fields In declares and carries the rest into
//     its output. FilterValue and RouteValue pass the record unchanged, so nothing is lost. For MapValue and
//     FlatMapValue whose result is an object (a struct, a map, or a pointer to one), every unknown field is
//     put back into each result at its path, unless the result already has a field of exactly that name:
//     what the stage sets wins. Parent objects are found by name (ignoring case if need be, as Go field
//     names match) and created when missing, so a field whose parent Out does not declare still arrives
//     ("customer": {"email": ...}). The rule is the same when Out is another
//     type than In: carried means "fields In did not declare", never "fields Out does not declare"; a field In
//     declares and Out leaves out is the stage's choice to drop. An unknown field that cannot be placed (it
//     lies inside an array element or map value of In, whose place in the result the stage may have
//     changed, or the result holds a non-object where its parent should be) fails the record with
//     ErrUnknownField naming it. A result that is not an object (a string, a number, a slice, a
//     *stream.Struct) replaces the whole value: nothing is carried.
//   - RefuseUnknownFields: a record with any unknown field fails with ErrUnknownField naming the fields.
//   - DropUnknownFields: unknown fields are dropped, as encoding/json does; an explicit choice to lose them.
//
// # Typed stages: results
//
// A result goes back into the record in the data model, as encoding/json would write it but keeping
// types and digits:
//
//   - structs and maps become schemaless map[string]any under their JSON names; omitempty, omitzero, "-"
//     and ",string" are honoured (so a null or empty input value of an omitempty field comes out absent);
//   - slices become []any; []byte, stream.Decimal, *stream.Struct, int8, int16, int32, float32 and float64
//     stay themselves; int, int64 and the uint types become int64 (a uint64 beyond int64 a Decimal);
//     json.Number becomes an int64 or an exact Decimal;
//   - time.Time becomes RFC 3339 text with every digit of its nanoseconds, as encoding/json writes it (a
//     time.Time in a schemaless value would be written as epoch milliseconds);
//   - pointers become what they point to; types with MarshalJSON become what it writes, read back exactly.
//
// Carried fields keep the values they had in the input. The record's ValueSchema becomes nil (schemaless),
// except for a *stream.Struct result, which brings its own schema: no schema is derived from a Go type, so
// a stage that must keep a record's schema (for a json-schema topic, or a sink that maps types from it)
// takes and returns *stream.Struct.
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
			if err := keepSchemasTrue(name, r.ValueSchema, r.KeySchema, &outs[i]); err != nil {
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
			err = keepSchemasTrue(name, r.ValueSchema, r.KeySchema, &out)
		}
		return out, err == nil, err
	}}
}

// Filter makes a stage that keeps the records for which keep returns true and drops the others.
//
// Shape: a filter never changes records, so it accepts every shape and produces its input's.
func Filter(name string, keep func(stream.Record) bool) Stage {
	return filterStage{oneStage{name: name, fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
		return r, keep(r), nil
	}}}
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
