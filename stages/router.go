package stages

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// ErrNoTimestamp is returned by TimestampRouter for a record whose Timestamp is the zero time.Time, as
// Connect's TimestampRouter fails with "Timestamp missing on record".
var ErrNoTimestamp = errors.New("stages: record has no timestamp")

// RegexRouter makes a stage that renames each record's topic, like Connect's RegexRouter: when regex
// matches the whole topic, the topic becomes the result of Java's Matcher.replaceFirst(replacement);
// records whose topic does not match pass through unchanged. Only Record.Topic changes.
//
// The regex is Go (RE2) syntax, which covers the Java regular expressions used for topic routing in
// practice ("(.*)-(\d{8})", "(?<db>[^.]+)\.(?<table>.+)"); Java-only constructs (lookaround,
// backreferences, possessive quantifiers) are rejected here at build time. The replacement follows Java's
// rules, not Go's: $1 to $9 and longer numbers while such a group exists ("$12" is group 12 only if the
// regex has 12 groups, else group 1 then "2"), ${name} for a named group, a backslash escapes the next
// character ("\$" is a dollar sign), and a group that did not take part in the match inserts nothing.
//
// Errors wrap ErrTransformConfig and name the option: an empty or invalid regex, or a replacement that
// refers to a group the regex does not have (which Java only reports when a topic first matches).
func RegexRouter(name, regex, replacement string) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError("RegexRouter", name, ErrNoName)
	}
	if regex == "" {
		return nil, wrapStageConfigError("RegexRouter", name, invalidStageOptionf("regex", "must not be empty"))
	}
	first, err := regexp.Compile(regex)
	if err != nil {
		return nil, wrapStageConfigError("RegexRouter", name, invalidStageOptionf("regex", "%v", err))
	}
	whole, err := predCompileWhole(regex)
	if err != nil {
		return nil, wrapStageConfigError("RegexRouter", name, invalidStageOptionf("regex", "%v", err))
	}
	parts, err := routeParseJavaReplacement(replacement, first)
	if err != nil {
		return nil, wrapStageConfigError("RegexRouter", name, invalidStageOptionf("replacement", "%v", err))
	}
	return keepsShape(Map(name, func(r stream.Record) (stream.Record, error) {
		if !whole.MatchString(r.Topic) {
			return r, nil
		}
		// Java's replaceFirst after matches() searches again from the start: for "a|ab" on "ab" it replaces
		// "a", the leftmost-first match, which Go's (Perl-like) leftmost-first search also finds.
		loc := first.FindStringSubmatchIndex(r.Topic)
		var b strings.Builder
		b.WriteString(r.Topic[:loc[0]])
		for _, p := range parts {
			if p.group < 0 {
				b.WriteString(p.literal)
			} else if start, end := loc[2*p.group], loc[2*p.group+1]; start >= 0 {
				b.WriteString(r.Topic[start:end])
			}
		}
		b.WriteString(r.Topic[loc[1]:])
		r.Topic = b.String()
		return r, nil
	})), nil
}

// routeReplacementPart is literal text (group < 0) or a reference to a capturing group.
type routeReplacementPart struct {
	literal string
	group   int
}

