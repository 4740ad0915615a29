package topology

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/stream"
)

// Redrive: bringing dead letters back (sluice dlq list|show|replay, GET/POST /pipelines/{name}/dlq...).
//
// A replay re-injects a flow's dead letter at the point where it failed: into the flow's own sink
// processor, which reads a second input, the redrive topic <pipeline>.<flow>.redrive (as many partitions as
// the flow's input topic, as goka's co-partitioning wants). A redrive message is the dead letter's key,
// value and timestamp byte for byte, its own headers without the failure's (the sluice.errors.* headers
// except HeaderErrorFirstFailure and HeaderErrorAttempts, which the next failure keeps and raises), plus
// HeaderRedriveOf (the dead letter it re-injects) and HeaderRedriveOrigin (where the record was first read).
// The processor decodes it with the flow's codecs, runs the flow's stages and hands it to the sink as if it
// were read at its origin; its offset in the redrive topic is committed in order like any other.
//
// The state of every dead letter lives in Kafka, so that every replica and a restart agree: the
// dead-letter topics themselves, and the compacted topic <pipeline>.dlq-state (not <pipeline>.dlq, a
// natural name for a user's own dead-letter topic, which Validate would then refuse) keyed by the dead
// letter (topic/partition@offset) with the last thing that happened to it: REPLAYING (written by the
// replay before it re-injects the record) or DONE (written by the flow after the sink acknowledged the
// record, before its redrive offset is committed). A re-injected record that fails again is dead-lettered
// again, with HeaderRedriveOf naming the dead letter it replaces (FAILED_AGAIN) and its attempts raised;
// once a dead letter's attempts reach Config.DLQMaxAttempts it is QUARANTINED: a replay leaves it alone
// unless asked to include quarantined records. A replay selects only PENDING (and, asked, QUARANTINED)
// dead letters, never REPLAYING ones: a record is never re-injected twice by one mistake, and a record
// that keeps failing stops at the limit.
//
// A source's dead letter (an ETL stage, the encoding or the topic's size limit refused it, before Kafka)
// is replayed by the replica that answers the replay, there and then: decoded with the dead-letter topic's
// codecs, through the source's ETL stages (the same stage values its tasks run), encoded for the source's
// topic and produced to it; DONE once Kafka acknowledged it, or dead-lettered again. The flows reading
// that topic then take it like any record.
//
// Guarantees: at least once. A replica that stops between the sink's acknowledgement and the DONE mark
// writes the record again when the redrive offset is read again (sinks are idempotent by document id); a
// DONE mark that Kafka refuses leaves the dead letter REPLAYING and is logged. Not redriven (the replay
// reports them as not_redrivable): dead letters a stateful step's group set aside (a join or keyed step),
// which would have to enter that group, and those of a source that sends each record to the topic it
// names (ToRecordTopics), whose dead letter does not keep the topic.

// Headers of a redrive message and of a dead letter that a redriven record became.
const (
	// HeaderRedriveOf names the dead letter (topic/partition@offset) a redrive message re-injects; a dead
	// letter carrying it replaces that one.
	HeaderRedriveOf = "sluice.redrive.of"
	// HeaderRedriveOrigin is where the record was read before it first failed (topic/partition@offset).
	HeaderRedriveOrigin = "sluice.redrive.origin"
	// HeaderRedriveID is the id of the replay that re-injected the record.
	HeaderRedriveID = "sluice.redrive.id"
)

// DefaultDLQMaxAttempts is Config.DLQMaxAttempts when it is 0.
const DefaultDLQMaxAttempts = 3

// redriveTopic is the topic a flow's sink processor reads redriven records from.
func redriveTopic(pipeline, flow string) string { return flowGroup(pipeline, flow) + ".redrive" }

// dlqStateTopic is the compacted topic holding the state of the pipeline's dead letters.
func dlqStateTopic(pipeline string) string { return pipeline + ".dlq-state" }

// dlqMaxAttemptsFromEnv reads SLUICE_DLQ_MAX_ATTEMPTS into c.
func dlqMaxAttemptsFromEnv(c *Config) error {
	v := os.Getenv("SLUICE_DLQ_MAX_ATTEMPTS")
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return fmt.Errorf("SLUICE_DLQ_MAX_ATTEMPTS: %q is not a positive number of attempts", v)
	}
	c.DLQMaxAttempts = n
	return nil
}

func (p *pipelineRun) dlqMaxAttempts() int {
	if p.cfg.DLQMaxAttempts > 0 {
		return p.cfg.DLQMaxAttempts
	}
	return DefaultDLQMaxAttempts
}

