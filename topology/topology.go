package topology

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Topology is a pipeline declaration. Build it with New and the methods below, then call Run.
// Its methods are not safe for concurrent use.
type Topology struct {
	name    string
	topics  []*Topic
	sources []*SourceNode
	flows   []*Flow
	tables  []*Table
	errs    []error
}

// New starts a topology. name identifies the pipeline: it prefixes its consumer groups and control topics,
// so replicas of the same binary share work by sharing the name.
func New(name string) *Topology {
	t := &Topology{name: name}
	if err := checkName(name); err != nil {
		t.errs = append(t.errs, fmt.Errorf("pipeline name: %w", err))
	}
	return t
}

// Name returns the pipeline's name.
func (t *Topology) Name() string { return t.name }

// Topic declares a Kafka topic that the pipeline writes or reads. Sluice creates it at start-up if it is
// missing, with the options given.
func (t *Topology) Topic(name string, opts ...TopicOption) *Topic {
	tp := &Topic{name: name, partitions: 1, keyCodecName: "string", valueCodecName: "json"}
	for _, o := range opts {
		o(tp)
	}
	if err := checkName(name); err != nil {
		t.errs = append(t.errs, fmt.Errorf("topic %q: %w", name, err))
	}
	for _, other := range t.topics {
		if other.name == name {
			t.errs = append(t.errs, fmt.Errorf("topic %q: declared twice", name))
		}
	}
	t.topics = append(t.topics, tp)
	return tp
}

// Source adds a source connector. Its records go to the topic given with To, after the stages given with
// Via (ETL: they run inside the source task, so what they remove never reaches Kafka).
func (t *Topology) Source(name string, src sources.Source, opts ...SourceOption) *SourceNode {
	s := &SourceNode{t: t, name: name, src: src, controlPartitions: 12}
	for _, o := range opts {
		o(s)
	}
	t.sources = append(t.sources, s)
	return s
}

// Flow adds a flow: records of one topic, through ELT stages, into a sink. Each flow is a consumer group
// named <pipeline>.<flow>, so it keeps its own offsets and a new flow on an existing topic starts from the
// topic's beginning without disturbing the others.
func (t *Topology) Flow(name string) *Flow {
	f := &Flow{t: t, name: name, batchSize: 1000, linger: 20 * time.Millisecond}
	t.flows = append(t.flows, f)
	return f
}

// Topic is a declared Kafka topic.
type Topic struct {
	name           string
	partitions     int32
	keyCodecName   string
	valueCodecName string
	compression    string
	subjectNames   string         // SubjectNames: the subject name strategy of a registry codec ("" = topic)
	internal       bool           // created by the engine (a join's output)
	rule           *newTopicsRule // the NewTopics that created it at run time (newtopics.go), else nil
	step           string         // the stateful step whose output the topic is (internal topics)

	keyCodec, valueCodec stream.Codec
}

// Name returns the topic's Kafka name.
func (tp *Topic) Name() string { return tp.name }

// TopicOption configures a declared topic.
type TopicOption func(*Topic)

// Partitions sets the partition count used when Sluice creates the topic (default 1). An existing topic
// with another count is refused at start-up, because keys would move between partitions.
func Partitions(n int) TopicOption { return func(tp *Topic) { tp.partitions = int32(n) } }

// ValueCodec names the codec of record values on this topic (default "json"; see stream.CodecNames).
func ValueCodec(name string) TopicOption { return func(tp *Topic) { tp.valueCodecName = name } }

// KeyCodec names the codec of record keys on this topic (default "string").
func KeyCodec(name string) TopicOption { return func(tp *Topic) { tp.keyCodecName = name } }

// SubjectNames sets how a schema-registry codec (such as "avro") names the subjects it registers this
// topic's schemas under, as Confluent's serializers do: "topic" (the default: <topic>-key and
// <topic>-value), "record" (the record's full name) or "topic-record" (<topic>-<record full name>).
// Validate refuses any other value, naming the topic.
func SubjectNames(strategy string) TopicOption { return func(tp *Topic) { tp.subjectNames = strategy } }

// Compression sets how produced batches are compressed: none (default), gzip, snappy, lz4 or zstd.
func Compression(name string) TopicOption { return func(tp *Topic) { tp.compression = name } }

// SourceNode is a declared source.
type SourceNode struct {
	t                 *Topology
	name              string
	src               sources.Source
	stages            []stages.Stage
	to                *Topic
	controlPartitions int32
	deadLetter        *Topic
	recordTopics      bool             // ToRecordTopics: no To topic, each record names its own
	newTopics         []*newTopicsRule // ToRecordTopics' NewTopics: undeclared topics created at run time
	// backpressure is the source -> Kafka edge's policy (backpressure_source.go); nil is BLOCK.
	backpressure *BackpressurePolicy
}

// SourceOption configures a declared source.
type SourceOption func(*SourceNode)

