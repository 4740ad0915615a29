package topology

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lovoo/goka"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
)

// How failures are reported.
//
// Every failure that stops a running pipeline is logged once at error level, where it happened ("flow
// failed" with flow (and stage) attributes, "source task failed", "source failed"), and RunWith returns the
// same text. The text names where it happened and which record, in the user's words:
//   - a stage: flow "index": stage "check": orders/0@17 (key "k17"): <the stage's error>
//   - a codec: flow "index": orders/0@17 (key "k17"): decode value with json: <the codec's error>
//   - a sink: flow "index": sink write of 10 records (orders/0@10-19) to <sink>: <the sink's error>
//   - a source: source "files" task "file:/in.log": read after position {"offset":6}: <the source's error>
//   - Kafka or the engine: flow "index": <the cause's own text>, without goka's or sarama's wrapping.
//
// A record the flow read from a stateful step's output is named as the step's output, with its decoded key:
// flow "index": stage "after": output of step "sum" (partition 0, offset 1) (key "o1"): <the stage's error>
// (a join's loop record: repartitioned input of step "with-customer" (partition 0, offset 2)). Dead letters
// still name the engine's topic in their headers, which an operator needs to redrive them.
//
// A stage inside a stateful stage's input chain (a join's, a Count's) is named itself; the stateful stage is
// named when its own work fails. A keyed stage's failure names the input record its loop record came from
// (the loop record's origin); a join's loop record is named by its loop topic position and record key. A
// stage that panics fails like one that returns an error ("panicked: <value>"; its stack is logged at
// warning level). What goka reports only as text (a write the producer refused, a panic in a callback) says
// the flow, the stage and the key, not the offset.

// processingFailure is a failure of the pipeline's own processing, not of Kafka: a sink write that failed
// for good, a record no stage or codec can handle. Retrying the consumer group cannot help (once one is
// recorded, retryingGroup returns it instead of retrying), and it is logged once, where it happened (see
// failProcessing). goka hands it back once per record and partition (every deferred commit fails with it,
// each partition processor collects them), so the pipeline reports it (reportable) instead of that
// collection.
type processingFailure struct{ err error }

func (f *processingFailure) Error() string { return f.err.Error() }
func (f *processingFailure) Unwrap() error { return f.err }

// failProcessing records err as a processing failure of the pipeline and returns it as one. The first is
// logged at error level with attrs (e.g. "flow", name): the only time it is logged; later ones (other
// partitions or flows failing while the pipeline stops) only at debug level.
func (p *pipelineRun) failProcessing(err error, attrs ...any) *processingFailure {
	pf := &processingFailure{err: err}
	if p.processing.CompareAndSwap(nil, pf) {
		p.log.Error("flow failed", append(attrs, "err", err)...)
	} else {
		p.log.Debug("another processing failure while the pipeline fails", append(attrs, "err", err)...)
	}
	return pf
}

// processingFailed returns the pipeline's first processing failure, nil while there is none.
func (p *pipelineRun) processingFailed() error {
	if pf := p.processing.Load(); pf != nil {
		return pf
	}
	return nil
}

// reportable is what the pipeline reports for a processor's error: the processingFailure inside it (goka's
// multi-errors included), else the pipeline's recorded processing failure when goka kept only its text (a
// failure raised with goka.Context.Fail comes back as the text of a panic, with a stack trace), else err.
func (p *pipelineRun) reportable(err error) error {
	var pf *processingFailure
	if errors.As(err, &pf) {
		return p.processingFailed() // the first: the one that was logged
	}
	if err != nil {
		if pf := p.processingFailed(); pf != nil {
			return pf
		}
	}
	return err
}

