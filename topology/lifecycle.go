package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/sluicehq/sluice/stages"
)

// Lifecycle of the user's parts that the engine does not run per record: a source that implements
// io.Closer is closed once per run, after its tasks' readers (sources.Source); stages that implement
// stages.Opener or stages.Closer are opened once per run before the processors start, and closed once when
// the run ends (stages.Opener). A value used twice (one stage in two chains, one source value twice) is
// opened and closed once: values are told apart by identity where their type is comparable.

// lifecycleStages records the stage values of every chain the run builds (newStageChain), in order, each
// once.
type lifecycleStages struct {
	seen   map[any]bool
	stages []stages.Stage
	opened []stages.Stage // stages to close at the end of the run, in the order they were opened
}

func (l *lifecycleStages) add(st []stages.Stage) {
	for _, s := range st {
		if _, o := s.(stages.Opener); !o {
			if _, c := s.(stages.Closer); !c {
				continue
			}
		}
		if reflect.TypeOf(s).Comparable() {
			if l.seen == nil {
				l.seen = map[any]bool{}
			}
			if l.seen[s] {
				continue
			}
			l.seen[s] = true
		}
		l.stages = append(l.stages, s)
	}
}

// open opens every recorded stage that implements stages.Opener, in the order the chains were built. On a
// failure it closes the ones opened so far and returns an error naming the stage.
func (l *lifecycleStages) open(ctx context.Context) error {
	for _, s := range l.stages {
		if o, ok := s.(stages.Opener); ok {
			if err := o.Open(ctx); err != nil {
				cerr := l.close()
				return errors.Join(fmt.Errorf("stage %q: open: %w", s.Name(), err), cerr)
			}
		}
		l.opened = append(l.opened, s)
	}
	return nil
}

// close closes the opened stages that implement stages.Closer, the last opened first, and returns their
// errors, each naming its stage.
func (l *lifecycleStages) close() error {
	var errs []error
	for i := len(l.opened) - 1; i >= 0; i-- {
		s := l.opened[i]
		if c, ok := s.(stages.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("stage %q: close: %w", s.Name(), err))
			}
		}
	}
	l.opened = nil
	return errors.Join(errs...)
}

// closeSources closes, once each, the topology's sources that implement io.Closer, and returns their
// errors, each naming its source.
func (p *pipelineRun) closeSources() error {
	var errs []error
	seen := map[any]bool{}
	for _, n := range p.t.sources {
		c, ok := n.src.(io.Closer)
		if !ok {
			continue
		}
		if reflect.TypeOf(c).Comparable() {
			if seen[c] {
				continue
			}
			seen[c] = true
		}
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("source %q: close: %w", n.name, err))
		}
	}
	return errors.Join(errs...)
}