// redrivableFlows maps each flow with a dead-letter topic to the topic its sink processor reads (the
// flow's input, or the output of its last stateful step) and that topic's partitions.
func (p *pipelineRun) redrivableFlows() map[string]*Topic {
	_, flows := p.t.compileFlows()
	out := map[string]*Topic{}
	for _, f := range flows {
		if f.deadLetter != nil {
			out[f.name] = f.from
		}
	}
	return out
}

// hasDeadLetters reports whether a source or a flow of t has a dead-letter topic.
func (t *Topology) hasDeadLetters() bool {
	for _, s := range t.sources {
		if s.deadLetter != nil {
			return true
		}
	}
	for _, f := range t.flows {
		if f.deadLetter != nil {
			return true
		}
	}
	return false
}

// redriveTopicSpecs are the redrive topics and the state topic, for ensureTopics; none when nothing has a
// dead-letter topic.
func (p *pipelineRun) redriveTopicSpecs() []kafka.TopicSpec {
	if !p.t.hasDeadLetters() {
		return nil
	}
	specs := []kafka.TopicSpec{{Name: dlqStateTopic(p.t.name), Partitions: 1, Compact: true}}
	for name, in := range p.redrivableFlows() {
		specs = append(specs, kafka.TopicSpec{Name: redriveTopic(p.t.name, name), Partitions: in.partitions,
			MaxMessageBytes: kafka.TopicMaxMessageBytes(kafka.DeadLetterMaxMessageBytes)})
	}
	return specs
}

// redriveEngineNames adds the redrive topics of the flows with a dead-letter topic and the pipeline's
// dead-letter state topic to EngineNames.
func (t *Topology) redriveEngineNames(add func(o nameOwner, kind NameKind, role, name string)) {
	for _, f := range t.flows {
		if f.deadLetter != nil {
			add(nameOwner{kind: "flow", name: f.name}, TopicName, "redrive topic", redriveTopic(t.name, f.name))
		}
	}
	if t.hasDeadLetters() {
		add(nameOwner{kind: "pipeline", name: t.name}, TopicName, "dead-letter state topic", dlqStateTopic(t.name))
	}
}

// redriveACLs adds the ACLs redrive needs (ACLs): the operator API reads every dead-letter topic and the
// state topic; each flow with a dead-letter topic reads its redrive topic, which start-up creates and
// replays write; the flows and replays write marks into the state topic (its CREATE and WRITE come with
// the pipeline's topics of EngineNames); a replay of a source's dead letters writes the source's topic,
// which the source writes anyway.
func (t *Topology) redriveACLs(topic, operator func(name, op, why string)) {
	for _, s := range t.sources {
		if s.deadLetter != nil {
			operator(s.deadLetter.name, OpRead, "the operator API's dlq routes read the dead letters")
		}
	}
	for _, f := range t.flows {
		if f.deadLetter == nil {
			continue
		}
		who := fmt.Sprintf("flow %q", f.name)
		rt := redriveTopic(t.name, f.name)
		operator(f.deadLetter.name, OpRead, "the operator API's dlq routes read the dead letters")
		topic(rt, OpCreate, "start-up creates "+who+"'s redrive topic")
		topic(rt, OpRead, who+": its processor reads redriven records")
		operator(rt, OpWrite, "the operator API's dlq replay re-injects dead letters")
	}
	if t.hasDeadLetters() {
		operator(dlqStateTopic(t.name), OpRead, "the operator API's dlq routes read the dead letters' state")
	}
}

// redriveInput is the flow processor's second input, its redrive topic; nil for a flow without a
// dead-letter topic and for a rebuild's copy (which reads the flow's topic from the start anyway).
func (r *sinkRunner) redriveInput() goka.Edge {
	if r.f.deadLetter == nil || r.rebuild != nil {
		return nil
	}
	return goka.Input(goka.Stream(redriveTopic(r.p.t.name, r.f.name)), new(codec.Bytes), r.consume)
}

// redriven is a record the flow's processor read from its redrive topic.
type redriven struct {
	deadLetter string // the dead letter it re-injects, topic/partition@offset
	id         string // the replay's id
	// topic, partition and offset say where the record was read before it first failed (ok: known).
	topic     string
	partition int32
	offset    int64
	ok        bool
}

// redriveOf returns what a record read from the flow's redrive topic re-injects, and makes rec say where
// the record was first read, so that the flow's stages see it as they saw it then; nil for a record of
// the flow's topic. The record's origin (for commits, lag and backpressure) stays where Kafka holds it.
func (r *sinkRunner) redriveOf(ctx goka.Context, rec *stream.Record) *redriven {
	if r.f.deadLetter == nil || string(ctx.Topic()) != redriveTopic(r.p.t.name, r.f.name) {
		return nil
	}
	h := ctx.Headers()
	red := &redriven{deadLetter: string(h[HeaderRedriveOf]), id: string(h[HeaderRedriveID])}
	red.topic, red.partition, red.offset, red.ok = parseRecordRef(string(h[HeaderRedriveOrigin]))
	if red.ok {
		rec.Topic, rec.Partition, rec.Offset = red.topic, red.partition, red.offset
	}
	return red
}

