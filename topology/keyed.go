package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/sluicehq/sluice/stream"
)

// keyedRunner runs a stages.Keyed step in a goka group of its own: input records (after the stateless
// stages before it) are re-keyed by stream.KeyString through the group's loop topic; the loop callback folds
// each into its key's state in the group table and emits what the stage returns to the stage's output topic,
// keyed by the output record's own key (the input record's original key, schema included, in the json-schema
// key codec of the output topic).
//
// # Exactly once per input record, across crashes
//
// goka writes a message's effects (table value, loopbacks, outputs) and commits its offset only once they
// are acknowledged, and offsets are committed in order (orderedCommitGroup); a crash therefore repeats
// whatever was not committed, against a table that may already hold its effect: (a) input records read
// again are looped again as new loop records, (b) loop records are read again, and (c) a table write may
// have landed while the outputs of the same loop record did not, or the other way round.
//
// Every loop record therefore carries its origin: the input topic, partition and offset of the record it
// came from, and its index among that record's stage outputs. With each key's state the table keeps, per
// input topic and partition, the origin of the last loop record applied to it, and a loop record whose
// origin is at or below that is not applied again: the stage's Apply sees each input record once, however
// often it is replayed. Loop records of one input partition reach a key in origin order (one loop partition
// per key, idempotent producers), so nothing above the last applied origin was applied before.
//
// For (c) the table value also keeps the latest outputs of the key (those of the last applied loop record
// that emitted anything) and the origin of the last applied loop record. When a skipped loop record is
// exactly the last applied one, those outputs are emitted again: a crash between the table write and the
// emit loses no final output, since an unacknowledged emit leaves its loop record, and every later one of
// the same key, uncommitted, so the key's last applied loop record is always replayed. The price is that a
// replay may repeat a key's latest output: harmless to an upserting sink (a document per key, a compacted
// topic), visible as a duplicate to a sink that appends. An intermediate output lost with its emit is not
// repeated; a later output of its key superseded it.
//
// The table value is an envelope (keyedStateMagic, then JSON) around the stage's state, which stays opaque.
// A value without the envelope, written by a Sluice from before it, is read as the stage's state with no
// positions, and a loop record without an origin (also from before) is applied unguarded. A key whose state
// the stage forgets (Apply returns nil) keeps an envelope with its positions and no state, so that replays
// of the records before stay skipped.
type keyedRunner struct {
	joinRunner // decoding, stage chains and emission are shared with joins
}

// keyedMessage is a loop record: one output of the stages before the keyed stage, and where it came from.
type keyedMessage struct {
	Record *wireRecord `json:"record"`
	Key    wireValue   `json:"key,omitempty"`
	Origin *loopOrigin `json:"origin,omitempty"` // nil in loop records written before origins existed
}

// loopOrigin is the position of a loop record's input record and the record's index among the outputs of the
// stages before the keyed stage. Origins of one input topic and partition are ordered by (Offset, Index).
type loopOrigin struct {
	Topic     string `json:"t"`
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
	Index     int    `json:"i"`
}

func (o loopOrigin) source() string { return o.Topic + "/" + strconv.FormatInt(int64(o.Partition), 10) }

// atOrBefore reports whether o comes at or before the position p of the same topic and partition.
func (o loopOrigin) atOrBefore(p appliedPosition) bool {
	return o.Offset < p.Offset || (o.Offset == p.Offset && o.Index <= p.Index)
}

type appliedPosition struct {
	Offset int64 `json:"o"`
	Index  int   `json:"i"`
}

// keyedStateMagic starts every table value of a keyed stage that is an envelope (keyedState as JSON).
const keyedStateMagic = "\x00sluice-keyed-1\x00"

// keyedState is the envelope of a key's state in the group table.
type keyedState struct {
	// State is the stage's own state; nil when the stage has none for the key.
	State []byte `json:"state,omitempty"`
	// Applied holds, per input "topic/partition", the origin of the last loop record applied to the key.
	Applied map[string]appliedPosition `json:"applied,omitempty"`
	// Last is the origin of the last loop record applied to the key.
	Last *loopOrigin `json:"last,omitempty"`
	// Outputs are the latest outputs of the key, encoded for the output topic, emitted again when Last is
	// replayed.
	Outputs []keyedOutputRecord `json:"outputs,omitempty"`
	// Emitted is the version of the key's last output (joinversion.go's keyedVersions).
	Emitted int64 `json:"emitted,omitempty"`
}

// keyedOutputRecord is an output as it was emitted: key and value encoded with the output topic's codecs.
type keyedOutputRecord struct {
	Key     []byte          `json:"key,omitempty"`
	Value   []byte          `json:"value,omitempty"` // nil: a tombstone
	Headers []stream.Header `json:"headers,omitempty"`
}

// decodeKeyedState reads a table value: an envelope, or the bare state of a Sluice from before envelopes.
func decodeKeyedState(v []byte) (keyedState, error) {
	if !bytes.HasPrefix(v, []byte(keyedStateMagic)) {
		return keyedState{State: v}, nil
	}
	var st keyedState
	err := json.Unmarshal(v[len(keyedStateMagic):], &st)
	return st, err
}

