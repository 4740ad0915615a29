package topology

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/stream"
)

// Lineage of a dead letter: besides where it failed (deadLetterMessage), every dead letter says which
// pipeline set it aside (HeaderErrorPipeline), what kind of failure it was (HeaderErrorClass), when the
// record first failed (HeaderErrorFirstFailure) and how many times it has failed (HeaderErrorAttempts).
// A record that arrives with lineage headers of an earlier failure (a redriven dead letter) keeps its first
// failure time and has its attempts raised by one; the other sluice.errors.* headers of the earlier failure
// are replaced by this failure's, so a dead letter holds one set of them.
//
// The reason (HeaderErrorReason, and the log line of every dead letter) holds neither a connection's secret
// (secret.Redact: DSN and URL passwords, registered secrets) nor the record's value: a quoted fragment of
// the reason (between two ', " or ` characters) of at least minWithheldFragment bytes that occurs in the
// record's value, such as Elasticsearch's "Preview of field's value: '...'" or a stage's
// fmt.Errorf("status %q", v), is replaced by withheldValue. Kept are fragments that are part of the record's
// key (a document id) or of the failing stage's, flow's or source's name, and JSON member names: they say
// which record failed where, as errors should. A JSON value's strings of at least minUnquotedFragment
// bytes are withheld unquoted too (a stage's fmt.Errorf("bad record %v", value)).

// withheldValue replaces, in a dead letter's reason, a quoted fragment of the record's value.
const withheldValue = "…"

// minWithheldFragment is the shortest quoted fragment of a reason that is withheld when the record's value
// contains it: shorter ones (a decoder's "invalid character 'x'") say nothing of the value worth hiding
// and occur in most values by chance.
const minWithheldFragment = 4

// maxReasonQuotes bounds the quote characters of a reason that are paired up when looking for fragments
// of the value, and quoteWindow how far apart two paired quotes may be ('it's' holds one inside): each
// pair costs a scan of the value (about 1 ms per 16 MiB).
const (
	maxReasonQuotes = 64
	quoteWindow     = 3
)

// classedError is a failure that says its HeaderErrorClass (e.g. an encoding refused by a topic sink).
type classedError struct {
	class string
	err   error
}

func (e *classedError) Error() string { return e.err.Error() }
func (e *classedError) Unwrap() error { return e.err }

// withClass marks err as a failure of class (one of the ErrorClass values) for HeaderErrorClass.
func withClass(class string, err error) error {
	if err == nil {
		return nil
	}
	return &classedError{class: class, err: err}
}

// errorClass is d's HeaderErrorClass: the class d was given or its reason carries (withClass), else the
// class its stage and reason imply: StageDecode decode, "encode" encode, StageProduce (or a record too
// large for its topic) oversize, StageSink rejected, any other stage name stage.
func errorClass(d deadLetter) string {
	if d.class != "" {
		return d.class
	}
	var ce *classedError
	if errors.As(d.reason, &ce) {
		return ce.class
	}
	var tooLarge *recordTooLargeError
	switch {
	case errors.As(d.reason, &tooLarge) || d.stage == StageProduce:
		return ErrorClassOversize
	case d.stage == StageDecode:
		return ErrorClassDecode
	case d.stage == "encode":
		return ErrorClassEncode
	case d.stage == StageSink:
		return ErrorClassRejected
	}
	return ErrorClassStage
}

// priorLineage reads the lineage headers a record carries from an earlier failure: its first failure time
// and attempts (0 when it carries none, or an unreadable count).
func priorLineage(headers []sarama.RecordHeader) (firstFailure string, attempts int) {
	for _, h := range headers {
		switch string(h.Key) {
		case HeaderErrorFirstFailure:
			if _, err := time.Parse(time.RFC3339Nano, string(h.Value)); err == nil {
				firstFailure = string(h.Value)
			}
		case HeaderErrorAttempts:
			if n, err := strconv.Atoi(string(h.Value)); err == nil && n > 0 {
				attempts = n
			}
		}
	}
	return firstFailure, attempts
}

// lineageHeaders are the HeaderErrorPipeline, HeaderErrorClass, HeaderErrorFirstFailure and
// HeaderErrorAttempts headers of d, failing at now.
func lineageHeaders(d deadLetter, now time.Time) []sarama.RecordHeader {
	first, attempts := priorLineage(d.msg.Headers)
	if first == "" {
		first = formatFailureTime(now)
	}
	h := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	return []sarama.RecordHeader{
		h(HeaderErrorPipeline, d.pipeline),
		h(HeaderErrorClass, errorClass(d)),
		h(HeaderErrorFirstFailure, first),
		h(HeaderErrorAttempts, strconv.Itoa(attempts+1)),
	}
}

