package topology

import (
	"context"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sources"
)

// How record sizes are kept consistent end to end.
//
// Data topics get producers with MaxMessageBytes kafka.DataMaxMessageBytes (1,000,000); dead-letter topics
// (of a source or a flow) get kafka.DeadLetterMaxMessageBytes (16 MiB), so that they can hold a record its
// data topic refused. Topics the engine creates get a max.message.bytes that agrees with their producer. At
// start-up the engine reads every topic's max.message.bytes and keeps, per topic, the largest message it
// will send there (recordLimit).
//
// A source task checks each encoded message against that limit before sending it. An oversized record is
// refused as a whole before any of its messages is sent: with a dead-letter topic it goes there in its
// place, in order, and the task goes on; without one the task stops and nothing after it is sent. This
// pre-check is what keeps order: a refusal Kafka sends back asynchronously (the topic's limit was lowered
// after start-up, a record the broker finds invalid) arrives while later records may already be in flight,
// so it stops the task whether or not the source has a dead-letter topic, and the task resumes from the
// saved position once the cause is fixed.

// isDeadLetterTopic reports whether some source or flow uses topic as its dead-letter topic.
func (p *pipelineRun) isDeadLetterTopic(topic string) bool {
	for _, s := range p.t.sources {
		if s.deadLetter != nil && s.deadLetter.name == topic {
			return true
		}
	}
	for _, f := range p.t.flows {
		if f.deadLetter != nil && f.deadLetter.name == topic {
			return true
		}
	}
	return false
}

// producerMaxBytes is the producer's MaxMessageBytes for topic.
func (p *pipelineRun) producerMaxBytes(topic string) int {
	if p.isDeadLetterTopic(topic) {
		return kafka.DeadLetterMaxMessageBytes
	}
	return kafka.DataMaxMessageBytes
}

// topicMaxBytes is the max.message.bytes the engine gives topic when it creates it.
func (p *pipelineRun) topicMaxBytes(topic string) int {
	return kafka.TopicMaxMessageBytes(p.producerMaxBytes(topic))
}

// recordLimit is the largest message (kafka.MessageBytes) the engine sends to topic.
func (p *pipelineRun) recordLimit(topic string) int {
	if n, ok := p.recordLimits[topic]; ok {
		return n
	}
	return p.producerMaxBytes(topic)
}

// checkRecordLimits reads the max.message.bytes of every topic the pipeline produces to, keeps each
// topic's recordLimit, and warns about sources that may read records larger than their topic takes.
func (p *pipelineRun) checkRecordLimits(ctx context.Context) error {
	names := make([]string, 0, len(p.topics))
	for name := range p.topics {
		names = append(names, name)
	}
	slices.Sort(names)
	topicMax, err := kafka.DescribeMaxMessageBytes(ctx, p.cfg.StartupTimeout, p.brokers, p.saramaConfig("sluice-admin"), names)
	if err != nil {
		return err
	}
	p.recordLimits = map[string]int{}
	for _, name := range names {
		producerMax := p.producerMaxBytes(name)
		p.recordLimits[name] = kafka.RecordLimit(producerMax, topicMax[name])
		if topicMax[name] < kafka.TopicMaxMessageBytes(producerMax) {
			p.log.Info("topic takes smaller messages than its producer sends; records over its limit are refused before sending",
				"topic", name, "max_message_bytes", topicMax[name], "producer_max_message_bytes", producerMax,
				"record_limit", p.recordLimits[name])
		}
	}
	for _, n := range p.t.sources {
		lim, ok := n.src.(sources.RecordSizeLimiter)
		if !ok {
			continue
		}
		topic := p.sourceTopicForLimits(n)
		if topic == "" {
			continue
		}
		largest, limit := lim.MaxRecordBytes(), p.recordLimit(topic)
		if largest <= limit {
			continue
		}
		fate := "stop the task (give the source a dead-letter topic to set them aside)"
		if n.deadLetter != nil {
			fate = fmt.Sprintf("go to the dead-letter topic %s", n.deadLetter.name)
			if dl := p.recordLimit(n.deadLetter.name); largest > dl {
				fate += fmt.Sprintf(", which takes at most %d: longer ones stop the task", dl)
			}
		}
		p.log.Warn(fmt.Sprintf("source %s: records up to %d bytes are accepted but topic %s takes at most %d: longer ones %s",
			n.name, largest, topic, limit, fate),
			"source", n.name, "max_record_bytes", largest, "topic", topic, "record_limit", limit)
	}
	return nil
}

// sourceTopicForLimits is the topic whose record limit a source's largest record is compared with: its To
// topic, or for a source whose records name their topics (ToRecordTopics) the declared topic with the
// smallest limit that is nobody's dead-letter topic, since any of them may receive its records.
func (p *pipelineRun) sourceTopicForLimits(n *SourceNode) string {
	if n.to != nil {
		return n.to.name
	}
	smallest := ""
	for _, tp := range p.t.topics {
		if p.isDeadLetterTopic(tp.name) {
			continue
		}
		if smallest == "" || p.recordLimit(tp.name) < p.recordLimit(smallest) {
			smallest = tp.name
		}
	}
	return smallest
}
