package topology

import (
	"encoding/json"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/stream"
)

// Codecs: records become Kafka messages with their topic's codecs; the engine's own messages are JSON.

// encode turns a record into a Kafka message for the declared topic name, with that topic's codecs.
func (p *pipelineRun) encode(rec stream.Record, name string) (kafka.Message, error) {
	tp := p.topics[name]
	if tp == nil {
		tp = p.runtime.topic(name) // created at run time for NewTopics (newtopics.go)
	}
	if tp == nil {
		return kafka.Message{}, fmt.Errorf("record for topic %q, which the topology does not declare (declare it, or give the source's ToRecordTopics a NewTopics prefix it starts with)", name)
	}
	key, err := tp.keyCodec.Encode(rec.KeySchema, rec.Key)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("topic %q: encode key with %s: %w", name, tp.keyCodec.Name(), err)
	}
	value, err := tp.valueCodec.Encode(rec.ValueSchema, rec.Value)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("topic %q: encode value with %s: %w", name, tp.valueCodec.Name(), err)
	}
	m := kafka.Message{Topic: name, Key: key, Value: value, Timestamp: rec.Timestamp}
	for _, h := range rec.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m, nil
}

// jsonCodec is a goka codec for the engine's own JSON values.
type jsonCodec[T any] struct{}

func (jsonCodec[T]) Encode(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec[T]) Decode(b []byte) (any, error) {
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}
