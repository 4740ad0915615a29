package topology

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/stream"
)

// Headers of a dead-letter record, in the manner of Kafka Connect's __connect.errors.* headers. The record
// itself is the original Kafka record, key, value and headers byte for byte, so that it can be replayed
// into its topic once the cause is fixed. Every dead letter, wherever it was set aside, carries:
//
//	header                       value                                                 on
//	sluice.errors.pipeline       the pipeline's name                                   every dead letter
//	sluice.errors.class          decode | stage | step | encode | oversize | rejected  every dead letter
//	sluice.errors.stage          decode, encode, produce, sink, or a stage's name      every dead letter
//	sluice.errors.reason         the error, without secrets or fragments of the value  every dead letter
//	sluice.errors.first.failure  first failure, RFC 3339 UTC ms (kept on a redrive)    every dead letter
//	sluice.errors.attempts       1, or the redriven record's attempts + 1              every dead letter
//	sluice.errors.flow           the flow's name                                       after Kafka (a flow)
//	sluice.errors.topic          topic the record was read from                        after Kafka
//	sluice.errors.partition      its partition                                         after Kafka
//	sluice.errors.offset         its offset                                            after Kafka
//	sluice.errors.source         the source's name                                     before Kafka (a source)
//	sluice.errors.position       the record's source position                          before Kafka
//
// plus, for a record a sink rejected, the sink's own headers (the Elasticsearch sink's
// sluice.errors.es.index, .id and .status). Which class each path sets: a value or key its topic's codecs
// cannot decode, decode (stage decode); a stateless stage's refusal, before or after Kafka or in a table,
// stage; a failure in a join or keyed step itself, step (stage: the step's name); a record its topic's
// codecs or the schema registry refuse, encode (a source's stage encode; a flow to topics, stage sink); a
// source record larger than its topic takes, oversize (stage produce); a sink's rejection, rejected (stage
// sink). The reason (and the dead letter's log line) holds no connection secret (redacted as the logs are)
// and no quoted fragment of the record's value (replaced by "…": an Elasticsearch "Preview of field's
// value", a stage's error quoting a field's value); the record's key, document id, stage, flow and source
// names and JSON member names stay. Dead letters hold the record itself, so they are as sensitive as the
// topics they come from.
const (
	// HeaderErrorReason is the error, as text.
	HeaderErrorReason = "sluice.errors.reason"
	// HeaderErrorStage is where it failed: StageDecode, the name of a stage or of a stateful step (a join,
	// a keyed step), StageSink, or, before Kafka, "encode" or StageProduce.
	HeaderErrorStage = "sluice.errors.stage"
	// HeaderErrorFlow is the flow's name.
	HeaderErrorFlow = "sluice.errors.flow"
	// HeaderErrorTopic, HeaderErrorPartition and HeaderErrorOffset say where the record was read.
	HeaderErrorTopic     = "sluice.errors.topic"
	HeaderErrorPartition = "sluice.errors.partition"
	HeaderErrorOffset    = "sluice.errors.offset"
	// HeaderErrorSource and HeaderErrorPosition say which source and source position a record failed in
	// before Kafka (an ETL stage).
	HeaderErrorSource   = "sluice.errors.source"
	HeaderErrorPosition = "sluice.errors.position"
	// HeaderErrorPipeline is the pipeline's name.
	HeaderErrorPipeline = "sluice.errors.pipeline"
	// HeaderErrorClass is the kind of failure, one of the ErrorClass values ("decode", "stage", ...).
	HeaderErrorClass = "sluice.errors.class"
	// HeaderErrorFirstFailure is when the record first failed (RFC 3339, UTC, milliseconds); a redriven
	// record that fails again keeps it.
	HeaderErrorFirstFailure = "sluice.errors.first.failure"
	// HeaderErrorAttempts is how many times the record has failed (1 the first time); each failed redrive
	// raises it, and a record whose attempts reach the redrive limit is quarantined.
	HeaderErrorAttempts = "sluice.errors.attempts"
)

