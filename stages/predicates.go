package stages

import (
	"context"
	"fmt"
	"regexp"

	"github.com/sluicehq/sluice/stream"
)

// invalidStageOptionf reports a bad value of one option of a stage's or predicate's configuration.
func invalidStageOptionf(option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrTransformConfig, option, fmt.Sprintf(format, args...))
}

// wrapStageConfigError names the component whose construction failed in front of err.
func wrapStageConfigError(kind, name string, err error) error {
	if name == "" {
		return fmt.Errorf("stages: %s: %w", kind, err)
	}
	return fmt.Errorf("stages: %s %q: %w", kind, name, err)
}

// Predicate reports whether a record matches, like a Kafka Connect predicate
// (org.apache.kafka.connect.transforms.predicates.Predicate). Predicates select the records a stage applies
// to (When) or the records to drop (FilterWhere); Not negates one, as Connect's "negate" does.
//
// A Predicate must not modify the record and must be safe to call from several goroutines at once.
type Predicate func(r stream.Record) bool

// TopicNameMatches returns a predicate that is true for records whose topic matches pattern as a whole, like
// Connect's TopicNameMatches (Java's Matcher.matches: "orders" does not match "orders-eu" unless the
// pattern says so).
//
// The pattern is Go (RE2) syntax, which accepts the Java regular expressions routing configurations use in
// practice; Java-only constructs (lookaround, backreferences, possessive quantifiers) fail here, at build
// time. A record without a topic ("", which Kafka does not allow as a topic name) never matches, as a null
// topic does not in Connect. An empty or invalid pattern is an error wrapping ErrTransformConfig that
// names "pattern".
func TopicNameMatches(pattern string) (Predicate, error) {
	if pattern == "" {
		return nil, wrapStageConfigError("TopicNameMatches", "", invalidStageOptionf("pattern", "must not be empty"))
	}
	whole, err := predCompileWhole(pattern)
	if err != nil {
		return nil, wrapStageConfigError("TopicNameMatches", "", invalidStageOptionf("pattern", "%v", err))
	}
	return func(r stream.Record) bool { return r.Topic != "" && whole.MatchString(r.Topic) }, nil
}

// predCompileWhole compiles pattern so that it only matches a whole string, as Java's Matcher.matches does.
// The pattern is compiled alone first so that a syntax error quotes the user's pattern, not the wrapper.
func predCompileWhole(pattern string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

// HasHeaderKey returns a predicate that is true for records with at least one header called key, like
// Connect's HasHeaderKey. The header's value does not matter (a nil value counts). An empty key is an error
// wrapping ErrTransformConfig that names "name".
func HasHeaderKey(key string) (Predicate, error) {
	if key == "" {
		return nil, wrapStageConfigError("HasHeaderKey", "", invalidStageOptionf("name", "must not be empty"))
	}
	return func(r stream.Record) bool {
		_, ok := r.Header(key)
		return ok
	}, nil
}

// RecordIsTombstone returns a predicate that is true for tombstones, records whose value is nil, like
// Connect's RecordIsTombstone. The value schema does not matter.
func RecordIsTombstone() Predicate {
	return func(r stream.Record) bool { return r.Value == nil }
}

// Not returns the negation of p, like setting "negate" on a Connect transform's predicate. Not(nil) is nil,
// so that FilterWhere and When report the missing predicate.
func Not(p Predicate) Predicate {
	if p == nil {
		return nil
	}
	return func(r stream.Record) bool { return !p(r) }
}

// FilterWhere makes a stage that drops the records matching drop and passes the others through unchanged,
// like Connect's Filter transform guarded by a predicate (use Not(p) for Connect's negate=true). A nil
// predicate or an empty name is an error.
func FilterWhere(name string, drop Predicate) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError("FilterWhere", name, ErrNoName)
	}
	if drop == nil {
		return nil, wrapStageConfigError("FilterWhere", name, invalidStageOptionf("predicate", "must not be nil"))
	}
	return Filter(name, func(r stream.Record) bool { return !drop(r) }), nil
}

// When makes a stage named name that runs s on the records matching match and passes the others through
// unchanged, like a Connect transform configured with a predicate (use Not(p) for negate=true). Like every
// stage's, its name labels its counters and the errors of its records, so one stage guarded by two
// predicates is counted apart; s's errors keep naming s too. An empty name, a nil predicate or a stage that
// Validate rejects is an error. The engine opens and closes s through it (Opener, Closer).
func When(name string, match Predicate, s Stage) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError("When", name, ErrNoName)
	}
	if err := Validate(s); err != nil {
		return nil, wrapStageConfigError("When", name, err)
	}
	if match == nil {
		return nil, wrapStageConfigError("When", name, invalidStageOptionf("predicate", "must not be nil"))
	}
	return predWhenStage{name: name, match: match, stage: s}, nil
}

type predWhenStage struct {
	name  string
	match Predicate
	stage Stage
}

func (w predWhenStage) Name() string { return w.name }

// Open opens the guarded stage if it is an Opener.
func (w predWhenStage) Open(ctx context.Context) error {
	if o, ok := w.stage.(Opener); ok {
		return o.Open(ctx)
	}
	return nil
}

// Close closes the guarded stage if it is a Closer.
func (w predWhenStage) Close() error {
	if c, ok := w.stage.(Closer); ok {
		return c.Close()
	}
	return nil
}

func (w predWhenStage) Process(ctx context.Context, r stream.Record) ([]stream.Record, error) {
	if !w.match(r) {
		return []stream.Record{r}, nil
	}
	return w.stage.Process(ctx, r)
}
