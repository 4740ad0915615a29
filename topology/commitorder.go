package topology

import (
	"context"
	"sort"
	"sync"

	"github.com/IBM/sarama"
)

// Offsets are committed in order, per input partition.
//
// goka marks a message's offset in the sarama session as soon as that message's own writes (loopbacks,
// group-table writes, outputs, deferred commits) are acknowledged, and sarama's MarkOffset keeps the highest
// offset marked. Writes to partitions led by different brokers are acknowledged in any order, so the mark of
// message N+1 could commit offset N+2 while a write of message N was still unacknowledged; a crash then lost
// that write for good, since N was never read again. On a three-node Kafka this lost a join's loopback of an
// order's delete (the order stayed indexed) and a home's "index" request to its customer's row (the order
// was indexed with customer null); the embedded broker acknowledges in order and never showed it.
//
// orderedCommitGroup wraps a consumer group so that every session goka sees records each message the claim
// delivers, in offset order, and passes a mark on to sarama only for the longest prefix of delivered
// messages that are all marked: an offset is committed only when its message and every message before it
// in the partition were processed and their writes acknowledged. A crash repeats what was not committed
// (at-least-once); it no longer skips anything.
type orderedCommitGroup struct {
	sarama.ConsumerGroup
}

func (g orderedCommitGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, &orderedCommitHandler{inner: h})
}

// orderedCommitHandler serves one Consume call, that is one session.
type orderedCommitHandler struct {
	inner   sarama.ConsumerGroupHandler
	mu      sync.Mutex
	session *orderedSession
}

// sessionFor returns the ordered session wrapping s, made on first use.
func (h *orderedCommitHandler) sessionFor(s sarama.ConsumerGroupSession) *orderedSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.session == nil || h.session.ConsumerGroupSession != s {
		h.session = &orderedSession{ConsumerGroupSession: s, partitions: map[topicPartition]*partitionCommits{}}
	}
	return h.session
}

func (h *orderedCommitHandler) Setup(s sarama.ConsumerGroupSession) error {
	return h.inner.Setup(h.sessionFor(s))
}

func (h *orderedCommitHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	return h.inner.Cleanup(h.sessionFor(s))
}

// ConsumeClaim hands goka the claim's messages through a channel that records each one as delivered before
// goka can see it, so that its mark can never be passed on before the marks of the messages before it.
func (h *orderedCommitHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	ordered := h.sessionFor(s)
	pc := ordered.partition(c.Topic(), c.Partition())
	msgs := make(chan *sarama.ConsumerMessage)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(msgs)
		for {
			select {
			case m, ok := <-c.Messages():
				if !ok {
					return
				}
				pc.delivered(m.Offset)
				select {
				case msgs <- m:
				case <-stop:
					return // not handed over: its offset is never committed in this session, nor anything after it
				}
			case <-stop:
				return
			}
		}
	}()
	return h.inner.ConsumeClaim(ordered, orderedClaim{ConsumerGroupClaim: c, messages: msgs})
}

type orderedClaim struct {
	sarama.ConsumerGroupClaim
	messages chan *sarama.ConsumerMessage
}

func (c orderedClaim) Messages() <-chan *sarama.ConsumerMessage { return c.messages }

type topicPartition struct {
	topic     string
	partition int32
}

// orderedSession is the sarama session goka marks offsets in; it commits them in order (see
// orderedCommitGroup).
type orderedSession struct {
	sarama.ConsumerGroupSession
	mu         sync.Mutex
	partitions map[topicPartition]*partitionCommits
}

func (s *orderedSession) partition(topic string, partition int32) *partitionCommits {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := topicPartition{topic, partition}
	pc := s.partitions[tp]
	if pc == nil {
		pc = &partitionCommits{}
		s.partitions[tp] = pc
	}
	return pc
}

// MarkOffset records that the message before offset (the next offset to read, as goka and sarama mark it)
// is processed, and marks in sarama the offset after the longest processed prefix, if it grew.
func (s *orderedSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	if next, md, ok := s.partition(topic, partition).processed(offset-1, metadata); ok {
		s.ConsumerGroupSession.MarkOffset(topic, partition, next, md)
	}
}

func (s *orderedSession) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, metadata)
}

// partitionCommits holds the offsets of one partition's messages that were delivered and are not yet
// committed, in offset order.
type partitionCommits struct {
	mu      sync.Mutex
	pending []pendingOffset
}

type pendingOffset struct {
	offset    int64
	processed bool
	metadata  string
}

func (p *partitionCommits) delivered(offset int64) {
	p.mu.Lock()
	p.pending = append(p.pending, pendingOffset{offset: offset})
	p.mu.Unlock()
}

// processed marks the message at offset processed and, when that completes a prefix of the pending
// messages, drops the prefix and returns the offset to commit (the one after the prefix's last message).
// An offset that was never delivered (goka marks only what it was given) takes its place in order.
func (p *partitionCommits) processed(offset int64, metadata string) (next int64, md string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.pending), func(i int) bool { return p.pending[i].offset >= offset })
	if i < len(p.pending) && p.pending[i].offset == offset {
		p.pending[i].processed, p.pending[i].metadata = true, metadata
	} else {
		p.pending = append(p.pending, pendingOffset{})
		copy(p.pending[i+1:], p.pending[i:])
		p.pending[i] = pendingOffset{offset: offset, processed: true, metadata: metadata}
	}
	n := 0
	for n < len(p.pending) && p.pending[n].processed {
		n++
	}
	if n == 0 {
		return 0, "", false
	}
	last := p.pending[n-1]
	p.pending = p.pending[n:]
	return last.offset + 1, last.metadata, true
}