// Values of HeaderErrorClass.
const (
	ErrorClassDecode   = "decode"   // the record's key or value could not be decoded with its topic's codecs
	ErrorClassStage    = "stage"    // a stage (ETL or ELT) refused the record
	ErrorClassStep     = "step"     // a stateful step (a join, a keyed step) failed on the record
	ErrorClassEncode   = "encode"   // the record could not be encoded for its topic (schema, registry refusal)
	ErrorClassOversize = "oversize" // the encoded record is larger than its topic takes
	ErrorClassRejected = "rejected" // the sink refused the record (a document Elasticsearch rejects)
)

// DeadLetter sends the source records that an ETL stage refuses, that cannot be encoded for their topic, or
// whose message is larger than their topic takes (StageProduce), to topic (encoded with its codecs) with the reason, stage, source and position in headers, and goes on; the
// task's position moves past such a record once Kafka acknowledged its dead letter. Without it such a record
// stops the pipeline.
func (s *SourceNode) DeadLetter(topic *Topic) *SourceNode {
	s.deadLetter = topic
	return s
}

// Stage names used in HeaderErrorStage besides stage names.
const (
	StageDecode = "decode"
	StageSink   = "sink"
	// StageProduce marks a source record whose message is larger than its topic takes (max.message.bytes
	// and the producer's limit): it is set aside before it is sent, so the records after it keep their order.
	StageProduce = "produce"
)

// origin is a consumed Kafka record as it was read, kept until its fate is known.
type origin struct {
	topic     string
	partition int32
	offset    int64
	key       []byte
	value     []byte
	headers   []sarama.RecordHeader
	timestamp time.Time
}

// stageError is a failure of a named ELT or ETL stage.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string {
	prefix := fmt.Sprintf("stage %q: ", e.stage)
	if msg := e.err.Error(); strings.HasPrefix(msg, prefix) {
		return msg // the stage named itself (typed stages, Map's schema check): not twice
	}
	return prefix + e.err.Error()
}
func (e *stageError) Unwrap() error { return e.err }

// DeadLetter sends the records this flow cannot handle to topic, with the reason and where in headers
// (HeaderErrorReason, HeaderErrorStage, HeaderErrorFlow, HeaderErrorTopic, HeaderErrorPartition,
// HeaderErrorOffset) and their lineage (HeaderErrorPipeline, HeaderErrorClass, HeaderErrorFirstFailure,
// HeaderErrorAttempts; see the header table above HeaderErrorReason), and goes on: the record's offset
// counts as done once Kafka has its dead letter. That
// holds wherever the record fails: undecodable, refused by a stateless stage, by a table's stage, by a join
// or a keyed step (Join, Keyed) or by the stages between them, or rejected by the sink as bad data. A record
// that failed before a step's loop topic (decoding, the stages before the step, a table's stages) is the
// Kafka record the failing group read, byte for byte: the flow's input, the table's topic, or for a step or
// sink after another step, that step's output topic. One that failed in the step itself is the record as
// the step received it (after the stages before it), key and value in the json-schema codec, with the
// headers naming its input record's topic, partition and offset (keyed steps) or the join's loop topic
// (a join emitting a stored record). Without a dead-letter topic
// such a record stops the pipeline, and RunWith's error names the flow, the stage or step and the record.
// Failures of the sink itself (unreachable, timing out) stop the pipeline either way.
func (f *Flow) DeadLetter(topic *Topic) *Flow {
	f.deadLetter = topic
	return f
}

// One dead-letter path. Every runner that sets a record aside (a source task for its ETL stages, encoding
// and size limit; a flow's sink processor for decoding, its stages and the sink's rejections; a stateful
// step's group for decoding, the stateless stages it runs, the table's stages and the step itself) builds a
// deadLetter and goes through deadLetterMessage, so a dead-letter record has the same headers wherever it
// failed: the record's own headers, then HeaderErrorReason, HeaderErrorStage, HeaderErrorFlow or
// HeaderErrorSource, and where it was read (HeaderErrorTopic, HeaderErrorPartition, HeaderErrorOffset) or,
// before Kafka, its source position (HeaderErrorPosition), then a sink's own headers for a rejected record.
// A flow's processors send it with sendDeadLetter and go on only once Kafka has acknowledged it, so the
// record's offset is committed, in order, as done; a source task sends it with the task's other messages,
// so its position moves past the record once Kafka has acknowledged it.