// routeParseJavaReplacement splits a java.util.regex.Matcher replacement string into literals and group
// references, with the errors Java raises, checked against re's groups.
func routeParseJavaReplacement(repl string, re *regexp.Regexp) ([]routeReplacementPart, error) {
	var parts []routeReplacementPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, routeReplacementPart{literal: lit.String(), group: -1})
			lit.Reset()
		}
	}
	groups := re.NumSubexp()
	for i := 0; i < len(repl); {
		switch c := repl[i]; c {
		case '\\':
			if i+1 == len(repl) {
				return nil, errors.New("character to be escaped is missing")
			}
			lit.WriteByte(repl[i+1])
			i += 2
		case '$':
			i++
			if i == len(repl) {
				return nil, errors.New("illegal group reference: group index is missing")
			}
			var ref int
			if repl[i] == '{' {
				j := i + 1
				for j < len(repl) && routeIsASCIIAlnum(repl[j]) {
					j++
				}
				gname := repl[i+1 : j]
				switch {
				case gname == "":
					return nil, errors.New("named capturing group has 0 length name")
				case j == len(repl) || repl[j] != '}':
					return nil, errors.New("named capturing group is missing trailing '}'")
				case gname[0] >= '0' && gname[0] <= '9':
					return nil, fmt.Errorf("capturing group name {%s} starts with digit character", gname)
				}
				ref = re.SubexpIndex(gname)
				if ref < 0 {
					return nil, fmt.Errorf("no group with name {%s}", gname)
				}
				i = j + 1
			} else {
				if repl[i] < '0' || repl[i] > '9' {
					return nil, errors.New("illegal group reference")
				}
				ref = int(repl[i] - '0')
				i++
				for i < len(repl) && repl[i] >= '0' && repl[i] <= '9' {
					next := ref*10 + int(repl[i]-'0')
					if next > groups {
						break
					}
					ref = next
					i++
				}
				if ref > groups {
					return nil, fmt.Errorf("no group %d", ref)
				}
			}
			flush()
			parts = append(parts, routeReplacementPart{group: ref})
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return parts, nil
}

func routeIsASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Defaults of TimestampRouter, as in Connect.
const (
	DefaultTimestampRouterTopicFormat     = "${topic}-${timestamp}"
	DefaultTimestampRouterTimestampFormat = "yyyyMMdd"
)

// TimestampRouter makes a stage that renames each record's topic from its original topic and its
// timestamp, like Connect's TimestampRouter: in topicFormat, "${topic}" is replaced by the topic and
// "${timestamp}" by Record.Timestamp, in UTC, formatted by timestampFormat. Empty formats take Connect's
// defaults, DefaultTimestampRouterTopicFormat and DefaultTimestampRouterTimestampFormat ("orders" with a
// timestamp on 3 January 2017 becomes "orders-20170103"). Only Record.Topic changes.
//
// timestampFormat is a java.text.SimpleDateFormat pattern, translated at build time. Supported letters:
// y (yy: two-digit year, otherwise the full year), M (M/MM: number, MMM: "Jan", MMMM: "January"), d, D (day
// of year), H (0-23), k (1-24), h (1-12), K (0-11), m, s, S (milliseconds), E (E-EEE: "Mon", EEEE:
// "Monday"), a ("AM"/"PM"); numbers are zero-padded to the number of letters. Text in single quotes is
// literal (two single quotes stand for one), as are characters other than ASCII letters. Other letters
// (the week year Y, time zones z/Z/X, ...) are rejected with an error wrapping ErrTransformConfig that
// names "timestamp.format", rather than being half supported.
//
// A record whose Timestamp is the zero time.Time fails with an error wrapping ErrNoTimestamp.
func TimestampRouter(name, topicFormat, timestampFormat string) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError("TimestampRouter", name, ErrNoName)
	}
	if topicFormat == "" {
		topicFormat = DefaultTimestampRouterTopicFormat
	}
	if timestampFormat == "" {
		timestampFormat = DefaultTimestampRouterTimestampFormat
	}
	layout, err := routeParseSimpleDateFormat(timestampFormat)
	if err != nil {
		return nil, wrapStageConfigError("TimestampRouter", name, invalidStageOptionf("timestamp.format", "%v", err))
	}
	return keepsShape(Map(name, func(r stream.Record) (stream.Record, error) {
		if r.Timestamp.IsZero() {
			return r, fmt.Errorf("%w (stage %q, topic %q, offset %d)", ErrNoTimestamp, name, r.Topic, r.Offset)
		}
		ts := layout.format(r.Timestamp.UTC())
		// Connect replaces ${topic} first, then ${timestamp} in the result; topic names cannot contain "$",
		// so the order only matters for formats that produce "${timestamp}" from a quoted literal.
		topic := strings.ReplaceAll(topicFormat, "${topic}", r.Topic)
		r.Topic = strings.ReplaceAll(topic, "${timestamp}", ts)
		return r, nil
	})), nil
}

// routeDateField is one piece of a SimpleDateFormat pattern: literal text, or a run of count letters.
type routeDateField struct {
	literal string
	letter  byte
	count   int
}

type routeDateLayout []routeDateField

// routeParseSimpleDateFormat parses a SimpleDateFormat pattern into fields, rejecting letters outside the
// supported subset.
func routeParseSimpleDateFormat(pattern string) (routeDateLayout, error) {
	var layout routeDateLayout
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			layout = append(layout, routeDateField{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				lit.WriteByte('\'')
				i += 2
				continue
			}
			i++
			for {
				if i == len(pattern) {
					return nil, errors.New("unterminated quote")
				}
				if pattern[i] == '\'' {
					if i+1 < len(pattern) && pattern[i+1] == '\'' {
						lit.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				lit.WriteByte(pattern[i])
				i++
			}
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			if !strings.ContainsRune("yMdDHkhKmsSEa", rune(c)) {
				return nil, fmt.Errorf("pattern letter %q is not supported (supported: y M d D H k h K m s S E a)", c)
			}
			j := i
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			flush()
			layout = append(layout, routeDateField{letter: c, count: j - i})
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return layout, nil
}

// format writes t (already in UTC) as SimpleDateFormat would.
func (l routeDateLayout) format(t time.Time) string {
	var b []byte
	num := func(v, width int) {
		s := strconv.Itoa(v)
		for n := len(s); n < width; n++ {
			b = append(b, '0')
		}
		b = append(b, s...)
	}
	for _, f := range l {
		switch f.letter {
		case 0:
			b = append(b, f.literal...)
		case 'y':
			if f.count == 2 {
				num(t.Year()%100, 2)
			} else {
				num(t.Year(), f.count)
			}
		case 'M':
			switch {
			case f.count >= 4:
				b = append(b, t.Month().String()...)
			case f.count == 3:
				b = append(b, t.Month().String()[:3]...)
			default:
				num(int(t.Month()), f.count)
			}
		case 'd':
			num(t.Day(), f.count)
		case 'D':
			num(t.YearDay(), f.count)
		case 'H':
			num(t.Hour(), f.count)
		case 'k':
			h := t.Hour()
			if h == 0 {
				h = 24
			}
			num(h, f.count)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, f.count)
		case 'K':
			num(t.Hour()%12, f.count)
		case 'm':
			num(t.Minute(), f.count)
		case 's':
			num(t.Second(), f.count)
		case 'S':
			num(t.Nanosecond()/int(time.Millisecond), f.count)
		case 'E':
			if f.count >= 4 {
				b = append(b, t.Weekday().String()...)
			} else {
				b = append(b, t.Weekday().String()[:3]...)
			}
		case 'a':
			if t.Hour() < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		}
	}
	return string(b)
}
