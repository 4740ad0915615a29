package topology

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lovoo/goka"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// The stateful runner's shared parts: flows split at their stateful steps, and what joins (join.go) and
// keyed steps (keyed.go) share: decoding and preparing their input, failing a record, the wire record.

// joinSpec is a stateful step of a flow (a join or a keyed step), compiled into its own goka group.
type joinSpec struct {
	join        *stages.Join // or
	keyed       stages.Keyed
	table       *Table
	group       string
	in          *Topic         // the flow's input (or the previous join's output)
	inStages    []stages.Stage // stateless stages before the join
	out         *Topic         // the join's output, which the rest of the flow consumes
	partitions  int32
	flowName    string
	deadLetters *Topic
}

// compileFlows splits flows at their stateful steps: each becomes a goka group that reads the flow's input
// (running the stateless stages before it) and, for a join, the table's topic, and writes an internal topic
// that the rest of the flow reads. It returns the stateful steps and the flows left to run as sink flows.
func (t *Topology) compileFlows() ([]*joinSpec, []*Flow) {
	var joins []*joinSpec
	var flows []*Flow
	for _, f := range t.flows {
		in, rest := f.from, f.steps
		for {
			i := slices.IndexFunc(rest, step.stateful)
			if i < 0 {
				break
			}
			st := rest[i]
			group := stepGroup(t.name, f.name, st.name())
			out := &Topic{name: stepOutputTopic(group), partitions: in.partitions, keyCodecName: "string", valueCodecName: "json", internal: true, step: st.name()}
			if st.join != nil {
				out.valueCodecName = "json-schema" // a joined struct keeps its schema (see joinedValue)
			} else {
				// A keyed step's outputs keep the key of their input record, schema included (a join's
				// outputs are keyed by the record's key string).
				out.keyCodecName = "json-schema"
			}
			out.keyCodec, _ = stream.LookupCodec(out.keyCodecName)
			out.valueCodec, _ = stream.LookupCodec(out.valueCodecName)
			joins = append(joins, &joinSpec{join: st.join, table: st.table, keyed: st.keyed, group: group, in: in,
				inStages: statelessStages(rest[:i]), out: out, partitions: in.partitions, flowName: f.name, deadLetters: f.deadLetter})
			in, rest = out, rest[i+1:]
		}
		if in == f.from {
			flows = append(flows, f)
			continue
		}
		tail := *f
		tail.from, tail.steps = in, rest
		flows = append(flows, &tail)
	}
	return joins, flows
}

// wireValue is a key or value with its schema, in the json-schema codec's envelope.
type wireValue = json.RawMessage

type wireRecord struct {
	Value     wireValue        `json:"value,omitempty"`
	Headers   []stream.Header  `json:"headers,omitempty"`
	Timestamp time.Time        `json:"ts"`
	Operation stream.Operation `json:"op,omitempty"`
}

func (r *joinRunner) processor() *goka.Processor { return r.proc }

// decodeInput turns a consumed message into a record with the topic's codecs.
func (r *joinRunner) decodeInput(ctx goka.Context, tp *Topic, msg any) (stream.Record, error) {
	rec := stream.Record{Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(), Timestamp: ctx.Timestamp()}
	var err error
	if key := ctx.Key(); key != "" {
		if rec.KeySchema, rec.Key, err = tp.keyCodec.Decode([]byte(key)); err != nil {
			return rec, &decodeError{fmt.Errorf("%s/%d@%d: decode key with %s: %w", rec.Topic, rec.Partition, rec.Offset, tp.keyCodec.Name(), err)}
		}
	}
	if value, _ := msg.([]byte); value != nil {
		if rec.ValueSchema, rec.Value, err = tp.valueCodec.Decode(value); err != nil {
			return rec, &decodeError{fmt.Errorf("%s/%d@%d: decode value with %s: %w", rec.Topic, rec.Partition, rec.Offset, tp.valueCodec.Name(), err)}
		}
	}
	for k, v := range ctx.Headers() {
		rec.Headers = append(rec.Headers, stream.Header{Key: k, Value: v})
	}
	return rec, nil
}