// at is o as a dead letter names it: for a redriven record, where it was read before it first failed.
func (red *redriven) at(o origin) origin {
	if red != nil && red.ok {
		o.topic, o.partition, o.offset = red.topic, red.partition, red.offset
	}
	return o
}

// clean drops the engine's redrive headers from a redriven record before the flow's stages see it.
func (red *redriven) clean(rec *stream.Record) {
	if red == nil {
		return
	}
	rec.Headers = slices.DeleteFunc(rec.Headers, func(h stream.Header) bool { return isLineageHeader(h.Key) })
}

// isLineageHeader reports whether key is a header the engine writes on dead letters and redrive messages.
func isLineageHeader(key string) bool {
	return strings.HasPrefix(key, "sluice.errors.") || strings.HasPrefix(key, "sluice.redrive.")
}

// markRedriven writes DONE for every redriven record of a written batch whose records the sink
// acknowledged (none rejected), and waits for Kafka; called before the batch's offsets are committed.
func (r *sinkRunner) markRedriven(items []sinkItem, owners []int, rejected map[int]bool) {
	failedItem := map[int]bool{}
	for i := range rejected {
		failedItem[owners[i]] = true
	}
	var done []string
	var ids []string
	for i, it := range items {
		if it.redrive != nil && it.redrive.deadLetter != "" && !failedItem[i] {
			done = append(done, it.redrive.deadLetter)
			ids = append(ids, it.redrive.id)
		}
	}
	if len(done) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.p.cfg.StartupTimeout)
	defer cancel()
	if err := r.p.writeDLQStates(ctx, r.p.controlProducer, done, ids, opsapi.DeadLetterDone); err != nil {
		r.p.log.Warn("redriven records written, but their dead letters cannot be marked done; they stay REPLAYING",
			"flow", r.f.name, "records", len(done), "err", inOwnWords(err))
		return
	}
	r.p.log.Info("redriven records written by the sink", "flow", r.f.name, "records", len(done))
}

// dlqState is a value of the state topic.
type dlqState struct {
	State   string    `json:"state"`
	Redrive string    `json:"redrive,omitempty"`
	At      time.Time `json:"at"`
}

// writeDLQStates sets the state of the dead letters refs (ids[i] the replay of refs[i]) and waits for
// Kafka's acknowledgements or ctx's end.
func (p *pipelineRun) writeDLQStates(ctx context.Context, pr *kafka.Producer, refs, ids []string, state string) error {
	acks := make(chan error, len(refs))
	now := time.Now().UTC()
	for i, ref := range refs {
		v, _ := json.Marshal(dlqState{State: state, Redrive: ids[i], At: now})
		msg := kafka.Message{Topic: dlqStateTopic(p.t.name), Key: []byte(ref), Value: v, Timestamp: now}
		if err := pr.Send(ctx, msg, func(_ int32, _ int64, err error) { acks <- err }); err != nil {
			return fmt.Errorf("state of dead letter %s to topic %s: %w", ref, msg.Topic, err)
		}
	}
	for range refs {
		select {
		case err := <-acks:
			if err != nil {
				return fmt.Errorf("state of a dead letter to topic %s: %w", dlqStateTopic(p.t.name), err)
			}
		case <-ctx.Done():
			return fmt.Errorf("state of dead letters to topic %s: %w", dlqStateTopic(p.t.name), ctx.Err())
		}
	}
	return nil
}

// formatRecordRef is topic/partition@offset.
func formatRecordRef(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s/%d@%d", topic, partition, offset)
}

