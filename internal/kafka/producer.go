package kafka

import (
	"context"
	"fmt"
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
	p  sarama.AsyncProducer
	wg sync.WaitGroup
}

// Ack is called exactly once per sent message: with nil once Kafka acknowledged it, or the error.
type Ack func(partition int32, offset int64, err error)

// NewProducer connects a producer.
func NewProducer(brokers []string, cfg *sarama.Config) (*Producer, error) {
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect producer to %v: %w", brokers, err)
	}
	pr := &Producer{p: p}
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
			e.Msg.Metadata.(Ack)(e.Msg.Partition, -1, fmt.Errorf("produce to %s: %w", e.Msg.Topic, e.Err))
		}
	}()
	return pr, nil
}

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