// formatFailureTime writes t as HeaderErrorFirstFailure holds it: RFC 3339, UTC, milliseconds.
func formatFailureTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// ownHeaders are a record's headers without the sluice.errors.* headers of an earlier failure.
func ownHeaders(headers []sarama.RecordHeader) []sarama.RecordHeader {
	out := make([]sarama.RecordHeader, 0, len(headers))
	for _, h := range headers {
		if !bytes.HasPrefix(h.Key, []byte("sluice.errors.")) {
			out = append(out, h)
		}
	}
	return out
}

// reasonText is d's reason as a dead letter's header and log line say it: without secrets and without
// fragments of the record's value (see the lineage notes above).
func reasonText(d deadLetter) string {
	return withholdValue(secret.Redact(d.reason.Error()), d.msg.Value, string(d.msg.Key), d.stage, d.flow, d.source)
}

// extraHeaders are the headers a sink added to a rejected record (e.g. the index and document id), with
// their values redacted.
func extraHeaders(extra []stream.Header) []sarama.RecordHeader {
	out := make([]sarama.RecordHeader, 0, len(extra))
	for _, h := range extra {
		out = append(out, sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(secret.Redact(string(h.Value)))})
	}
	return out
}

// withholdValue replaces each quoted fragment of reason (between two equal quote characters, ' " or `, at
// most quoteWindow quotes apart: "value 'it's'" holds the fragment it's) of at least
// minWithheldFragment bytes that occurs in value by withheldValue, longest first. A fragment that is part of
// one of names (the record's key, the stage, flow or source) is kept: those name the record and where it
// failed, as errors should; so is a field name (one that occurs in value only as a JSON member name).
func withholdValue(reason string, value []byte, names ...string) string {
	if len(value) < minWithheldFragment {
		return reason
	}
	for _, q := range []byte{'\'', '"', '`'} {
		var at []int
		for i := 0; i < len(reason) && len(at) < maxReasonQuotes; i++ {
			if reason[i] == q {
				at = append(at, i)
			}
		}
		var found []string
		for a := 0; a < len(at); a++ {
			for b := min(a+quoteWindow, len(at)-1); b > a; b-- { // the longest fragment from at[a] first
				frag := reason[at[a]+1 : at[b]]
				if len(frag) >= minWithheldFragment && inValue(value, []byte(frag)) && !partOfAny(names, frag) {
					found = append(found, frag)
					break
				}
			}
		}
		sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
		for _, frag := range found {
			reason = strings.ReplaceAll(reason, frag, withheldValue)
		}
	}
	// Unquoted, as fmt's %v prints a map or struct: the value's JSON strings.
	var found []string
	for _, text := range jsonStrings(value) {
		if len(text) >= minUnquotedFragment && strings.Contains(reason, text) && !partOfAny(names, text) {
			found = append(found, text)
		}
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	for _, text := range found {
		reason = strings.ReplaceAll(reason, text, withheldValue)
	}
	return reason
}

// minUnquotedFragment is the shortest string of a JSON value that is withheld wherever it occurs in a
// reason, quoted or not: shorter ones are too likely to be words of the error itself ("long", "string").
const minUnquotedFragment = 8

// maxJSONValue bounds the values whose JSON strings are looked for in a reason unquoted.
const maxJSONValue = 1 << 20

// jsonStrings are the strings of value, if it is JSON (a json-schema envelope's payload only: its schema
// holds names and types), at most maxJSONValue bytes; object member names are not among them.
func jsonStrings(value []byte) []string {
	if len(value) > maxJSONValue || !json.Valid(value) {
		return nil
	}
	var v any
	if err := json.Unmarshal(value, &v); err != nil {
		return nil
	}
	if m, ok := v.(map[string]any); ok && len(m) == 2 {
		if payload, ok := m["payload"]; ok {
			if _, ok := m["schema"]; ok {
				v = payload
			}
		}
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// partOfAny reports whether frag is part of one of names.
func partOfAny(names []string, frag string) bool {
	for _, n := range names {
		if strings.Contains(n, frag) {
			return true
		}
	}
	return false
}

// inValue reports whether frag occurs in value other than as a JSON member name ("frag":).
func inValue(value, frag []byte) bool {
	for from := 0; ; {
		i := bytes.Index(value[from:], frag)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(frag)
		rest := value[end:]
		isName := start > 0 && value[start-1] == '"' && len(rest) > 0 && rest[0] == '"' &&
			bytes.HasPrefix(bytes.TrimLeft(rest[1:], " \t\r\n"), []byte(":"))
		if !isName {
			return true
		}
		from = start + 1
	}
}