// deadLetter is a record set aside.
type deadLetter struct {
	// msg is the record as it goes to the dead-letter topic: Topic is the dead-letter topic; key, value,
	// headers and timestamp are those of the original Kafka record (a source record encoded with the
	// dead-letter topic's codecs; a record that failed inside a keyed step as the step received it, see
	// Flow.DeadLetter).
	msg    kafka.Message
	reason error
	stage  string
	source string // the source that set the record aside before Kafka, or
	flow   string // the flow that set it aside after Kafka
	// read says where the record was read from Kafka (flows); position is its source position (sources).
	read     *recordRef
	position []byte
	extra    []stream.Header
	// pipeline is the pipeline's name (HeaderErrorPipeline); class, when set, the failure's
	// HeaderErrorClass, which is otherwise derived from stage and reason (errorClass, lineage.go).
	pipeline string
	class    string
}

// deadLetterMessage is d's message with the headers that say why and where, and its lineage (lineage.go).
func deadLetterMessage(d deadLetter) kafka.Message {
	msg := d.msg
	msg.Headers = ownHeaders(d.msg.Headers) // an earlier failure's sluice.errors.* give way to this one's
	add := func(k, v string) {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	add(HeaderErrorReason, reasonText(d)) // a dead letter holds no secret and no part of the value
	add(HeaderErrorStage, d.stage)
	if d.flow != "" {
		add(HeaderErrorFlow, d.flow)
	} else {
		add(HeaderErrorSource, d.source)
	}
	if d.read != nil {
		add(HeaderErrorTopic, d.read.topic)
		add(HeaderErrorPartition, strconv.Itoa(int(d.read.partition)))
		add(HeaderErrorOffset, strconv.FormatInt(d.read.offset, 10))
	} else {
		add(HeaderErrorPosition, string(d.position))
	}
	msg.Headers = append(msg.Headers, lineageHeaders(d, time.Now())...)
	msg.Headers = append(msg.Headers, extraHeaders(d.extra)...)
	return msg
}

// deadLettered counts and logs d, set aside.
func (p *pipelineRun) deadLettered(d deadLetter) {
	p.countDeadLetter(d.source, d.flow, d.stage)
	attrs := []any{"stage", d.stage}
	if d.flow != "" {
		attrs = append(attrs, "flow", d.flow)
	} else {
		attrs = append(attrs, "source", d.source)
	}
	if d.read != nil {
		attrs = append(attrs, "topic", d.read.topic, "partition", d.read.partition, "offset", d.read.offset)
	} else {
		attrs = append(attrs, "position", string(d.position))
	}
	p.log.Warn("record sent to the dead-letter topic",
		append(attrs, "class", errorClass(d), "dead_letter_topic", d.msg.Topic, "reason", reasonText(d))...)
}

// sendDeadLetter produces d to its dead-letter topic and waits for Kafka's acknowledgement or ctx's end.
func (p *pipelineRun) sendDeadLetter(ctx context.Context, d deadLetter) error {
	d.pipeline = p.t.name
	msg := deadLetterMessage(d)
	acked := make(chan error, 1)
	where := "a record"
	if d.read != nil {
		where = fmt.Sprintf("%s/%d@%d", d.read.topic, d.read.partition, d.read.offset)
	}
	if err := p.producerFor(msg.Topic).Send(ctx, msg, func(_ int32, _ int64, err error) { acked <- err }); err != nil {
		return fmt.Errorf("dead letter of %s to topic %q: %w", where, msg.Topic, err)
	}
	select {
	case err := <-acked:
		if err != nil {
			return fmt.Errorf("dead letter of %s to topic %q: %w", where, msg.Topic, inOwnWords(err))
		}
	case <-ctx.Done():
		return fmt.Errorf("dead letter of %s to topic %q: %w", where, msg.Topic, ctx.Err())
	}
	p.deadLettered(d)
	return nil
}

// sendDeadLetter sets aside o, which the flow's sink processor failed on at stage.
func (r *sinkRunner) sendDeadLetter(o origin, stage string, reason error, extra []stream.Header) error {
	if r.rebuild != nil {
		return nil // a rebuild's copy: the live flow set this record aside already (rebuild.go)
	}
	return r.p.sendDeadLetter(context.Background(), deadLetter{
		msg:    kafka.Message{Topic: r.f.deadLetter.name, Key: o.key, Value: o.value, Headers: o.headers, Timestamp: o.timestamp},
		reason: reason, stage: stage, flow: r.f.name, extra: extra,
		read: &recordRef{topic: o.topic, partition: o.partition, offset: o.offset},
	})
}

// stageOf names where err arose, for HeaderErrorStage.
func stageOf(err error) string {
	var se *stageError
	if errors.As(err, &se) {
		return se.stage
	}
	return StageDecode
}

// decodeError is a record that its topic's codecs cannot decode, in a stateful step's group.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// messageContext is the goka context of a stateful step's callback with the message the callback was given,
// so that a record it fails on can be set aside as it was read (failedMessage).
type messageContext struct {
	gokaContext
	msg any
}

// gokaContext names goka.Context for embedding: a field named Context would hide its Context method.
type gokaContext = goka.Context

// withMessage passes cb its message with its context (messageContext).
func withMessage(cb goka.ProcessCallback) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) { cb(&messageContext{gokaContext: ctx, msg: msg}, msg) }
}