// batchSpan names the Kafka records of a sink batch, which the flow read from topic from, as
// topic/partition@first-last offset, one entry per partition in order of first appearance ("orders/0@120-129,
// orders/1@88"); records of a stateful step's output topic as the step's output (`output of step "count"
// (partition 0, offsets 120-129; partition 1, offset 88)`).
func batchSpan(items []sinkItem, from *Topic) string {
	type span struct {
		topic       string
		partition   int32
		first, last int64
	}
	var spans []span
	for _, it := range items {
		o := it.origin
		i := slices.IndexFunc(spans, func(s span) bool { return s.topic == o.topic && s.partition == o.partition })
		if i < 0 {
			spans = append(spans, span{topic: o.topic, partition: o.partition, first: o.offset, last: o.offset})
			continue
		}
		spans[i].first, spans[i].last = min(spans[i].first, o.offset), max(spans[i].last, o.offset)
	}
	if about := stepOutputAbout(from); about != "" && !slices.ContainsFunc(spans, func(s span) bool { return s.topic != from.name }) {
		parts := make([]string, len(spans))
		for i, s := range spans {
			parts[i] = fmt.Sprintf("partition %d, offset %d", s.partition, s.first)
			if s.last != s.first {
				parts[i] = fmt.Sprintf("partition %d, offsets %d-%d", s.partition, s.first, s.last)
			}
		}
		return about + " (" + strings.Join(parts, "; ") + ")"
	}
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = fmt.Sprintf("%s/%d@%d", s.topic, s.partition, s.first)
		if s.last != s.first {
			parts[i] += fmt.Sprintf("-%d", s.last)
		}
	}
	return strings.Join(parts, ", ")
}

// countRecords says how many records: "1 record", "10 records".
func countRecords(n int) string {
	if n == 1 {
		return "1 record"
	}
	return fmt.Sprintf("%d records", n)
}

// rejectionError describes the rejections of a flow without a dead-letter topic: the first rejected record
// as topic/partition@offset with the sink's headers about it (the document's index and id, say), its
// reason, and how many more were rejected. A record of a stateful step's output topic (from) is named as the
// step's output. It unwraps to err, so errors.As still finds rej.
func rejectionError(err error, rej *sinks.RejectedError, items []sinkItem, owners []int, from *Topic) error {
	if len(rej.Rejections) == 0 {
		return err
	}
	first := rej.Rejections[0]
	var b strings.Builder
	b.WriteString("rejected ")
	if first.Index >= 0 && first.Index < len(owners) {
		o := items[owners[first.Index]].origin
		rec := recordRef{topic: o.topic, partition: o.partition, offset: o.offset}
		if from != nil && o.topic == from.name {
			rec.about = stepOutputAbout(from)
		}
		b.WriteString(rec.String())
	} else {
		fmt.Fprintf(&b, "record %d of the batch", first.Index)
	}
	if len(first.Headers) > 0 {
		described := make([]string, len(first.Headers))
		for i, h := range first.Headers {
			described[i] = strings.TrimPrefix(h.Key, "sluice.errors.") + "=" + string(h.Value)
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(described, ", "))
	}
	fmt.Fprintf(&b, ": %v", first.Reason)
	if more := len(rej.Rejections) - 1; more == 1 {
		b.WriteString("; 1 more record of the batch rejected")
	} else if more > 1 {
		fmt.Fprintf(&b, "; %d more records of the batch rejected", more)
	}
	b.WriteString(" (give the flow a dead-letter topic to set rejected records aside)")
	// errors.Is sees the first rejection's reason too (stream.ErrIncompatibleSchema, say).
	return &describedError{text: b.String(), err: errors.Join(err, first.Reason)}
}

// describedError replaces the text of err, which it wraps.
type describedError struct {
	text string
	err  error
}

func (e *describedError) Error() string { return e.text }
func (e *describedError) Unwrap() error { return e.err }

// loggedError is a failure that RunWith logged at error level before returning it.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

// Logged reports whether err is (or wraps) a failure of a running pipeline that RunWith already logged at
// error level, with the same text, where it happened. A program whose log goes to the same place as its
// own error output need not print it again; errors of the start-up (a bad configuration, Kafka not
// answering) are not logged by RunWith and Logged reports false for them.
func Logged(err error) bool {
	var l *loggedError
	return errors.As(err, &l)
}

// recordRef names a consumed Kafka record in failures: topic/partition@offset and its key when printable.
// A record of a topic the engine derives (a stateful step's output or loop topic) is named by what it is
// instead ("about"); dead letters still name its topic (topic is kept), which an operator needs to redrive.
type recordRef struct {
	topic     string
	partition int32
	offset    int64
	key       string
	about     string // e.g. `output of step "with-customer"`: said instead of topic; "" for a declared topic
}

// recordOf names the record a goka callback is handling.
func recordOf(ctx goka.Context) recordRef {
	return recordRef{topic: string(ctx.Topic()), partition: ctx.Partition(), offset: ctx.Offset(), key: ctx.Key()}
}

