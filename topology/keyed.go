package topology

import (
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/sluicehq/sluice/stream"
)

// keyedRunner runs a stages.Keyed stage in a goka group of its own: input records (after the stateless
// stages before it) are re-keyed by stream.KeyString through the group's loop topic; the loop callback folds
// each into its key's state in the group table and emits what the stage returns to the stage's output topic.
type keyedRunner struct {
	joinRunner // decoding, stage chains and emission are shared with joins
}

type keyedMessage struct {
	Record *wireRecord `json:"record"`
	Key    wireValue   `json:"key,omitempty"`
}

func (p *pipelineRun) newKeyedRunner(spec *joinSpec) (*keyedRunner, error) {
	envelope, err := stream.LookupCodec("json-schema")
	if err != nil {
		return nil, err
	}
	r := &keyedRunner{joinRunner{p: p, spec: spec, envelope: envelope, plain: spec.out.valueCodec,
		inStages: p.newStageChain(spec.inStages), outTopic: goka.Stream(spec.out.name)}}
	g := goka.DefineGroup(goka.Group(spec.group),
		goka.Input(goka.Stream(spec.in.name), new(codec.Bytes), r.onInput),
		goka.Loop(jsonCodec[keyedMessage]{}, r.onKeyed),
		goka.Persist(new(codec.Bytes)),
		goka.Output(r.outTopic, new(codec.Bytes)),
	)
	opts := append(p.gokaOptions(storage.MemoryBuilder()), goka.WithNilHandling(goka.NilProcess))
	if r.proc, err = goka.NewProcessor(p.brokers, g, opts...); err != nil {
		return nil, fmt.Errorf("flow %q: stage %q: create processor: %w", spec.flowName, spec.keyed.Name(), err)
	}
	p.log.Info("stateful stage ready", "flow", spec.flowName, "stage", spec.keyed.Name(), "group", spec.group, "output", spec.out.name)
	return r, nil
}

func (r *keyedRunner) onInput(ctx goka.Context, msg any) {
	outs, ok := r.prepare(ctx, r.spec.in, r.inStages, msg)
	if !ok {
		return
	}
	for _, o := range outs {
		m := keyedMessage{}
		var err error
		if m.Record, err = r.toWire(o.rec); err != nil {
			r.fail(ctx, err)
			return
		}
		if o.rec.Key != nil {
			if m.Key, err = r.envelope.Encode(o.rec.KeySchema, o.rec.Key); err != nil {
				r.fail(ctx, err)
				return
			}
		}
		ctx.Loopback(o.key, &m)
	}
}

func (r *keyedRunner) onKeyed(ctx goka.Context, msg any) {
	m := msg.(*keyedMessage)
	rec := stream.Record{Headers: m.Record.Headers, Timestamp: m.Record.Timestamp, Operation: m.Record.Operation}
	var err error
	if m.Key != nil {
		if rec.KeySchema, rec.Key, err = r.envelope.Decode(m.Key); err != nil {
			r.fail(ctx, err)
			return
		}
	}
	if m.Record.Value != nil {
		if rec.ValueSchema, rec.Value, err = r.envelope.Decode(m.Record.Value); err != nil {
			r.fail(ctx, err)
			return
		}
	}
	var state []byte
	if v := ctx.Value(); v != nil {
		state = v.([]byte)
	}
	next, out, err := r.spec.keyed.Apply(state, rec)
	if err != nil {
		r.fail(ctx, err)
		return
	}
	if next == nil {
		ctx.Delete()
	} else {
		ctx.SetValue(next)
	}
	for _, o := range out {
		var value []byte
		if o.Value != nil {
			if value, err = r.plain.Encode(o.ValueSchema, o.Value); err != nil {
				r.fail(ctx, fmt.Errorf("encode output of %q: %w", ctx.Key(), err))
				return
			}
		}
		headers := goka.Headers{}
		for _, h := range o.Headers {
			headers[h.Key] = h.Value
		}
		ctx.Emit(r.outTopic, ctx.Key(), value, goka.WithCtxEmitHeaders(headers))
	}
}
