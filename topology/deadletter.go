package topology

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/stream"
)

// Headers of a dead-letter record, in the manner of Kafka Connect's __connect.errors.* headers. The record
// itself is the original Kafka record, key, value and headers byte for byte, so that it can be replayed
// into its topic once the cause is fixed.
const (
	// HeaderErrorReason is the error, as text.
	HeaderErrorReason = "sluice.errors.reason"
	// HeaderErrorStage is where it failed: "decode", the name of an ELT stage, or "sink".
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

// DeadLetter sends the records this flow cannot handle (undecodable, refused by a stage, rejected by the
// sink as bad data) to topic, with the reason in headers, and goes on. Without it such a record stops the
// pipeline. Failures of the sink itself (unreachable, timing out) stop the pipeline either way.
func (f *Flow) DeadLetter(topic *Topic) *Flow {
	f.deadLetter = topic
	return f
}

// sendDeadLetter produces o to the flow's dead-letter topic and waits for Kafka's acknowledgement.
func (r *sinkRunner) sendDeadLetter(o origin, stage string, reason error, extra []stream.Header) error {
	headers := append([]sarama.RecordHeader(nil), o.headers...)
	add := func(k, v string) { headers = append(headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)}) }
	add(HeaderErrorReason, reason.Error())
	add(HeaderErrorStage, stage)
	add(HeaderErrorFlow, r.f.name)
	add(HeaderErrorTopic, o.topic)
	add(HeaderErrorPartition, strconv.Itoa(int(o.partition)))
	add(HeaderErrorOffset, strconv.FormatInt(o.offset, 10))
	for _, h := range extra {
		headers = append(headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	acked := make(chan error, 1)
	msg := kafka.Message{Topic: r.f.deadLetter.name, Key: o.key, Value: o.value, Headers: headers, Timestamp: o.timestamp}
	if err := r.p.producerFor(msg.Topic).Send(context.Background(), msg, func(_ int32, _ int64, err error) { acked <- err }); err != nil {
		return err
	}
	if err := <-acked; err != nil {
		return fmt.Errorf("dead letter of %s/%d@%d to topic %q: %w", o.topic, o.partition, o.offset, msg.Topic, inOwnWords(err))
	}
	r.p.countDeadLetter("", r.f.name, stage)
	r.p.log.Warn("record sent to the dead-letter topic", "flow", r.f.name, "stage", stage, "topic", o.topic,
		"partition", o.partition, "offset", o.offset, "dead_letter_topic", msg.Topic, "reason", reason)
	return nil
}

// stageOf names where err arose, for HeaderErrorStage.
func stageOf(err error) string {
	var se *stageError
	if errors.As(err, &se) {
		return se.stage
	}
	return StageDecode
}
