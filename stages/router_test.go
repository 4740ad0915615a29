package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// TestRegexRouter ports Kafka's RegexRouterTest (connect/transforms/src/test/java/org/apache/kafka/connect/
// transforms/RegexRouterTest.java) and adds cases pinning java.util.regex replaceFirst semantics.
func TestRegexRouter(t *testing.T) {
	cases := []struct {
		name, regex, replacement, topic, want string
	}{
		// RegexRouterTest.
		{"staticReplacement", "foo", "bar", "foo", "bar"},
		{"doesntMatch", "foo", "bar", "orig", "orig"},
		{"identity", "(.*)", "$1", "orig", "orig"},
		{"addPrefix", "(.*)", "prefix-$1", "orig", "prefix-orig"},
		{"addSuffix", "(.*)", "$1-suffix", "orig", "orig-suffix"},
		{"slice", `(.*)-(\d\d\d\d\d\d\d\d)`, "$1", "index-20160117", "index"},
		// The regex must match the whole topic (Matcher.matches), not a part of it.
		{"partial match is no match", "foo", "bar", "foobar", "foobar"},
		// Debezium-style topic rewriting.
		{"drop server prefix", `dbserver1\.inventory\.(.*)`, "cdc.$1", "dbserver1.inventory.customers", "cdc.customers"},
		{"named groups", `(?<db>[^.]+)\.(?<table>.+)`, "${table}_from_${db}", "shop.orders", "orders_from_shop"},
		{"Go-style named group syntax", `(?P<db>[^.]+)\.(?P<table>.+)`, "${table}", "shop.orders", "orders"},
		{"whole match $0", "orders", "$0-v2", "orders", "orders-v2"},
		// "$12" is group 12 only if there are 12 groups: with one group it is $1 followed by "2".
		{"multi-digit reference falls back", "(a)", "$12", "a", "a2"},
		{"multi-digit reference", "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)", "$12$1", "abcdefghijkl", "la"},
		// A backslash escapes the next character; "$" is otherwise a group reference.
		{"escaped dollar", "(.*)", `\$$1\\`, "t", `$t\`},
		// A group that took no part in the match inserts nothing (Java appends nothing for null groups).
		{"unmatched group", "(a)|(b)", "[$1][$2]", "b", "[][b]"},
		// replaceFirst searches again from the start after matches(): for "a|ab" on "ab" it replaces the
		// leftmost-first match "a" and keeps "b".
		{"replaceFirst after matches", "a|ab", "X", "ab", "Xb"},
		{"case-insensitive flag", "(?i)ORDERS", "orders", "Orders", "orders"},
	}
	ctx := context.Background()
	for _, tc := range cases {
		s, err := stages.RegexRouter("route", tc.regex, tc.replacement)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		in := stream.Record{Topic: tc.topic, Partition: 3, Key: "k", Value: "v"}
		out, err := s.Process(ctx, in)
		if err != nil || len(out) != 1 {
			t.Errorf("%s: %v, %v", tc.name, out, err)
			continue
		}
		if out[0].Topic != tc.want {
			t.Errorf("%s: topic %q, want %q", tc.name, out[0].Topic, tc.want)
		}
		if out[0].Partition != 3 || out[0].Key != "k" || out[0].Value != "v" {
			t.Errorf("%s: changed more than the topic: %+v", tc.name, out[0])
		}
	}
	// Tombstones are routed too.
	s, _ := stages.RegexRouter("route", "(.*)", "$1-compacted")
	if out, _ := s.Process(ctx, stream.Record{Topic: "t", Key: "k"}); out[0].Topic != "t-compacted" || out[0].Value != nil {
		t.Errorf("tombstone: %+v", out[0])
	}
}

func TestRegexRouterConfig(t *testing.T) {
	cases := []struct {
		name, regex, replacement, option string
	}{
		{"empty regex", "", "x", "regex"},
		{"invalid regex", "(unclosed", "x", "regex"},
		{"Java-only lookahead", "foo(?=bar)", "x", "regex"},
		{"reference to a missing group", "(a)", "$2", "replacement"},
		{"reference to a missing named group", "(?<a>x)", "${b}", "replacement"},
		{"dollar at the end", "(a)", "x$", "replacement"},
		{"dollar before a letter", "(a)", "$x", "replacement"},
		{"unterminated group name", "(?<a>x)", "${a", "replacement"},
		{"group name starting with a digit", "(?<a>x)", "${1a}", "replacement"},
		{"trailing backslash", "(a)", `x\`, "replacement"},
	}
	for _, tc := range cases {
		_, err := stages.RegexRouter("route", tc.regex, tc.replacement)
		if !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), ": "+tc.option+": ") ||
			!strings.Contains(err.Error(), `RegexRouter "route"`) {
			t.Errorf("%s: err = %v, want ErrTransformConfig naming %s", tc.name, err, tc.option)
		}
	}
	if _, err := stages.RegexRouter("", "a", "b"); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("no name: %v", err)
	}
}

// TestTimestampRouter ports Kafka's TimestampRouterTest.defaultConfiguration and checks the supported
// SimpleDateFormat letters against what Java formats for the same instant.
func TestTimestampRouter(t *testing.T) {
	ts := time.UnixMilli(1483425001864) // 2017-01-03T06:30:01.864Z, a Tuesday
	cases := []struct {
		name, topicFormat, timestampFormat, want string
	}{
		{"defaultConfiguration", "", "", "test-20170103"},
		{"date and time", "${topic}_${timestamp}", "yyyy-MM-dd_HH.mm.ss", "test_2017-01-03_06.30.01"},
		{"two-digit year, unpadded numbers", "${timestamp}.${topic}", "yy.M.d.H", "17.1.3.6.test"},
		{"milliseconds and day of year", "${topic}-${timestamp}", "yyyyDDD-SSS", "test-2017003-864"},
		{"month and day names", "${topic}-${timestamp}", "EEE-MMM-EEEE-MMMM", "test-Tue-Jan-Tuesday-January"},
		{"12-hour clock", "${topic}-${timestamp}", "hh-a-KK-kk", "test-06-AM-06-06"},
		{"quoted literals", "${topic}-${timestamp}", "yyyy'W'MM''dd", "test-2017W01'03"},
		{"padded year", "${topic}-${timestamp}", "yyyyy", "test-02017"},
		{"no placeholders", "static", "yyyy", "static"},
		{"repeated placeholders", "${topic}.${timestamp}.${topic}", "yyyyMM", "test.201701.test"},
	}
	ctx := context.Background()
	for _, tc := range cases {
		s, err := stages.TimestampRouter("ts-route", tc.topicFormat, tc.timestampFormat)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		// The timestamp is formatted in UTC whatever its location.
		in := stream.Record{Topic: "test", Timestamp: ts.In(time.FixedZone("UTC+11", 11*3600)), Value: "v"}
		out, err := s.Process(ctx, in)
		if err != nil || out[0].Topic != tc.want {
			t.Errorf("%s: %v, %v; want topic %q", tc.name, out, err, tc.want)
		}
	}

	midnight := time.Date(2020, 2, 29, 0, 0, 0, 5e6, time.UTC)
	s, _ := stages.TimestampRouter("ts-route", "${timestamp}", "kk:HH:hh:KK a S SSS")
	if out, _ := s.Process(ctx, stream.Record{Timestamp: midnight}); out[0].Topic != "24:00:12:00 AM 5 005" {
		t.Errorf("midnight: %q", out[0].Topic)
	}

	// A record without a timestamp fails, as Connect's DataException("Timestamp missing on record").
	s, _ = stages.TimestampRouter("ts-route", "", "")
	if _, err := s.Process(ctx, stream.Record{Topic: "test"}); !errors.Is(err, stages.ErrNoTimestamp) {
		t.Errorf("no timestamp: %v", err)
	}
}

func TestTimestampRouterConfig(t *testing.T) {
	for _, format := range []string{"YYYYMMdd", "yyyyMMdd HH:mm z", "yyyy'MM", "yyyyMMddXXX", "G"} {
		_, err := stages.TimestampRouter("ts-route", "", format)
		if !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), ": timestamp.format: ") {
			t.Errorf("%q: err = %v, want ErrTransformConfig naming timestamp.format", format, err)
		}
	}
	if _, err := stages.TimestampRouter("", "", ""); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("no name: %v", err)
	}
}
