package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/sinks"
)

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
		return pf
	}
	if err != nil {
		if pf := p.processingFailed(); pf != nil {
			return pf
		}
	}
	return err
}

// batchSpan names the Kafka records of a sink batch as topic/partition@first-last offset, one entry per
// partition in order of first appearance ("orders/0@120-129, orders/1@88").
func batchSpan(items []sinkItem) string {
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
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = fmt.Sprintf("%s/%d@%d", s.topic, s.partition, s.first)
		if s.last != s.first {
			parts[i] += fmt.Sprintf("-%d", s.last)
		}
	}
	return strings.Join(parts, ", ")
}

// rejectionError describes the rejections of a flow without a dead-letter topic: the first rejected record
// as topic/partition@offset with the sink's headers about it (the document's index and id, say), its
// reason, and how many more were rejected. It unwraps to err, so errors.As still finds rej.
func rejectionError(err error, rej *sinks.RejectedError, items []sinkItem, owners []int) error {
	if len(rej.Rejections) == 0 {
		return err
	}
	first := rej.Rejections[0]
	var b strings.Builder
	b.WriteString("rejected ")
	if first.Index >= 0 && first.Index < len(owners) {
		o := items[owners[first.Index]].origin
		fmt.Fprintf(&b, "%s/%d@%d", o.topic, o.partition, o.offset)
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
	if more := len(rej.Rejections) - 1; more > 0 {
		fmt.Fprintf(&b, "; %d more records of the batch rejected", more)
	}
	b.WriteString(" (give the flow a dead-letter topic to set rejected records aside)")
	return &describedError{text: b.String(), err: err}
}

// describedError replaces the text of err, which it wraps.
type describedError struct {
	text string
	err  error
}

func (e *describedError) Error() string { return e.text }
func (e *describedError) Unwrap() error { return e.err }