// parseRecordRef reads topic/partition@offset.
func parseRecordRef(s string) (string, int32, int64, bool) {
	slash := strings.LastIndexByte(s, '/')
	at := strings.LastIndexByte(s, '@')
	if slash <= 0 || at < slash {
		return "", 0, 0, false
	}
	part, err1 := strconv.ParseInt(s[slash+1:at], 10, 32)
	off, err2 := strconv.ParseInt(s[at+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return s[:slash], int32(part), off, true
}

// deadLetterEntry is one dead letter as read from its topic, with its computed state.
type deadLetterEntry struct {
	rec     opsapi.DeadLetterRecord
	key     []byte
	value   []byte
	headers []*sarama.RecordHeader
	ts      time.Time
}

// ref is the entry's key in the state topic.
func (e *deadLetterEntry) ref() string {
	return formatRecordRef(e.rec.Topic, e.rec.Partition, e.rec.Offset)
}

// deadLetterTopics are the pipeline's dead-letter topics, flows' first, each once.
func (p *pipelineRun) deadLetterTopics() []string {
	var out []string
	add := func(tp *Topic) {
		if tp != nil && !slices.Contains(out, tp.name) {
			out = append(out, tp.name)
		}
	}
	for _, f := range p.t.flows {
		add(f.deadLetter)
	}
	for _, s := range p.t.sources {
		add(s.deadLetter)
	}
	return out
}

// dlqRequestTimeout bounds how long the API reads the dead-letter and state topics for one request.
const dlqRequestTimeout = 30 * time.Second

// scanDLQ reads every dead-letter topic and the state topic up to their end offsets as of the call, and
// returns the dead letters, oldest first per topic, with their state.
func (p *pipelineRun) scanDLQ(ctx context.Context) ([]*deadLetterEntry, error) {
	cfg := p.saramaConfig("sluice-dlq")
	cfg = kafka.StartupConfig(cfg, p.cfg.StartupTimeout)
	client, err := kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a metadata request",
		func() (sarama.Client, error) { return sarama.NewClient(p.brokers, cfg) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return nil, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()

	var entries []*deadLetterEntry
	for _, topic := range p.deadLetterTopics() {
		err := readToEnd(ctx, client, consumer, topic, func(m *sarama.ConsumerMessage) {
			entries = append(entries, newDeadLetterEntry(m))
		})
		if err != nil {
			return nil, fmt.Errorf("read dead-letter topic %s: %w", topic, err)
		}
	}
	states := map[string]dlqState{}
	if p.t.hasDeadLetters() {
		err := readToEnd(ctx, client, consumer, dlqStateTopic(p.t.name), func(m *sarama.ConsumerMessage) {
			var st dlqState
			if m.Value == nil {
				delete(states, string(m.Key))
			} else if json.Unmarshal(m.Value, &st) == nil {
				states[string(m.Key)] = st
			}
		})
		if err != nil {
			return nil, fmt.Errorf("read dead-letter state topic %s: %w", dlqStateTopic(p.t.name), err)
		}
	}
	p.settleDLQ(entries, states)
	return entries, nil
}

// settleDLQ computes each entry's attempts and state: an entry another replaces is FAILED_AGAIN; its
// attempts are at least one more than the entry it replaces (whatever its header says).
func (p *pipelineRun) settleDLQ(entries []*deadLetterEntry, states map[string]dlqState) {
	byRef := make(map[string]*deadLetterEntry, len(entries))
	for _, e := range entries {
		byRef[e.ref()] = e
	}
	for _, e := range entries {
		if old, ok := byRef[e.rec.Replaces]; ok {
			old.rec.SupersededBy = e.ref()
		}
	}
	settled := map[*deadLetterEntry]bool{}
	var attempts func(e *deadLetterEntry, depth int) int
	attempts = func(e *deadLetterEntry, depth int) int {
		if settled[e] || depth > len(entries) {
			return e.rec.Attempts
		}
		if old, ok := byRef[e.rec.Replaces]; ok && old != e {
			e.rec.Attempts = max(e.rec.Attempts, attempts(old, depth+1)+1)
		}
		settled[e] = true
		return e.rec.Attempts
	}
	limit := p.dlqMaxAttempts()
	for _, e := range entries {
		attempts(e, 0)
		st, ok := states[e.ref()]
		if ok {
			e.rec.Redrive = st.Redrive
		}
		switch {
		case e.rec.SupersededBy != "":
			e.rec.State = opsapi.DeadLetterFailedAgain
		case ok && st.State == opsapi.DeadLetterDone:
			e.rec.State = opsapi.DeadLetterDone
		case ok && st.State == opsapi.DeadLetterReplaying:
			e.rec.State = opsapi.DeadLetterReplaying
		case e.rec.Attempts >= limit:
			e.rec.State = opsapi.DeadLetterQuarantined
		default:
			e.rec.State = opsapi.DeadLetterPending
		}
	}
}

// newDeadLetterEntry reads a dead letter's lineage from its headers; where a header occurs more than once
// (a redriven record that failed again carries its earlier failure's too) the last one counts.
func newDeadLetterEntry(m *sarama.ConsumerMessage) *deadLetterEntry {
	e := &deadLetterEntry{key: m.Key, value: m.Value, headers: m.Headers, ts: m.Timestamp}
	h := map[string]string{}
	for _, x := range m.Headers {
		if x != nil {
			h[string(x.Key)] = string(x.Value)
		}
	}
	r := &e.rec
	r.Topic, r.Partition, r.Offset, r.Timestamp = m.Topic, m.Partition, m.Offset, m.Timestamp.UTC()
	r.Key, r.KeyEncoding = textOrBase64(m.Key)
	r.Pipeline, r.Flow, r.Source = h[HeaderErrorPipeline], h[HeaderErrorFlow], h[HeaderErrorSource]
	r.Stage, r.Class, r.Reason = h[HeaderErrorStage], h[HeaderErrorClass], h[HeaderErrorReason]
	r.FirstFailure, r.Position = h[HeaderErrorFirstFailure], h[HeaderErrorPosition]
	r.Attempts = 1
	if n, err := strconv.Atoi(h[HeaderErrorAttempts]); err == nil && n > 0 {
		r.Attempts = n
	}
	r.OriginTopic = h[HeaderErrorTopic]
	if n, err := strconv.ParseInt(h[HeaderErrorPartition], 10, 32); err == nil {
		r.OriginPartition = int32(n)
	}
	if n, err := strconv.ParseInt(h[HeaderErrorOffset], 10, 64); err == nil {
		r.OriginOffset = n
	}
	r.Replaces = h[HeaderRedriveOf]
	return e
}

// textOrBase64 is b as text when it is UTF-8, else base64 with encoding "base64".
func textOrBase64(b []byte) (string, string) {
	if b == nil {
		return "", ""
	}
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// readToEnd calls fn with every record of topic, partition by partition, from the oldest offset to the
// end offset as of the call.
func readToEnd(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, fn func(*sarama.ConsumerMessage)) error {
	partitions, err := client.Partitions(topic)
	if err != nil {
		return err
	}
	for _, part := range partitions {
		oldest, err := client.GetOffset(topic, part, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		end, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		if end <= oldest {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, oldest)
		if err != nil {
			return err
		}
		err = func() error {
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return fmt.Errorf("partition %d: read up to offset %d: %w", part, end, ctx.Err())
				case m, ok := <-pc.Messages():
					if !ok {
						return fmt.Errorf("partition %d: closed before offset %d", part, end)
					}
					fn(m)
					if m.Offset+1 >= end {
						return nil
					}
				case cerr, ok := <-pc.Errors():
					if ok {
						return fmt.Errorf("partition %d: %w", part, cerr)
					}
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// matches reports whether e passes f (IncludeQuarantined aside).
func matches(e *deadLetterEntry, f opsapi.DLQFilter) bool {
	r := e.rec
	switch {
	case f.Topic != "" && r.Topic != f.Topic:
		return false
	case f.Stage != "" && r.Stage != f.Stage:
		return false
	case f.Error != "" && !strings.Contains(strings.ToLower(r.Reason), strings.ToLower(f.Error)):
		return false
	case !f.Since.IsZero() && r.Timestamp.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.Timestamp.Before(f.Until):
		return false
	}
	return true
}

// redriveRoutes registers the dead-letter routes of the operator API.
func (p *pipelineRun) redriveRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /pipelines/{name}/dlq", p.serveDLQ)
	mux.HandleFunc("GET /pipelines/{name}/dlq/records", p.serveDLQRecords)
	mux.HandleFunc("POST /pipelines/{name}/dlq/replay", p.serveDLQReplay)
}

// serveDLQ is GET /pipelines/{name}/dlq: the count of every dead-letter topic's records by state, and of
// the open ones (pending, quarantined) by stage and class.
func (p *pipelineRun) serveDLQ(w http.ResponseWriter, r *http.Request) {
	if !p.knownPipeline(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dlqRequestTimeout)
	defer cancel()
	entries, err := p.scanDLQ(ctx)
	if err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "dead letters of pipeline %s: %v", p.t.name, inOwnWords(err))
		return
	}
	out := opsapi.DLQSummary{Pipeline: p.t.name, MaxAttempts: p.dlqMaxAttempts(), Topics: []opsapi.DLQTopicCount{}}
	counts := map[string]*opsapi.DLQTopicCount{}
	for _, topic := range p.deadLetterTopics() {
		counts[topic] = &opsapi.DLQTopicCount{Topic: topic, ByStage: map[string]int{}, ByClass: map[string]int{}}
	}
	for _, e := range entries {
		c := counts[e.rec.Topic]
		c.Records++
		switch e.rec.State {
		case opsapi.DeadLetterPending:
			c.Pending++
		case opsapi.DeadLetterReplaying:
			c.Pending++
			c.Replaying++
		case opsapi.DeadLetterDone:
			c.Done++
		case opsapi.DeadLetterFailedAgain:
			c.FailedAgain++
		case opsapi.DeadLetterQuarantined:
			c.Quarantined++
		}
		if e.rec.State == opsapi.DeadLetterPending || e.rec.State == opsapi.DeadLetterReplaying || e.rec.State == opsapi.DeadLetterQuarantined {
			c.ByStage[e.rec.Stage]++
			c.ByClass[e.rec.Class]++
		}
	}
	for _, topic := range p.deadLetterTopics() {
		out.Topics = append(out.Topics, *counts[topic])
	}
	writeJSON(w, http.StatusOK, out)
}

// dlqFilterFromQuery reads a DLQFilter from GET's query parameters.
func dlqFilterFromQuery(r *http.Request) (opsapi.DLQFilter, error) {
	q := r.URL.Query()
	f := opsapi.DLQFilter{Topic: q.Get("topic"), Stage: q.Get("stage"), Error: q.Get("error")}
	var err error
	for name, at := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			if *at, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return f, fmt.Errorf("%s=%q: want an RFC 3339 time, e.g. 2026-11-30T21:00:00Z", name, v)
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 0 {
			return f, fmt.Errorf("limit=%q: want a number of records (0: no limit)", v)
		}
	}
	return f, nil
}

// serveDLQRecords is GET /pipelines/{name}/dlq/records: the dead letters the filter selects with their
// lineage and key; their values only with ?values=true (the user's data, perhaps sensitive: with tokens
// configured, only an admin token gets them).
func (p *pipelineRun) serveDLQRecords(w http.ResponseWriter, r *http.Request) {
	if !p.knownPipeline(w, r) {
		return
	}
	f, err := dlqFilterFromQuery(r)
	if err != nil {
		writeOpsError(w, http.StatusBadRequest, "dead-letter records: %v", err)
		return
	}
	if err := p.checkDLQTopic(f.Topic); err != nil {
		writeOpsError(w, http.StatusNotFound, "%v", err)
		return
	}
	values := r.URL.Query().Get("values") == "true"
	if c := callerOf(r); values && c.role != "" && c.role != RoleAdmin {
		writeOpsError(w, http.StatusForbidden, "token %q is %s: the records' values (?values=true) are the user's data and need an admin token", c.name, c.role)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dlqRequestTimeout)
	defer cancel()
	entries, err := p.scanDLQ(ctx)
	if err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "dead letters of pipeline %s: %v", p.t.name, inOwnWords(err))
		return
	}
	out := opsapi.DLQRecords{Pipeline: p.t.name, Records: []opsapi.DeadLetterRecord{}}
	for _, e := range entries {
		if !matches(e, f) {
			continue
		}
		rec := e.rec
		if values && e.value != nil {
			v, enc := textOrBase64(e.value)
			rec.Value, rec.ValueEncoding = &v, enc
		}
		out.Records = append(out.Records, rec)
		if f.Limit > 0 && len(out.Records) == f.Limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// checkDLQTopic refuses a topic that is not one of the pipeline's dead-letter topics.
func (p *pipelineRun) checkDLQTopic(topic string) error {
	if topic == "" || slices.Contains(p.deadLetterTopics(), topic) {
		return nil
	}
	return fmt.Errorf("pipeline %s has no dead-letter topic %q (it has %s)", p.t.name, topic, strings.Join(p.deadLetterTopics(), ", "))
}

// replayMu serialises the replays of this process: two replays at once would select the same records.
// Replays on two replicas at the same moment are not serialised (the operator's to avoid).
var replayMu sync.Mutex

// serveDLQReplay is POST /pipelines/{name}/dlq/replay with an opsapi.DLQFilter body: it re-injects the
// PENDING dead letters the filter selects (QUARANTINED too with include_quarantined) into their flows'
// redrive topics, after marking them REPLAYING, and answers 202 with what it selected.
func (p *pipelineRun) serveDLQReplay(w http.ResponseWriter, r *http.Request) {
	if !p.knownPipeline(w, r) {
		return
	}
	var f opsapi.DLQFilter
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeOpsError(w, http.StatusBadRequest, "replay: reading the request: %v", err)
		return
	}
	if strings.TrimSpace(string(body)) != "" {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeOpsError(w, http.StatusBadRequest, `replay: the body is not a filter {"topic", "stage", "error", "since", "until", "limit", "include_quarantined"}: %v`, err)
			return
		}
	}
	if err := p.checkDLQTopic(f.Topic); err != nil {
		writeOpsError(w, http.StatusNotFound, "replay: %v", err)
		return
	}
	replayMu.Lock()
	defer replayMu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), dlqRequestTimeout)
	defer cancel()
	out, err := p.replay(ctx, f)
	if err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "replay of dead letters of pipeline %s: %v", p.t.name, inOwnWords(err))
		return
	}
	writeJSON(w, http.StatusAccepted, out)
}

