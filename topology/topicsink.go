package topology

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
)

// topicSink ends a flow in Kafka topics (Flow.ToTopic). A record goes to the topic a routing stage gave it,
// or to the flow's output topic when it still names the flow's input. Write returns once Kafka acknowledged
// every record, so the flow commits its input offsets after its output is durable.
//
// A record that cannot be encoded for its topic (a value its schema does not describe, a schema the
// registry's compatibility rule refuses: stream.ErrIncompatibleSchema) is rejected, never produced. With
// stopAtRejection (a flow without a dead-letter topic, which then fails), no record after it in the batch is
// produced either; otherwise the others are, and the rejected ones go to the dead-letter topic.
type topicSink struct {
	p               *pipelineRun
	to              *Topic
	from            string
	stopAtRejection bool
}

func (s *topicSink) Open(context.Context) error { return nil }
func (s *topicSink) Close() error               { return nil }

func (s *topicSink) Write(ctx context.Context, batch []stream.Record) error {
	var rejected []sinks.Rejection
	acks := make(chan error, len(batch))
	sent := 0
	for i, rec := range batch {
		name := rec.Topic
		if name == "" || name == s.from {
			name = s.to.name
		}
		msg, err := s.p.encode(rec, name)
		if err != nil {
			rejected = append(rejected, sinks.Rejection{Index: i, Reason: withClass(ErrorClassEncode, err)})
			if s.stopAtRejection {
				break
			}
			continue
		}
		if err := s.p.producerFor(name).Send(ctx, msg, func(_ int32, _ int64, err error) { acks <- err }); err != nil {
			return err
		}
		sent++
	}
	var first error
	for range sent {
		if err := <-acks; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("produce to %s: %w", s.to.name, first)
	}
	if len(rejected) > 0 {
		return &sinks.RejectedError{Rejections: rejected}
	}
	return nil
}