// TaskSlots sets how many partitions the source's control topic and position table have (default 12).
// Tasks are spread over replicas by hashing their keys onto these slots, so it bounds how many replicas
// can share the source's tasks. It cannot change once the pipeline has run.
func TaskSlots(n int) SourceOption { return func(s *SourceNode) { s.controlPartitions = int32(n) } }

// Via appends ETL stages, run inside each source task before records are encoded and produced.
func (s *SourceNode) Via(st ...stages.Stage) *SourceNode {
	s.stages = append(s.stages, st...)
	return s
}

// To sets the topic the source's records are produced to; a record that names a topic of its own
// (stream.Record.Topic, a routing stage's or a multi-topic source's) goes to that one.
func (s *SourceNode) To(topic *Topic) *SourceNode {
	s.to = topic
	return s
}

// ToRecordTopics declares, instead of To, that each record goes to the topic it names (stream.Record.Topic),
// as a multi-topic source's records do (the MySQL source's: one topic per table), so that no topic has to
// be singled out with To. Every topic the records name must be declared, or start with the prefix of one of
// opts (NewTopics: such a topic is created at run time, before its first record); a record that names no
// topic, or one the topology neither declares nor covers by a NewTopics prefix, fails like a record that
// cannot be encoded: it goes to the source's dead-letter topic if it has one, and otherwise stops the task
// naming the source and position.
func (s *SourceNode) ToRecordTopics(opts ...RecordTopicsOption) *SourceNode {
	s.recordTopics = true
	for _, o := range opts {
		o(s)
	}
	return s
}

// Flow is a declared consumer of one topic that feeds a sink.
type Flow struct {
	t          *Topology
	name       string
	from       *Topic
	steps      []step // stateless stages (Via) and stateful steps (Join, Keyed), in order
	sink       sinks.Sink
	toTopic    *Topic
	batchSize  int
	linger     time.Duration
	deadLetter *Topic
	// backpressure is the Kafka -> sink edge's policy (backpressure.go); nil is BLOCK.
	backpressure *BackpressurePolicy
}

// From sets the topic the flow consumes.
func (f *Flow) From(topic *Topic) *Flow {
	f.from = topic
	return f
}

// Via appends ELT stages, run after Kafka in the flow's processor. Consecutive stateless stages run fused in
// that one processor (or in the group of the stateful step that follows them): they add no topic. Stateful
// steps are appended with Join and Keyed.
func (f *Flow) Via(st ...stages.Stage) *Flow {
	for _, s := range st {
		f.steps = append(f.steps, step{stage: s})
	}
	return f
}

// To sets the flow's sink.
func (f *Flow) To(sink sinks.Sink, opts ...SinkOption) *Flow {
	f.sink = sink
	for _, o := range opts {
		o(f)
	}
	return f
}

// ToTopic ends the flow in Kafka: records go to topic, or to the topic a routing stage gave them (which
// the topology must declare). Offsets of the flow's input are committed only after Kafka acknowledged the
// records they produced. Options are those of To.
func (f *Flow) ToTopic(topic *Topic, opts ...SinkOption) *Flow {
	f.toTopic = topic
	for _, o := range opts {
		o(f)
	}
	return f
}

// SinkOption configures how a flow batches records into its sink.
type SinkOption func(*Flow)

// BatchSize caps the records per sink write (default 1000). It also bounds the records delivered twice
// after a crash: those the sink acknowledged whose offsets were not yet committed.
func BatchSize(n int) SinkOption { return func(f *Flow) { f.batchSize = n } }

// Linger is how long a batch waits for more records before it is written (default 20ms). Zero writes
// what is there at once.
func Linger(d time.Duration) SinkOption { return func(f *Flow) { f.linger = d } }

// LingerMillis is Linger in milliseconds.
//
// Deprecated: use Linger, which takes a time.Duration. LingerMillis will be removed in the next release.
func LingerMillis(ms int) SinkOption { return Linger(time.Duration(ms) * time.Millisecond) }

// ErrInvalidTopology wraps every declaration error that Validate reports.
var ErrInvalidTopology = errors.New("invalid topology")