// replay selects the dead letters f names and re-injects them.
func (p *pipelineRun) replay(ctx context.Context, f opsapi.DLQFilter) (opsapi.DLQReplay, error) {
	out := opsapi.DLQReplay{Pipeline: p.t.name, ID: newRedriveID(), Started: time.Now().UTC(),
		Records: []opsapi.DeadLetterRecord{}, Skipped: map[string]int{}}
	entries, err := p.scanDLQ(ctx)
	if err != nil {
		return out, err
	}
	flows := p.redrivableFlows()
	var selected []*deadLetterEntry
	for _, e := range entries {
		if !matches(e, f) {
			continue
		}
		switch e.rec.State {
		case opsapi.DeadLetterDone, opsapi.DeadLetterFailedAgain:
			continue
		case opsapi.DeadLetterReplaying:
			out.Skipped["replaying"]++
			continue
		case opsapi.DeadLetterQuarantined:
			if !f.IncludeQuarantined {
				out.Skipped["quarantined"]++
				continue
			}
		}
		if !p.redrivable(e, flows) {
			out.Skipped["not_redrivable"]++
			continue
		}
		if f.Limit > 0 && len(selected) == f.Limit {
			break
		}
		selected = append(selected, e)
	}
	if len(selected) == 0 {
		return out, nil
	}
	refs, ids := make([]string, len(selected)), make([]string, len(selected))
	for i, e := range selected {
		refs[i], ids[i] = e.ref(), out.ID
	}
	pr, err := p.redriveProducer(ctx)
	if err != nil {
		return out, err
	}
	defer pr.Close()
	if err := p.writeDLQStates(ctx, pr, refs, ids, opsapi.DeadLetterReplaying); err != nil {
		return out, err
	}
	var toFlows []kafka.Message
	state := map[*deadLetterEntry]string{}
	for _, e := range selected {
		if e.rec.Flow != "" {
			toFlows = append(toFlows, redriveMessage(redriveTopic(p.t.name, e.rec.Flow), e, out.ID))
			state[e] = opsapi.DeadLetterReplaying
			continue
		}
		st, err := p.redriveSourceRecord(ctx, pr, e, out.ID) // before Kafka: here and now
		if err != nil {
			return out, err
		}
		state[e] = st
	}
	if err := sendAll(ctx, pr, toFlows); err != nil {
		return out, fmt.Errorf("re-inject dead letters into their flows: %w", err)
	}
	for _, e := range selected {
		rec := e.rec
		rec.State, rec.Redrive = state[e], out.ID
		out.Records = append(out.Records, rec)
	}
	out.Selected = len(selected)
	p.log.Info("dead letters re-injected", "redrive", out.ID, "records", out.Selected, "skipped", out.Skipped)
	return out, nil
}