// fail sets aside the record the callback is handling (setAside): to the flow's dead-letter topic, or
// failing the processor. The callback must return after it.
func (r *joinRunner) fail(ctx goka.Context, err error) {
	// goka turns a failure into a panic and keeps only its text, with a stack trace: the pipeline reports
	// the failure as recorded by failRecord instead.
	r.setAside(ctx, r.failedRecord(ctx), err)
}

func (r *joinRunner) stageName() string {
	if r.spec.join != nil {
		return r.spec.join.Name()
	}
	return r.spec.keyed.Name()
}

// keyedOutput is a record a group input produced, with its key string.
type keyedOutput struct {
	key string
	rec stream.Record
}

// prepare decodes a consumed message with tp's codecs, runs chain on it and keys each result with
// stream.KeyString. On failure it fails the processor and returns false.
func (r *joinRunner) prepare(ctx goka.Context, tp *Topic, chain stageChain, msg any) ([]keyedOutput, bool) {
	rec, err := r.decodeInput(ctx, tp, msg)
	if err == nil {
		var out []stream.Record
		if out, err = chain.run(ctx.Context(), rec); err == nil {
			keyed := make([]keyedOutput, 0, len(out))
			for _, o := range out {
				key, kerr := stream.KeyString(o.Key)
				if kerr != nil {
					err = fmt.Errorf("%s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, kerr)
					break
				}
				keyed = append(keyed, keyedOutput{key, o})
			}
			if err == nil {
				return keyed, true
			}
		}
	}
	r.fail(ctx, err)
	return nil, false
}

func (r *joinRunner) toWire(rec stream.Record) (*wireRecord, error) {
	w := &wireRecord{Headers: rec.Headers, Timestamp: rec.Timestamp, Operation: rec.Operation}
	var err error
	if rec.Value != nil {
		if w.Value, err = r.envelope.Encode(rec.ValueSchema, rec.Value); err != nil {
			return nil, fmt.Errorf("encode record value: %w", err)
		}
	}
	return w, nil
}

// failedRecord names the record a join's or keyed stage's callback was handling: an input record as Kafka
// holds it, a record of the stage's loop topic by the key it is about (a join's state key without its
// home or row prefix).
func (r *joinRunner) failedRecord(ctx goka.Context) recordRef {
	rec := recordIn(ctx, r.spec.in)
	if rec.topic == loopTopic(r.spec.group) {
		for _, prefix := range []string{homePrefix, rowPrefix} {
			if k, ok := strings.CutPrefix(rec.key, prefix); ok && r.spec.join != nil {
				rec.key = k
			}
		}
	}
	r.describe(&rec)
	return rec
}

// describe sets what rec's topic is (recordRef.about) when the engine derives it: the output of the step
// before this one (the step's input), or this step's loop topic.
func (r *joinRunner) describe(rec *recordRef) {
	switch {
	case r.spec.in != nil && rec.topic == r.spec.in.name:
		rec.about = stepOutputAbout(r.spec.in)
	case rec.topic == loopTopic(r.spec.group):
		rec.about = fmt.Sprintf("repartitioned input of step %q", r.stageName())
	default:
		rec.about = ""
	}
}

// failAt is fail for a keyed stage's loop record whose input record is at origin (nil for a loop record
// written before origins existed): the failure (or the dead letter's position headers) names the input
// record's topic/partition@offset, where the user's data is, with the key, instead of the loop topic's
// position.
func (r *keyedRunner) failAt(ctx goka.Context, origin *loopOrigin, err error) {
	rec := r.failedRecord(ctx)
	if origin != nil {
		rec.topic, rec.partition, rec.offset = origin.Topic, origin.Partition, origin.Offset
		r.describe(&rec)
	}
	r.setAside(ctx, rec, err)
}