func encodeKeyedState(st keyedState) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return append([]byte(keyedStateMagic), b...), nil
}

func (p *pipelineRun) newKeyedRunner(spec *joinSpec) (*keyedRunner, error) {
	envelope, err := stream.LookupCodec("json-schema")
	if err != nil {
		return nil, err
	}
	r := &keyedRunner{joinRunner{p: p, spec: spec, envelope: envelope, plain: spec.out.valueCodec,
		inStages: p.newStageChain(stageScope{flow: spec.flowName}, spec.inStages), outTopic: goka.Stream(spec.out.name)}}
	g := goka.DefineGroup(goka.Group(spec.group),
		goka.Input(goka.Stream(spec.in.name), new(codec.Bytes), withMessage(r.onInput)),
		goka.Loop(jsonCodec[keyedMessage]{}, withMessage(r.onKeyed)),
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
	for i, o := range outs {
		m := keyedMessage{Origin: &loopOrigin{Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(), Index: i}}
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

// onKeyed applies a loop record to its key's state, unless its origin shows it applied already (see
// keyedRunner).
func (r *keyedRunner) onKeyed(ctx goka.Context, msg any) {
	m := msg.(*keyedMessage)
	var st keyedState
	if v := ctx.Value(); v != nil {
		var err error
		if st, err = decodeKeyedState(v.([]byte)); err != nil {
			r.failAt(ctx, m.Origin, fmt.Errorf("key %q: read stored state: %w", ctx.Key(), err))
			return
		}
	}
	if o := m.Origin; o != nil {
		if applied, ok := st.Applied[o.source()]; ok && o.atOrBefore(applied) {
			if st.Last != nil && *st.Last == *o {
				r.emitStored(ctx, st.Outputs) // its outputs may have been lost with the process
			}
			return
		}
	}
	rec := stream.Record{Headers: m.Record.Headers, Timestamp: m.Record.Timestamp, Operation: m.Record.Operation}
	if o := m.Origin; o != nil {
		rec.Topic, rec.Partition, rec.Offset = o.Topic, o.Partition, o.Offset
	}
	var err error
	if m.Key != nil {
		if rec.KeySchema, rec.Key, err = r.envelope.Decode(m.Key); err != nil {
			r.failAt(ctx, m.Origin, err)
			return
		}
	}
	if m.Record.Value != nil {
		if rec.ValueSchema, rec.Value, err = r.envelope.Decode(m.Record.Value); err != nil {
			r.failAt(ctx, m.Origin, err)
			return
		}
	}
	next, out, err := r.spec.keyed.Apply(st.State, rec)
	if err != nil {
		r.failAt(ctx, m.Origin, err)
		return
	}
	st.Emitted = keyedVersions(st.Emitted, out) // joinversion.go: outputs' versions only grow per key
	outputs := make([]keyedOutputRecord, 0, len(out))
	for _, o := range out {
		var enc keyedOutputRecord
		if enc.Key, err = r.outputKey(ctx, o); err != nil {
			r.failAt(ctx, m.Origin, fmt.Errorf("key %q: encode output key with %s: %w", ctx.Key(), r.spec.out.keyCodec.Name(), err))
			return
		}
		if o.Value != nil {
			if enc.Value, err = r.plain.Encode(o.ValueSchema, o.Value); err != nil {
				r.failAt(ctx, m.Origin, fmt.Errorf("key %q: encode output value with %s: %w", ctx.Key(), r.plain.Name(), err))
				return
			}
		}
		enc.Headers = o.Headers
		outputs = append(outputs, enc)
	}
	st.State = next
	if o := m.Origin; o != nil {
		if st.Applied == nil {
			st.Applied = map[string]appliedPosition{}
		}
		st.Applied[o.source()] = appliedPosition{Offset: o.Offset, Index: o.Index}
		st.Last = o
	}
	if len(outputs) > 0 {
		st.Outputs = outputs
	}
	if st.State == nil && len(st.Applied) == 0 {
		ctx.Delete() // nothing to remember: no state, and no position (a loop record from before origins)
	} else {
		value, err := encodeKeyedState(st)
		if err != nil {
			r.failAt(ctx, m.Origin, fmt.Errorf("key %q: store state: %w", ctx.Key(), err))
			return
		}
		ctx.SetValue(value)
	}
	r.emitStored(ctx, outputs)
}

// outputKey encodes an output's key with the output topic's key codec; an output without a key gets the
// key string of its state.
func (r *keyedRunner) outputKey(ctx goka.Context, o stream.Record) ([]byte, error) {
	if o.Key == nil {
		return r.spec.out.keyCodec.Encode(stream.StringSchema(), ctx.Key())
	}
	return r.spec.out.keyCodec.Encode(o.KeySchema, o.Key)
}

func (r *keyedRunner) emitStored(ctx goka.Context, outputs []keyedOutputRecord) {
	for _, o := range outputs {
		headers := goka.Headers{}
		for _, h := range o.Headers {
			headers[h.Key] = h.Value
		}
		var value any // a nil []byte in an interface is not nil to goka: a tombstone must be a nil interface
		if o.Value != nil {
			value = o.Value
		}
		ctx.Emit(r.outTopic, string(o.Key), value, goka.WithCtxEmitHeaders(headers))
	}
}
