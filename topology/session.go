package topology

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// sessionHooks run around goka's handling of a consumer-group session; nil hooks are skipped.
type sessionHooks struct {
	setup         func(sarama.ConsumerGroupSession) sarama.ConsumerGroupSession // before goka's Setup; returns the session goka gets (nil: the same)
	beforeCleanup func()                                                        // before goka's Cleanup stops the partition processors
	afterCleanup  func()                                                        // after goka's Cleanup (pending commits are done)
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
		if wrapped := h.hooks.setup(s); wrapped != nil {
			s = wrapped
		}
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
//
// It also gives each session the context the flow's sink writes with: when the session ends (a rebalance
// revokes the partitions, or the pipeline stops), that context is cancelled after sinkDrainTimeout, so a
// stuck write never holds the rebalance or the shutdown longer. What the flow then abandons is committed to
// goka without marking its offsets (see flowSession), so it is delivered again.
type committer struct {
	mu      sync.RWMutex
	session *flowSession
}

// sinkDrainTimeout is how long a flow keeps writing what it holds once its partitions are being revoked or
// the pipeline stops; then the sink's write context is cancelled. It stays well below goka's 60 s wait for
// pending commits and the consumer group's rebalance timeout.
const sinkDrainTimeout = 10 * time.Second

// flowSession is the sarama session goka sees for a flow, with the context sink writes use in it.
// MarkOffset does nothing once the flow abandoned the session's remaining records: they were not written,
// so their offsets must not be committed.
type flowSession struct {
	sarama.ConsumerGroupSession
	writeCtx  context.Context
	cancel    context.CancelFunc
	drain     *time.Timer
	ending    chan struct{} // closed when the session begins to end (goka's Cleanup)
	abandoned atomic.Bool
	held      heldMarks // marks of records only a BUFFER spill holds, passed on once written (backpressure.go)
}

func (s *flowSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	if !s.abandoned.Load() && !s.held.swallow(topic, partition, offset-1) {
		s.ConsumerGroupSession.MarkOffset(topic, partition, offset, metadata)
	}
}

func (s *flowSession) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	if !s.abandoned.Load() && !s.held.swallow(msg.Topic, msg.Partition, msg.Offset) {
		s.ConsumerGroupSession.MarkMessage(msg, metadata)
	}
}

// commit flushes marked offsets to Kafka, if a session is live.
func (c *committer) commit() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.session != nil {
		c.session.Commit()
	}
}

// current returns the live session and the context for sink writes in it; with no live session, nil and a
// cancelled context.
func (c *committer) current() (*flowSession, context.Context) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.session == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return nil, ctx
	}
	return c.session, c.session.writeCtx
}

// builder returns a goka consumer-group builder whose groups report their sessions to c. When a session
// begins to end (goka's Cleanup), the drain starts; the session is forgotten once goka's Cleanup (which
// waits for pending commits) is over, so that no commit goes to an ended session.
func (c *committer) builder(build goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	return hookedBuilder(build, sessionHooks{
		setup: func(s sarama.ConsumerGroupSession) sarama.ConsumerGroupSession {
			fs := &flowSession{ConsumerGroupSession: s, ending: make(chan struct{})}
			fs.writeCtx, fs.cancel = context.WithCancel(context.Background())
			c.mu.Lock()
			c.session = fs
			c.mu.Unlock()
			return fs
		},
		beforeCleanup: func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.session != nil && c.session.drain == nil {
				close(c.session.ending)
				c.session.drain = time.AfterFunc(sinkDrainTimeout, c.session.cancel)
			}
		},
		afterCleanup: func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.session != nil {
				if c.session.drain != nil {
					c.session.drain.Stop()
				}
				c.session.cancel()
				c.session = nil
			}
		},
	})
}
