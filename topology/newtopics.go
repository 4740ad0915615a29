package topology

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/stream"
)

// Record topics created at run time (ToRecordTopics with NewTopics).
//
// A source whose records name their topics (the MySQL source: one topic per table) may name topics that
// did not exist when the pipeline was declared: a table created while it runs. NewTopics gives such a
// source a prefix: a record for an undeclared topic that starts with it gets the topic created before it
// is produced, once per replica (creating a topic that exists, another replica's, is fine), with the
// NewTopics options: partitions, key and value codecs (a schema-registry codec is bound to the created
// topic as to a declared one), subject name strategy and compression. The topic is created explicitly,
// like every topic of the engine (never by Kafka's auto-creation), with the data topics' max.message.bytes;
// its records are limited as those of a declared data topic are. A topic that cannot be created (no answer
// within Config.StartupTimeout, CREATE refused) stops the task naming the topic and the record's position:
// it is Kafka's failure, not the record's, so the record never goes to a dead-letter topic for it. A record
// for an undeclared topic under no prefix fails as before: it goes to the source's dead-letter topic if it
// has one, else it stops the task.
//
// Such topics are not declared: no flow can read them in the same topology (declare the topics a flow
// reads), the start-up checks (partitioning, max.message.bytes) do not cover them, and Topology.ACLs
// lists, for the prefix, PREFIXED CREATE and WRITE entries.

// RecordTopicsOption configures ToRecordTopics.
type RecordTopicsOption func(*SourceNode)

// newTopicsRule is one NewTopics of a source: the prefix and the options of the topics it creates,
// held as a Topic (named prefix+"*" for display) that the created topics copy.
type newTopicsRule struct {
	prefix   string
	template *Topic
}

// NewTopics lets the source's records name undeclared topics that start with prefix (e.g. "sluice.shop."):
// each such topic is created at run time, before its first record is produced, with opts (Partitions,
// KeyCodec, ValueCodec, SubjectNames, Compression; the defaults of Topology.Topic otherwise). Validate
// checks prefix and opts as it checks a declared topic. The first NewTopics whose prefix a topic starts
// with applies; a declared topic is always itself.
func NewTopics(prefix string, opts ...TopicOption) RecordTopicsOption {
	return func(s *SourceNode) {
		tp := &Topic{name: prefix + "*", partitions: 1, keyCodecName: "string", valueCodecName: "json"}
		for _, o := range opts {
			o(tp)
		}
		s.newTopics = append(s.newTopics, &newTopicsRule{prefix: prefix, template: tp})
	}
}

// validateNewTopics checks the source's NewTopics as Validate checks declared topics.
func (s *SourceNode) validateNewTopics(add func(string, ...any)) {
	for _, nt := range s.newTopics {
		who := fmt.Sprintf("source %q: NewTopics(%q)", s.name, nt.prefix)
		if err := checkName(nt.prefix); err != nil {
			add("%s: prefix: %w", who, err)
		}
		tp := nt.template
		if tp.partitions < 1 {
			add("%s: Partitions must be at least 1, got %d", who, tp.partitions)
		}
		if _, err := stream.LookupCodec(tp.keyCodecName); err != nil {
			add("%s: KeyCodec: %w", who, err)
		}
		if _, err := stream.LookupCodec(tp.valueCodecName); err != nil {
			add("%s: ValueCodec: %w", who, err)
		}
		switch tp.subjectNames {
		case "", stream.SubjectTopicName, stream.SubjectRecordName, stream.SubjectTopicRecordName:
		default:
			add("%s: SubjectNames %q is not one of %s, %s, %s", who, tp.subjectNames,
				stream.SubjectTopicName, stream.SubjectRecordName, stream.SubjectTopicRecordName)
		}
		if _, ok := kafka.ParseCompression(tp.compression); !ok {
			add("%s: Compression %q is not one of none, gzip, snappy, lz4, zstd", who, tp.compression)
		}
	}
}

// newTopicsRuleFor returns the source's NewTopics that covers topic, or nil.
func (s *SourceNode) newTopicsRuleFor(topic string) *newTopicsRule {
	for _, nt := range s.newTopics {
		if strings.HasPrefix(topic, nt.prefix) {
			return nt
		}
	}
	return nil
}

// usesRegistryForNewTopics reports whether a NewTopics template's codec needs a schema registry.
func (t *Topology) usesRegistryForNewTopics() bool {
	for _, s := range t.sources {
		for _, nt := range s.newTopics {
			if nt.template.registryCodec() {
				return true
			}
		}
	}
	return false
}