// setAside is what a stateful step's group does with a record it cannot process (undecodable, refused by
// a stateless stage before the step or by a table's stage, or failing in the step itself): with the flow's
// dead-letter topic, the record goes there (deadLetter, stage StageDecode, the stage's or the step's name)
// and the callback returns, so that goka commits the record's offset in order as done; without one, or when
// the dead letter cannot be written, the processor fails with the failure naming flow, stage and rec
// (failRecord), which stops the pipeline. The callback must return after setAside.
func (r *joinRunner) setAside(ctx goka.Context, rec recordRef, err error) {
	if r.spec.deadLetters == nil {
		ctx.Fail(r.p.failRecord(r.spec.flowName, r.stageName(), rec, err))
		return
	}
	d := deadLetter{msg: r.failedMessage(ctx), reason: err, stage: r.stageName(), flow: r.spec.flowName, read: &rec}
	d.msg.Topic = r.spec.deadLetters.name
	var se *stageError
	var de *decodeError
	switch {
	case errors.As(err, &se):
		d.stage = se.stage
	case errors.As(err, &de):
		d.stage = StageDecode
	default:
		d.class = ErrorClassStep // the step itself failed
	}
	// Not the callback's context: it ends when the processor stops, and a dead letter abandoned then would
	// fail a clean shutdown; the producer's own timeouts bound the wait (as for the sink processor's).
	if dlErr := r.p.sendDeadLetter(context.Background(), d); dlErr != nil {
		ctx.Fail(r.p.failRecord(r.spec.flowName, r.stageName(), rec,
			fmt.Errorf("%w (and the record cannot go to the dead-letter topic: %v)", err, dlErr)))
	}
}

// failedMessage is the record a stateful step's callback failed on, for the dead-letter topic: an input
// record (the flow's input or the table's topic) as Kafka holds it, byte for byte; a record of the step's
// loop topic as the step received it, after the stateless stages before it (key and value in the json-schema
// codec, the record's headers and timestamp).
func (r *joinRunner) failedMessage(ctx goka.Context) kafka.Message {
	msg := kafka.Message{Timestamp: ctx.Timestamp()}
	var in any
	if mc, ok := ctx.(*messageContext); ok {
		in = mc.msg
	}
	var rec *wireRecord
	switch m := in.(type) {
	case *keyedMessage:
		msg.Key, rec = m.Key, m.Record
		if msg.Key == nil && ctx.Key() != "" {
			msg.Key = []byte(ctx.Key())
		}
	case *joinMessage:
		rec = m.Record
		if st, ok := ctx.Value().(*joinState); ok && rec == nil {
			rec = st.Record // a refresh: the record stored at its home
		}
		if m.Key != "" {
			msg.Key = []byte(m.Key)
		}
	default:
		if key := ctx.Key(); key != "" {
			msg.Key = []byte(key)
		}
		msg.Value, _ = in.([]byte)
		for k, v := range ctx.Headers() {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: v})
		}
	}
	if rec != nil {
		msg.Value, msg.Timestamp = rec.Value, rec.Timestamp
		for _, h := range rec.Headers {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
	}
	return msg
}