// redrivable reports whether a replay can re-inject e: a flow's dead letter that its sink processor set
// aside (the record was read from the topic that processor reads), or a source's dead letter whose source
// sends to one topic (To) and declares the dead-letter topic's codecs.
func (p *pipelineRun) redrivable(e *deadLetterEntry, flows map[string]*Topic) bool {
	if e.rec.Flow != "" {
		in, ok := flows[e.rec.Flow]
		return ok && e.rec.OriginTopic == in.name
	}
	n := p.sourceNode(e.rec.Source)
	return n != nil && n.to != nil && n.deadLetter != nil && n.deadLetter.name == e.rec.Topic
}

func (p *pipelineRun) sourceNode(name string) *SourceNode {
	for _, n := range p.t.sources {
		if name != "" && n.name == name {
			return n
		}
	}
	return nil
}

// redriveSourceRecord re-injects a source's dead letter where it failed, before Kafka: it decodes it with
// the dead-letter topic's codecs, runs the source's ETL stages, encodes the results for the source's topic
// and produces them; once Kafka acknowledged them the dead letter is DONE. A record that fails again (a
// stage, the encoding, the topic's size limit) goes to the dead-letter topic again, replacing this one,
// with its attempts raised (FAILED_AGAIN). It returns the dead letter's new state; an error only when Kafka
// did not take what it sent.
func (p *pipelineRun) redriveSourceRecord(ctx context.Context, pr *kafka.Producer, e *deadLetterEntry, id string) (string, error) {
	n := p.sourceNode(e.rec.Source)
	dlTopic := p.topics[n.deadLetter.name]
	rec := stream.Record{Timestamp: e.ts, Position: stream.Position(e.rec.Position)}
	for _, h := range e.headers {
		if h != nil && !isLineageHeader(string(h.Key)) {
			rec.Headers = append(rec.Headers, stream.Header{Key: string(h.Key), Value: h.Value})
		}
	}
	var msgs []kafka.Message
	stage := StageDecode
	var err error
	if e.key != nil {
		rec.KeySchema, rec.Key, err = dlTopic.keyCodec.Decode(e.key)
	}
	if err == nil && e.value != nil {
		rec.ValueSchema, rec.Value, err = dlTopic.valueCodec.Decode(e.value)
	}
	if err == nil {
		var out []stream.Record
		if out, err = p.redriveStageChain(n).run(ctx, rec); err != nil {
			stage = stageOf(err)
		}
		for _, o := range out {
			if o.Topic == "" {
				o.Topic = n.to.name
			}
			msg, encErr := p.encode(o, o.Topic)
			if encErr != nil {
				err, stage = encErr, "encode"
				break
			}
			if size, limit := kafka.MessageBytes(msg), p.recordLimit(msg.Topic); size > limit {
				err, stage = &recordTooLargeError{topic: msg.Topic, size: size, limit: limit}, StageProduce
				break
			}
			msgs = append(msgs, msg)
		}
	}
	if err != nil {
		d := deadLetter{msg: redriveMessage(n.deadLetter.name, e, id), reason: err, stage: stage, source: n.name,
			position: []byte(e.rec.Position), pipeline: p.t.name}
		if serr := sendAll(ctx, pr, []kafka.Message{deadLetterMessage(d)}); serr != nil {
			return "", fmt.Errorf("dead letter %s failed again and cannot go to %s: %w", e.ref(), n.deadLetter.name, serr)
		}
		p.deadLettered(d)
		return opsapi.DeadLetterFailedAgain, nil
	}
	if err := sendAll(ctx, pr, msgs); err != nil {
		return "", fmt.Errorf("re-inject dead letter %s into topic %s: %w", e.ref(), n.to.name, err)
	}
	if err := p.writeDLQStates(ctx, pr, []string{e.ref()}, []string{id}, opsapi.DeadLetterDone); err != nil {
		return "", err
	}
	return opsapi.DeadLetterDone, nil
}

