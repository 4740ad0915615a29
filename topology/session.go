package topology

import (
	"context"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// committer commits a flow's marked offsets synchronously. goka only marks offsets (sarama then commits them
// on a timer), so after a crash a fast flow would write again everything it acknowledged during the last
// interval. The flow's consumer group is wrapped so that the committer sees the live sarama session, and
// the batcher commits through it right after each acknowledged batch: a crash then repeats at most the batch
// in flight.
type committer struct {
	mu      sync.RWMutex
	session sarama.ConsumerGroupSession
}

// commit flushes marked offsets to Kafka, if a session is live.
func (c *committer) commit() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.session != nil {
		c.session.Commit()
	}
}

// builder returns a goka consumer-group builder whose groups report their sessions to c.
func (c *committer) builder(build goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		g, err := build(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return sessionGroup{ConsumerGroup: g, c: c}, nil
	}
}

type sessionGroup struct {
	sarama.ConsumerGroup
	c *committer
}

func (g sessionGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, sessionHandler{ConsumerGroupHandler: h, c: g.c})
}

type sessionHandler struct {
	sarama.ConsumerGroupHandler
	c *committer
}

func (h sessionHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.c.mu.Lock()
	h.c.session = s
	h.c.mu.Unlock()
	return h.ConsumerGroupHandler.Setup(s)
}

// Cleanup forgets the session once goka's cleanup (which waits for pending commits) is over, so that no
// commit goes to an ended session.
func (h sessionHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	err := h.ConsumerGroupHandler.Cleanup(s)
	h.c.mu.Lock()
	h.c.session = nil
	h.c.mu.Unlock()
	return err
}

// handoverBuilder returns a consumer-group builder whose groups call beforeCleanup when a session ends,
// before goka's own Cleanup stops the partition processors.
func handoverBuilder(build goka.ConsumerGroupBuilder, beforeCleanup func()) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		g, err := build(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return handoverGroup{ConsumerGroup: g, before: beforeCleanup}, nil
	}
}

type handoverGroup struct {
	sarama.ConsumerGroup
	before func()
}

func (g handoverGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, handoverHandler{ConsumerGroupHandler: h, before: g.before})
}

type handoverHandler struct {
	sarama.ConsumerGroupHandler
	before func()
}

func (h handoverHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.before()
	return h.ConsumerGroupHandler.Cleanup(s)
}
