package stages

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/stream"
)

// Shaped is implemented by a stage that cannot take records of every shape, or that changes their shape.
// The topology walks each chain with it before anything runs: a stage whose Accepts refuses what reaches
// it stops Validate with a message naming the stage, what produced its input and the fix.
//
// A stage that does not implement Shaped accepts anything and produces stream.Shape{} (Map, FlatMap and
// Filter of user functions, whose results the engine cannot see in advance), except the stages of this
// package listed by their own docs.
type Shaped interface {
	// Accepts returns nil if the stage can process records of shape in, or an error saying what it needs
	// in user words ("needs structured values").
	Accepts(in stream.Shape) error
	// Produces returns the shape of the stage's output for an input of shape in.
	Produces(in stream.Shape) stream.Shape
}

// ErrShapeNeeded is wrapped by a Shaped stage's Accepts error when the stage cannot take the kind of value
// it would be given.
var ErrShapeNeeded = errors.New("stage cannot take these records")

// needStructured is the Accepts of stages that work on fields of the value (or key, whose shape is not
// tracked: they accept any input then).
func needStructured(onKey bool, in stream.Shape) error {
	if onKey {
		return nil
	}
	switch in.Value {
	case stream.AnyValue, stream.StructuredValue:
		return nil
	}
	return fmt.Errorf("%w: needs %s", ErrShapeNeeded, stream.StructuredValue)
}

// needFields is needStructured that also refuses a shape known to lack one of fields.
func needFields(onKey bool, in stream.Shape, fields ...string) error {
	if err := needStructured(onKey, in); err != nil || onKey {
		return err
	}
	for _, f := range fields {
		if !in.MayHaveField(f) {
			return fmt.Errorf("%w: needs field %q, which the records do not have (they have %s)", ErrShapeNeeded, f, fieldList(in.Fields))
		}
	}
	return nil
}

func fieldList(fields []string) string {
	if len(fields) == 0 {
		return "no fields"
	}
	s := ""
	for i, f := range fields {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", f)
	}
	return s
}
