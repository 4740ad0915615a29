package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Message is one record on its way to Kafka. Nil Key and Value are sent as Kafka nulls.
type Message struct {
	Topic     string
	Key       []byte
	Value     []byte
	Headers   []sarama.RecordHeader
	Timestamp time.Time
}

// Producer sends messages asynchronously and reports each one's fate through a callback. It batches as
// sarama does (by bytes and a short linger), and Send blocks while sarama's input buffer is full, which is
// the backpressure a source task feels when Kafka is slow.
type Producer struct {
	p       sarama.AsyncProducer
	brokers []string
	wg      sync.WaitGroup
}

// Ack is called exactly once per sent message: with nil once Kafka acknowledged it, or the error.
type Ack func(partition int32, offset int64, err error)

// NewProducer connects a producer.
func NewProducer(brokers []string, cfg *sarama.Config) (*Producer, error) {
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect producer to %v: %w", brokers, err)
	}
	pr := &Producer{p: p, brokers: brokers}
	pr.wg.Add(2)
	go func() {
		defer pr.wg.Done()
		for m := range p.Successes() {
			m.Metadata.(Ack)(m.Partition, m.Offset, nil)
		}
	}()
	go func() {
		defer pr.wg.Done()
		for e := range p.Errors() {
			e.Msg.Metadata.(Ack)(e.Msg.Partition, -1, &ProduceError{Topic: e.Msg.Topic, Brokers: pr.brokers, Err: e.Err})
		}
	}()
	return pr, nil
}

// ProduceError is Kafka's (or the producer's) final answer for a message it did not take, after the
// producer's own retries. Its text names the topic and the brokers the producer was given, e.g.
// "produce to topic lines at Kafka 10.0.0.1:9092,10.0.0.2:9092: kafka server: ...".
type ProduceError struct {
	Topic   string
	Brokers []string // the producer's bootstrap addresses
	Err     error    // sarama's error: a KError from the broker, or a ConfigurationError from the producer
}

func (e *ProduceError) Error() string {
	return fmt.Sprintf("produce to topic %s at Kafka %s: %v", e.Topic, strings.Join(e.Brokers, ","), e.Err)
}
func (e *ProduceError) Unwrap() error { return e.Err }

// IsRecordRefusal reports whether err is Kafka refusing one record for what it is (too large, corrupt,
// invalid for the topic) rather than a failure of the broker or the connection: sending it again would
// fail again.
func IsRecordRefusal(err error) bool {
	var ke sarama.KError
	if errors.As(err, &ke) {
		switch ke {
		case sarama.ErrMessageSizeTooLarge, sarama.ErrMessageSetSizeTooLarge, sarama.ErrInvalidMessage,
			sarama.ErrInvalidRecord, sarama.ErrInvalidTimestamp:
			return true
		}
	}
	var ce sarama.ConfigurationError
	return errors.As(err, &ce) // the producer refused the message itself (larger than MaxMessageBytes)
}

// MessageBytes is how many bytes m counts for against Kafka's size limits, the way sarama counts a message
// against Producer.MaxMessageBytes (record format v2, with the largest per-record overhead): key, value,
// and each header's key and value with their length prefixes. The record batch that carries it adds
// RecordBatchOverhead.
func MessageBytes(m Message) int {
	size := maxRecordOverhead + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		size += len(h.Key) + len(h.Value) + 2*binary.MaxVarintLen32
	}
	return size
}

// maxRecordOverhead is sarama's maximumRecordOverhead: length, attributes, timestamp and offset deltas, key
// and value lengths, header count, each at its longest.
const maxRecordOverhead = 5*binary.MaxVarintLen32 + binary.MaxVarintLen64 + 1

// Send hands m to the producer. ack is called later from the producer's goroutine. Send returns ctx.Err()
// if ctx ends while the producer's buffer is full; ack is then never called.
func (p *Producer) Send(ctx context.Context, m Message, ack Ack) error {
	pm := &sarama.ProducerMessage{Topic: m.Topic, Headers: m.Headers, Timestamp: m.Timestamp, Metadata: ack}
	if m.Key != nil {
		pm.Key = sarama.ByteEncoder(m.Key)
	}
	if m.Value != nil {
		pm.Value = sarama.ByteEncoder(m.Value)
	}
	select {
	case p.p.Input() <- pm:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes what was sent, waits for every ack callback and closes the connection.
func (p *Producer) Close() error {
	p.p.AsyncClose()
	p.wg.Wait()
	return nil
}
