package topology

import (
	"context"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// sessionHooks run around goka's handling of a consumer-group session; nil hooks are skipped.
type sessionHooks struct {
	setup         func(sarama.ConsumerGroupSession) // before goka's Setup
	beforeCleanup func()                            // before goka's Cleanup stops the partition processors
	afterCleanup  func()                            // after goka's Cleanup (pending commits are done)
}

// hookedBuilder returns a goka consumer-group builder whose groups run hooks around every session.
func hookedBuilder(build goka.ConsumerGroupBuilder, hooks sessionHooks) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		g, err := build(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return hookedGroup{ConsumerGroup: g, hooks: hooks}, nil
	}
}

type hookedGroup struct {
	sarama.ConsumerGroup
	hooks sessionHooks
}

func (g hookedGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, hookedHandler{ConsumerGroupHandler: h, hooks: g.hooks})
}

type hookedHandler struct {
	sarama.ConsumerGroupHandler
	hooks sessionHooks
}

func (h hookedHandler) Setup(s sarama.ConsumerGroupSession) error {
	if h.hooks.setup != nil {
		h.hooks.setup(s)
	}
	return h.ConsumerGroupHandler.Setup(s)
}

func (h hookedHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	if h.hooks.beforeCleanup != nil {
		h.hooks.beforeCleanup()
	}
	err := h.ConsumerGroupHandler.Cleanup(s)
	if h.hooks.afterCleanup != nil {
		h.hooks.afterCleanup()
	}
	return err
}

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

// builder returns a goka consumer-group builder whose groups report their sessions to c. The session is
// forgotten once goka's Cleanup (which waits for pending commits) is over, so that no commit goes to an
// ended session.
func (c *committer) builder(build goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	set := func(s sarama.ConsumerGroupSession) {
		c.mu.Lock()
		c.session = s
		c.mu.Unlock()
	}
	return hookedBuilder(build, sessionHooks{setup: set, afterCleanup: func() { set(nil) }})
}