// Validate checks the whole declaration and returns every mistake found, each naming the topic, source or
// flow and field at fault. Run calls it before starting anything. Besides each declaration on its own, it
// refuses what would collide at run time, naming both parties: two derived names (consumer groups, topics;
// see EngineNames) that are equal, which '.' in names makes possible; two stateful steps of a flow with one
// name; a derived topic that is also a declared topic; and one sink value (held by pointer) ending two
// flows, whose Write would then be called concurrently. It also checks, with the shapes sources, stages
// and sinks declare, that every stage, join and sink can take the records that reach it (see ErrShape).
func (t *Topology) Validate() error {
	errs := append([]error(nil), t.errs...)
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	declared := map[*Topic]bool{}
	for _, tp := range t.topics {
		declared[tp] = true
		if tp.partitions < 1 {
			add("topic %q: Partitions must be at least 1, got %d", tp.name, tp.partitions)
		}
		var err error
		if tp.keyCodec, err = stream.LookupCodec(tp.keyCodecName); err != nil {
			add("topic %q: KeyCodec: %w", tp.name, err)
		}
		if tp.valueCodec, err = stream.LookupCodec(tp.valueCodecName); err != nil {
			add("topic %q: ValueCodec: %w", tp.name, err)
		}
		switch tp.subjectNames {
		case "", stream.SubjectTopicName, stream.SubjectRecordName, stream.SubjectTopicRecordName:
		default:
			add("topic %q: SubjectNames %q is not one of %s, %s, %s", tp.name, tp.subjectNames,
				stream.SubjectTopicName, stream.SubjectRecordName, stream.SubjectTopicRecordName)
		}
		if _, ok := kafka.ParseCompression(tp.compression); !ok {
			add("topic %q: Compression %q is not one of none, gzip, snappy, lz4, zstd", tp.name, tp.compression)
		}
	}
	names := map[string]string{}
	unique := func(kind, name string) {
		if err := checkName(name); err != nil {
			add("%s %q: name: %w", kind, name, err)
		}
		if prev, ok := names[name]; ok {
			add("%s %q: name already used by a %s", kind, name, prev)
		}
		names[name] = kind
	}
	for _, s := range t.sources {
		unique("source", s.name)
		if s.src == nil {
			add("source %q: connector is nil", s.name)
		}
		switch {
		case s.to == nil && !s.recordTopics:
			add("source %q: no destination topic (call To); a source whose records name their topics calls ToRecordTopics", s.name)
		case s.to != nil && s.recordTopics:
			add("source %q: both To(%q) and ToRecordTopics: call one of them", s.name, s.to.name)
		case s.to != nil && !declared[s.to]:
			add("source %q: topic %q was declared on another topology", s.name, s.to.name)
		}
		if s.deadLetter != nil && !declared[s.deadLetter] {
			add("source %q: dead-letter topic %q was declared on another topology", s.name, s.deadLetter.name)
		}
		if s.controlPartitions < 1 {
			add("source %q: TaskSlots must be at least 1, got %d", s.name, s.controlPartitions)
		}
		s.validateBackpressure(add)
		s.validateNewTopics(add) // newtopics.go
		t.validateRequiredTopics(s, add)
		checkStages(s.stages, "source", s.name, add)
	}
	for _, f := range t.flows {
		unique("flow", f.name)
		if f.from == nil {
			add("flow %q: no input topic (call From)", f.name)
		} else if !declared[f.from] {
			add("flow %q: topic %q was declared on another topology", f.name, f.from.name)
		}
		switch {
		case f.sink == nil && f.toTopic == nil:
			add("flow %q: no sink (call To or ToTopic)", f.name)
		case f.sink != nil && f.toTopic != nil:
			add("flow %q: both a sink and a topic: call To or ToTopic, not both", f.name)
		case f.toTopic != nil && !declared[f.toTopic]:
			add("flow %q: topic %q was declared on another topology", f.name, f.toTopic.name)
		case f.toTopic != nil && f.toTopic == f.from:
			add("flow %q: output topic %q is the flow's own input", f.name, f.toTopic.name)
		}
		if f.deadLetter != nil {
			if !declared[f.deadLetter] {
				add("flow %q: dead-letter topic %q was declared on another topology", f.name, f.deadLetter.name)
			} else if f.deadLetter == f.from {
				add("flow %q: dead-letter topic %q is the flow's own input", f.name, f.deadLetter.name)
			}
		}
		if f.batchSize < 1 {
			add("flow %q: BatchSize must be at least 1, got %d", f.name, f.batchSize)
		}
		if f.linger < 0 {
			add("flow %q: Linger must not be negative, got %v", f.name, f.linger)
		}
		f.validateBackpressure(add)
		checkStages(statelessStages(f.steps), "flow", f.name, add)
	}
	t.validateJoins(declared, add)
	t.checkShapes(add)
	t.validateNames(add)
	if len(t.sources) == 0 && len(t.flows) == 0 {
		add("nothing to run: declare a Source or a Flow")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w %q: %w", ErrInvalidTopology, t.name, errors.Join(errs...))
}

func checkStages(st []stages.Stage, kind, name string, add func(string, ...any)) {
	for i, s := range st {
		if err := stages.Validate(s); err != nil {
			add("%s %q: stage %d: %w", kind, name, i, err)
		}
	}
}

var legalName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// checkName applies Kafka's topic-name rules, since names end up in topic and group names.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > 200:
		return errors.New("longer than 200 characters")
	case !legalName.MatchString(name):
		return fmt.Errorf("%q may contain only letters, digits, '.', '_' and '-'", name)
	}
	return nil
}
