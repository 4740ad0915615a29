package topology

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// The stage chain: stateless stages run fused, one record at a time (see the engine overview in doc.go).

// stageChain is a sequence of stateless stages run fused, one record at a time, with each stage's
// counters resolved once.
type stageChain []chainedStage

type chainedStage struct {
	stage   stages.Stage
	in, out prometheus.Counter
	log     *slog.Logger // for the stack of a stage that panics
}

func (p *pipelineRun) newStageChain(scope stageScope, st []stages.Stage) stageChain {
	p.lifecycle.add(st) // opened before the processors run, closed after (lifecycle.go)
	chain := make(stageChain, len(st))
	for i, s := range st {
		chain[i] = chainedStage{stage: s, log: p.log}
		chain[i].in, chain[i].out = p.stageCounters(scope, s.Name())
	}
	return chain
}

// run passes one record through the chain. One-to-one stages run without allocating until a stage turns
// a record into several. A stage that panics fails like one that returns an error ("panicked: <value>"),
// and its stack is logged at warning level.
func (c stageChain) run(ctx context.Context, rec stream.Record) (_ []stream.Record, err error) {
	i := 0
	defer func() {
		if v := recover(); v != nil {
			if i >= len(c) { // cannot happen: only stages run inside the loop
				panic(v)
			}
			c[i].log.Warn("stage panicked", "stage", c[i].stage.Name(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = &stageError{stage: c[i].stage.Name(), err: fmt.Errorf("panicked: %v", v)}
		}
	}()
	for ; i < len(c); i++ {
		one, ok := c[i].stage.(stages.OneToOne)
		if !ok {
			break
		}
		c[i].in.Inc()
		out, keep, err := one.ProcessOne(ctx, rec)
		if err != nil {
			return nil, &stageError{stage: c[i].stage.Name(), err: err}
		}
		if !keep {
			return nil, nil
		}
		c[i].out.Inc()
		rec = out
	}
	recs := []stream.Record{rec}
	for ; i < len(c); i++ {
		cs := c[i]
		var next []stream.Record
		for _, in := range recs {
			out, err := cs.stage.Process(ctx, in)
			if err != nil {
				return nil, &stageError{stage: cs.stage.Name(), err: err}
			}
			next = append(next, out...)
		}
		cs.in.Add(float64(len(recs)))
		cs.out.Add(float64(len(next)))
		recs = next
		if len(recs) == 0 {
			break
		}
	}
	return recs, nil
}

// panicSafeKeyed runs a Keyed stage so that a panic in its Apply fails like an error ("panicked: <value>",
// named with the stage and the record as any failure of the stage) and its stack is logged at warning level,
// as stageChain does for stateless stages.
type panicSafeKeyed struct {
	stages.Keyed
	log *slog.Logger
}

func (k panicSafeKeyed) Apply(state []byte, r stream.Record) (next []byte, out []stream.Record, err error) {
	defer func() {
		if v := recover(); v != nil {
			k.log.Warn("stage panicked", "stage", k.Name(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			next, out, err = nil, nil, fmt.Errorf("panicked: %v", v)
		}
	}()
	return k.Keyed.Apply(state, r)
}