// recordIn names the record a goka callback is handling, which it read from tp: a record of a stateful
// step's output topic is named as the step's output, with its key decoded by the topic's key codec and said
// as stream.KeyString says it (a keyed step's output keys are json-schema envelopes in Kafka).
func recordIn(ctx goka.Context, tp *Topic) recordRef {
	rec := recordOf(ctx)
	if tp == nil || tp.step == "" || rec.topic != tp.name {
		return rec
	}
	rec.about = stepOutputAbout(tp)
	if rec.key != "" && tp.keyCodec != nil {
		if _, k, err := tp.keyCodec.Decode([]byte(rec.key)); err == nil {
			if ks, err := stream.KeyString(k); err == nil {
				rec.key = ks
			}
		}
	}
	return rec
}

// stepOutputAbout says what tp is for a failure's text when it is a stateful step's output topic
// (`output of step "with-customer"`), "" for any other topic.
func stepOutputAbout(tp *Topic) string {
	if tp == nil || tp.step == "" {
		return ""
	}
	return fmt.Sprintf("output of step %q", tp.step)
}

// String is topic/partition@offset, followed by (key "K") when the key is printable text: orders/0@17 (key
// "k17"); a record of a topic the engine derives says what the topic is: output of step "with-customer"
// (partition 0, offset 17) (key "k17").
func (r recordRef) String() string {
	s := fmt.Sprintf("%s/%d@%d", r.topic, r.partition, r.offset)
	if r.about != "" {
		s = fmt.Sprintf("%s (partition %d, offset %d)", r.about, r.partition, r.offset)
	}
	if k, ok := printableKey(r.key); ok {
		s += " (key " + k + ")"
	}
	return s
}

// maxKeyShown is the longest key shown in a failure; longer ones are cut.
const maxKeyShown = 120

// printableKey quotes key for a failure message when it is non-empty UTF-8 text without control characters
// (binary keys say nothing to a reader), cut to maxKeyShown characters.
func printableKey(key string) (string, bool) {
	if key == "" || !utf8.ValidString(key) {
		return "", false
	}
	for _, c := range key {
		if !unicode.IsPrint(c) && c != ' ' {
			return "", false
		}
	}
	if utf8.RuneCountInString(key) > maxKeyShown {
		return fmt.Sprintf("%q...", string([]rune(key)[:maxKeyShown])), true
	}
	return fmt.Sprintf("%q", key), true
}

// recordFailure describes err, raised while a flow handled rec, as RunWith returns it and the log shows it.
// stage names the stage at work; a stageError inside err names the stage that actually failed instead (a
// stage of a stateful stage's input chain), and its text is not repeated. stage may be empty (a flow's
// decoding). The result unwraps to err.
//
//	flow "index": stage "check": orders/0@17 (key "k17"): n must be positive
func recordFailure(flow, stage string, rec recordRef, err error) error {
	cause := err
	if se, ok := err.(*stageError); ok {
		stage, cause = se.stage, se.err
	}
	text := fmt.Sprintf("flow %q: ", flow)
	if stage != "" {
		text += fmt.Sprintf("stage %q: ", stage)
	}
	// A cause that names the record's position itself (a join's decoding) or its stage (the typed stages'
	// and Map's errors, which name it for callers outside a topology) does not say it twice.
	said := strings.TrimPrefix(cause.Error(), fmt.Sprintf("%s/%d@%d: ", rec.topic, rec.partition, rec.offset))
	if rec.about != "" {
		said = strings.TrimPrefix(said, fmt.Sprintf("%s (partition %d, offset %d): ", rec.about, rec.partition, rec.offset))
	}
	if stage != "" {
		said = strings.TrimPrefix(said, fmt.Sprintf("stage %q: ", stage))
	}
	said = strings.TrimPrefix(said, fmt.Sprintf("key %q: ", rec.key)) // a keyed stage's own messages name the key
	text += rec.String() + ": " + said
	return &describedError{text: text, err: err}
}

// failRecord records and logs (once, see failProcessing) the failure of a flow's stage on rec, as
// recordFailure describes it, and returns it. Joins and keyed stages raise their failures through it.
func (p *pipelineRun) failRecord(flow, stage string, rec recordRef, err error) *processingFailure {
	f := recordFailure(flow, stage, rec, err)
	if se, ok := err.(*stageError); ok {
		stage = se.stage
	}
	attrs := []any{"flow", flow}
	if stage != "" {
		attrs = append(attrs, "stage", stage)
	}
	return p.failProcessing(f, attrs...)
}

