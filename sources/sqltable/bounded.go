package sqltable

import (
	"context"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Bounded returns the source as a batch run reads it (sources.Bounded): each task reads from its saved
// position until it caught up (a short page) and ends with sources.ErrEndOfInput, as with StopAtEnd. In
// bulk mode, a task whose last pass ended starts a new pass at once (not after PollInterval), reads it
// through and ends. The returned source shares the receiver's connection pool, which the engine closes
// with the receiver.
func (s *Source) Bounded() sources.Source { return boundedSource{s} }

// boundedSource is a Source whose readers stop at the end.
type boundedSource struct{ *Source }

func (b boundedSource) Open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	rd, err := b.Source.Open(ctx, task, pos)
	if err != nil {
		return nil, err
	}
	r := rd.(*reader)
	r.stopAtEnd = true
	if b.cfg.Mode == ModeBulk {
		r.caughtUp = false // a new pass now, not after PollInterval
	}
	return r, nil
}

var _ sources.Bounded = (*Source)(nil)
