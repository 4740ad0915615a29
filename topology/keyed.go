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

func (r *keyedRunner) stageName() string { return r.spec.keyed.Name() }

func (r *keyedRunner) onInput(ctx goka.Context, msg any) {
	rec, err := r.decodeInput(ctx, r.spec.in, msg)
	if err != nil {
		r.failKeyed(ctx, err)
		return
	}
	out, err := r.inStages.run(ctx.Context(), rec)
	if err != nil {
		r.failKeyed(ctx, err)
		return
	}
	for _, o := range out {
		key, err := stream.KeyString(o.Key)
		if err != nil {
			r.failKeyed(ctx, fmt.Errorf("%s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err))
			return
		}
		m := keyedMessage{}
		if m.Record, err = r.toWire(o); err != nil {
			r.failKeyed(ctx, err)
			return
		}
		if o.Key != nil {
			if m.Key, err = r.envelope.Encode(o.KeySchema, o.Key); err != nil {
				r.failKeyed(ctx, err)
				return
			}
		}
		ctx.Loopback(key, &m)
	}
}

func (r *keyedRunner) onKeyed(ctx goka.Context, msg any) {
	m := msg.(*keyedMessage)
	rec := stream.Record{Headers: m.Record.Headers, Timestamp: m.Record.Timestamp, Operation: m.Record.Operation}
	var err error
	if m.Key != nil {
		if rec.KeySchema, rec.Key, err = r.envelope.Decode(m.Key); err != nil {
			r.failKeyed(ctx, err)
			return
		}
	}
	if m.Record.Value != nil {
		if rec.ValueSchema, rec.Value, err = r.envelope.Decode(m.Record.Value); err != nil {
			r.failKeyed(ctx, err)
			return
		}
	}
	var state []byte
	if v := ctx.Value(); v != nil {
		state = v.([]byte)
	}
	next, out, err := r.spec.keyed.Apply(state, rec)
	if err != nil {
		r.failKeyed(ctx, err)
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
				r.failKeyed(ctx, fmt.Errorf("encode output of %q: %w", ctx.Key(), err))
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

func (r *keyedRunner) failKeyed(ctx goka.Context, err error) {
	ctx.Fail(fmt.Errorf("flow %q: stage %q: %w", r.spec.flowName, r.stageName(), err))
}