// engineWrapping matches what goka, sarama and hashicorp's multierror put around a cause. Each match is
// replaced by the template next to it.
var engineWrapping = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`error consuming from group consumer: `), ""},
	{regexp.MustCompile(`error processing message \(partition=\d+\): `), ""},
	{regexp.MustCompile(`(?:a)?synchronous error (?:from|in) callback: `), ""},
	{regexp.MustCompile(`could not commit message with key '([^']*)': `), "record with key \"$1\": "},
	{regexp.MustCompile(`error decoding message for key (.*?) from (\S+?)/(\d+): `), "cannot decode a record with key \"$1\" from $2/$3: "},
	{regexp.MustCompile(`(?i)error setting up \(partition=\d+\): `), ""},
	{regexp.MustCompile(`(?i)error closing consumer group: `), ""},
	{regexp.MustCompile(`(?s)panic in callback: ([^\n]*).*`), "panicked: $1"},
	{regexp.MustCompile(`(?s)panic in visit: ([^\n]*).*`), "panicked: $1"},
	{regexp.MustCompile(`error emitting to \S+?: `), ""}, // sarama's text that follows names the topic
	{regexp.MustCompile(`Failed to produce message to topic (\S+?): `), "cannot write to topic $1: "},
	{regexp.MustCompile(`invalid configuration \(Attempt to produce message larger than configured Producer.MaxMessageBytes: (\d+) > (\d+)\)`),
		"the message has $1 bytes, more than the $2 the producer takes"},
	{regexp.MustCompile(`(^|: |; )kafka(?: server)?: `), "$1"},
	// a multierror kept only as text (wrapped with %v)
	{regexp.MustCompile(`\d+ errors? occurred:\n\t\* `), ""},
	{regexp.MustCompile(`\n\t\* `), "; "},
	{regexp.MustCompile(`(^|: |; )kafka(?: server)?: `), "$1"}, // again, inside a multierror's list
}

// withoutEngineWording takes goka's, sarama's and multierror's wrapping out of an error's text.
func withoutEngineWording(text string) string {
	for _, w := range engineWrapping {
		text = w.re.ReplaceAllString(text, w.with)
	}
	return strings.TrimSpace(text)
}

// inOwnWords is err with its text said without goka's or sarama's wording (withoutEngineWording); it
// unwraps to err.
func inOwnWords(err error) error {
	if err == nil {
		return nil
	}
	if text := withoutEngineWording(err.Error()); text != err.Error() {
		return &describedError{text: text, err: err}
	}
	return err
}

// engineFailure describes a processor's error that is not a processing failure of the pipeline (Kafka gone
// for longer than RetryTimeout, a write goka could not make) as RunWith returns it: where (e.g. `flow
// "index"`), then the cause's own text without goka's, sarama's or multierror's wrapping; several causes
// (one per partition) are said once each. It unwraps to err.
func engineFailure(where string, err error) error {
	var causes []string
	var collect func(error)
	collect = func(e error) {
		// hashicorp/multierror, as goka collects one error per partition
		if m, ok := e.(interface{ WrappedErrors() []error }); ok {
			for _, x := range m.WrappedErrors() {
				collect(x)
			}
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				collect(x)
			}
			return
		}
		if text := withoutEngineWording(e.Error()); text != "" && !slices.Contains(causes, text) {
			causes = append(causes, text)
		}
	}
	collect(err)
	if len(causes) == 0 {
		causes = append(causes, "stopped")
	}
	return &describedError{text: where + ": " + strings.Join(causes, "; "), err: err}
}

// refusedRecord records a record that Kafka or the producer refused for what it is (too large, invalid),
// which goka reports as its group's error, as a processing failure of the unit that runs group: sending it
// again would fail again, so it is not retried as a Kafka outage. It returns the failure.
func (p *pipelineRun) refusedRecord(group string, err error) error {
	u, ok := p.units[group]
	if !ok {
		u = unit{where: fmt.Sprintf("consumer group %q", group), failed: "flow failed", attrs: []any{"group", group}}
	}
	return p.failProcessing(engineFailure(u.where, err), u.attrs...)
}