// runtimeTopics are the topics a run created for NewTopics, with their producers (one per rule). Safe for
// concurrent use; the zero value is ready.
type runtimeTopics struct {
	mu        sync.Mutex
	topics    map[string]*Topic
	producers map[*newTopicsRule]*kafka.Producer
	registry  stream.SchemaRegistry // the run's, for registry codecs (bindTopicCodecs)
}

// topic returns the created topic named name, or nil.
func (rt *runtimeTopics) topic(name string) *Topic {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.topics[name]
}

// producer returns the producer of the created topic named name, or nil.
func (rt *runtimeTopics) producer(name string) *kafka.Producer {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if tp := rt.topics[name]; tp != nil {
		return rt.producers[tp.rule]
	}
	return nil
}

// close closes the producers.
func (rt *runtimeTopics) close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, pr := range rt.producers {
		_ = pr.Close()
	}
	rt.producers = nil
}

// ensureRecordTopic makes sure the topic a record of source n names exists: a declared topic, a topic
// this run created, or, when a NewTopics of n covers it, a topic it creates now (in Kafka, with its codecs
// bound, and its rule's producer connected), each step bounded by Config.StartupTimeout and not cancelled
// with ctx, as sends are not (see pump). A topic that no NewTopics covers is left to encode, which refuses
// it. Creations are serialised (they are rare); a topic is created at most once per run.
func (p *pipelineRun) ensureRecordTopic(ctx context.Context, n *SourceNode, name string) error {
	if name == "" || p.topics[name] != nil {
		return nil
	}
	nt := n.newTopicsRuleFor(name)
	if nt == nil {
		return nil
	}
	rt := &p.runtime
	rt.mu.Lock()
	defer rt.mu.Unlock() // creations are rare: one at a time
	if rt.topics[name] != nil {
		return nil
	}
	if err := checkName(name); err != nil {
		return fmt.Errorf("topic %q (NewTopics %q): name: %w", name, nt.prefix, err)
	}
	tp := *nt.template
	tp.name, tp.rule = name, nt
	// Like the sends, the creation is not cancelled when the pipeline stops: a batch that was read is handed
	// to Kafka whole, so that the final position can cover it. Each step stays bounded by StartupTimeout.
	ctx = context.WithoutCancel(ctx)
	spec := kafka.TopicSpec{Name: name, Partitions: tp.partitions, MaxMessageBytes: p.topicMaxBytes(name)}
	if err := kafka.EnsureTopicsWithin(ctx, p.cfg.StartupTimeout, p.brokers, p.saramaConfig("sluice-admin"), int16(p.cfg.Replication), []kafka.TopicSpec{spec}); err != nil {
		return fmt.Errorf("topic %q (NewTopics %q): create: %w", name, nt.prefix, err)
	}
	var err error
	if tp.keyCodec, err = stream.LookupCodec(tp.keyCodecName); err != nil {
		return fmt.Errorf("topic %q: KeyCodec: %w", name, err)
	}
	if tp.valueCodec, err = stream.LookupCodec(tp.valueCodecName); err != nil {
		return fmt.Errorf("topic %q: ValueCodec: %w", name, err)
	}
	if err := tp.bindCodecs(rt.registry); err != nil {
		return err
	}
	if rt.producers[nt] == nil {
		s := p.settings
		s.ClientID = "sluice-" + nt.prefix + "new"
		s.Compression, _ = kafka.ParseCompression(tp.compression)
		cfg := kafka.SaramaConfig(s)
		cfg.Producer.MaxMessageBytes = p.producerMaxBytes(name)
		pr, err := kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a producer's metadata request",
			func() (*kafka.Producer, error) { return kafka.NewProducer(p.brokers, cfg) },
			func(pr *kafka.Producer) { _ = pr.Close() })
		if err != nil {
			return fmt.Errorf("topic %q (NewTopics %q): producer: %w", name, nt.prefix, err)
		}
		if rt.producers == nil {
			rt.producers = map[*newTopicsRule]*kafka.Producer{}
		}
		rt.producers[nt] = pr
	}
	if rt.topics == nil {
		rt.topics = map[string]*Topic{}
	}
	rt.topics[name] = &tp
	p.log.Info("topic created for the source's records", "source", n.name, "topic", name, "prefix", nt.prefix,
		"partitions", tp.partitions, "value_codec", tp.valueCodecName)
	return nil
}
