package sinks

import (
	"fmt"

	"github.com/sluicehq/sluice/stream"
)

// RejectedError reports that the destination refused some records of a batch for good: bad data that no
// retry will fix (a field that conflicts with the index mapping, say), as opposed to a failure of the
// destination. A sink returns it from Write, possibly wrapped, only after it made every other record of the
// batch durable.
//
// The engine then sends each rejected record to the flow's dead-letter topic, with the reason in its
// headers, and goes on; a flow without a dead-letter topic stops with the error instead.
type RejectedError struct {
	Rejections []Rejection
}

// Rejection is one refused record.
type Rejection struct {
	// Index is the record's position in the batch given to Write.
	Index int
	// Reason says why, as the destination put it.
	Reason error
	// Headers add destination context to the dead-letter record (e.g. the index and document id).
	Headers []stream.Header
}

func (e *RejectedError) Error() string {
	if len(e.Rejections) == 0 {
		return "no records rejected"
	}
	first := e.Rejections[0]
	if len(e.Rejections) == 1 {
		return fmt.Sprintf("record %d of the batch rejected: %v", first.Index, first.Reason)
	}
	return fmt.Sprintf("%d records of the batch rejected, the first (record %d): %v", len(e.Rejections), first.Index, first.Reason)
}