// redriveStageChain is the source's ETL stages for a replay: the same stage values the source's tasks run
// (opened with the pipeline), counted in the same metrics.
func (p *pipelineRun) redriveStageChain(n *SourceNode) stageChain {
	chain := make(stageChain, len(n.stages))
	for i, s := range n.stages {
		chain[i] = chainedStage{stage: s, log: p.log}
		chain[i].in, chain[i].out = p.stageCounters(stageScope{source: n.name}, s.Name())
	}
	return chain
}

// sendAll produces msgs and waits for every acknowledgement or ctx's end.
func sendAll(ctx context.Context, pr *kafka.Producer, msgs []kafka.Message) error {
	acks := make(chan error, len(msgs))
	for _, m := range msgs {
		if err := pr.Send(ctx, m, func(_ int32, _ int64, err error) { acks <- err }); err != nil {
			return err
		}
	}
	for range msgs {
		select {
		case err := <-acks:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// redriveProducer connects a producer for one replay, within StartupTimeout.
func (p *pipelineRun) redriveProducer(ctx context.Context) (*kafka.Producer, error) {
	cfg := p.saramaConfig("sluice-redrive")
	cfg.Producer.MaxMessageBytes = kafka.DeadLetterMaxMessageBytes
	return kafka.Within(ctx, p.cfg.StartupTimeout, p.brokers, "a producer's metadata request",
		func() (*kafka.Producer, error) { return kafka.NewProducer(p.brokers, cfg) },
		func(pr *kafka.Producer) { _ = pr.Close() })
}

// redriveMessage is the message that re-injects e into topic: its key, value and timestamp, its headers
// without the failure's (but with its first failure and attempts), and the redrive headers.
func redriveMessage(topic string, e *deadLetterEntry, id string) kafka.Message {
	msg := kafka.Message{Topic: topic, Key: e.key, Value: e.value, Timestamp: e.ts}
	var firstFailure []byte
	for _, h := range e.headers {
		if h == nil {
			continue
		}
		switch k := string(h.Key); {
		case k == HeaderErrorFirstFailure:
			firstFailure = h.Value
		case isLineageHeader(k): // HeaderErrorAttempts too: the computed count follows
		default:
			msg.Headers = append(msg.Headers, *h)
		}
	}
	add := func(k string, v []byte) {
		if v != nil {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: v})
		}
	}
	add(HeaderErrorFirstFailure, firstFailure)
	add(HeaderErrorAttempts, []byte(strconv.Itoa(e.rec.Attempts)))
	add(HeaderRedriveOf, []byte(e.ref()))
	if e.rec.OriginTopic != "" { // a flow's record; a source's has its position
		add(HeaderRedriveOrigin, []byte(formatRecordRef(e.rec.OriginTopic, e.rec.OriginPartition, e.rec.OriginOffset)))
	}
	add(HeaderRedriveID, []byte(id))
	return msg
}

// newRedriveID is a replay's id: its start time and 4 random bytes.
func newRedriveID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
