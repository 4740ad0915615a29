package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

func predTestHeaders(keys ...string) []stream.Header {
	hs := make([]stream.Header, len(keys))
	for i, k := range keys {
		hs[i] = stream.Header{Key: k}
	}
	return hs
}

// TestPredicates ports the testTest cases of Kafka's TopicNameMatchesTest, HasHeaderKeyTest and
// RecordIsTombstoneTest (connect/transforms/src/test/java/org/apache/kafka/connect/transforms/predicates/).
func TestPredicates(t *testing.T) {
	prefix, err := stages.TopicNameMatches("my-prefix-.*")
	if err != nil {
		t.Fatal(err)
	}
	hasFoo, err := stages.HasHeaderKey("foo")
	if err != nil {
		t.Fatal(err)
	}
	tombstone := stages.RecordIsTombstone()

	cases := []struct {
		name string
		pred stages.Predicate
		r    stream.Record
		want bool
	}{
		{"topic my-prefix-", prefix, stream.Record{Topic: "my-prefix-"}, true},
		{"topic my-prefix-foo", prefix, stream.Record{Topic: "my-prefix-foo"}, true},
		{"topic x-my-prefix-", prefix, stream.Record{Topic: "x-my-prefix-"}, false},
		{"topic x-my-prefix-foo", prefix, stream.Record{Topic: "x-my-prefix-foo"}, false},
		{"topic your-prefix-", prefix, stream.Record{Topic: "your-prefix-"}, false},
		{"topic your-prefix-foo", prefix, stream.Record{Topic: "your-prefix-foo"}, false},
		{"no topic", prefix, stream.Record{}, false},

		{"header foo", hasFoo, stream.Record{Headers: predTestHeaders("foo")}, true},
		{"headers foo bar", hasFoo, stream.Record{Headers: predTestHeaders("foo", "bar")}, true},
		{"headers bar foo bar foo", hasFoo, stream.Record{Headers: predTestHeaders("bar", "foo", "bar", "foo")}, true},
		{"header bar", hasFoo, stream.Record{Headers: predTestHeaders("bar")}, false},
		{"headers bar bar", hasFoo, stream.Record{Headers: predTestHeaders("bar", "bar")}, false},
		{"no headers", hasFoo, stream.Record{Headers: []stream.Header{}}, false},
		{"nil headers", hasFoo, stream.Record{}, false},

		{"nil value", tombstone, stream.Record{Key: "k"}, true},
		{"nil value with a schema", tombstone, stream.Record{ValueSchema: stream.StringSchema().AsOptional()}, true},
		{"empty string value", tombstone, stream.Record{Value: ""}, false},
		{"struct value", tombstone, stream.Record{Value: map[string]any{}}, false},
	}
	for _, tc := range cases {
		if got := tc.pred(tc.r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if got := stages.Not(tc.pred)(tc.r); got == tc.want {
			t.Errorf("Not, %s: %v, want %v", tc.name, got, !tc.want)
		}
	}
	if stages.Not(nil) != nil {
		t.Error("Not(nil) is not nil")
	}
}

// TestPredicateConfig ports TopicNameMatchesTest.testConfig and HasHeaderKeyTest's config tests.
func TestPredicateConfig(t *testing.T) {
	for _, pattern := range []string{"*", "", "(?<=a)b"} {
		if _, err := stages.TopicNameMatches(pattern); !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), "pattern") {
			t.Errorf("TopicNameMatches(%q): %v", pattern, err)
		}
	}
	if _, err := stages.HasHeaderKey(""); !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), "name") {
		t.Errorf("HasHeaderKey(\"\"): %v", err)
	}
}

// TestFilterWhereAndWhen checks Connect's Filter-with-predicate and predicate-on-a-transform semantics,
// including negate through Not.
func TestFilterWhereAndWhen(t *testing.T) {
	ctx := context.Background()
	isTombstone := stages.RecordIsTombstone()
	records := []stream.Record{
		{Topic: "orders", Key: "1", Value: "a"},
		{Topic: "orders", Key: "2"},
		{Topic: "audit", Key: "3", Value: "b"},
	}
	run := func(s stages.Stage) string {
		var keys []string
		for _, r := range records {
			out, err := s.Process(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				keys = append(keys, o.Topic+"/"+o.Key.(string))
			}
		}
		return strings.Join(keys, " ")
	}

	dropTombstones, err := stages.FilterWhere("drop-tombstones", isTombstone)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(dropTombstones); got != "orders/1 audit/3" {
		t.Errorf("FilterWhere(tombstone) kept %q", got)
	}
	orders, _ := stages.TopicNameMatches("orders")
	keepOnlyOrders, _ := stages.FilterWhere("keep-orders", stages.Not(orders)) // negate=true
	if got := run(keepOnlyOrders); got != "orders/1 orders/2" {
		t.Errorf("FilterWhere(Not(orders)) kept %q", got)
	}
	if dropTombstones.Name() != "drop-tombstones" {
		t.Errorf("name %q", dropTombstones.Name())
	}

	archive, _ := stages.RegexRouter("archive", "(.*)", "$1-archive")
	archiveOrders, err := stages.When("archive-orders", orders, archive)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(archiveOrders); got != "orders-archive/1 orders-archive/2 audit/3" {
		t.Errorf("When(orders, archive) gave %q", got)
	}
	if archiveOrders.Name() != "archive-orders" {
		t.Errorf("When's name %q, want its own", archiveOrders.Name())
	}
	archiveOthers, _ := stages.When("archive-others", stages.Not(orders), archive)
	if got := run(archiveOthers); got != "orders/1 orders/2 audit-archive/3" {
		t.Errorf("When(Not(orders), archive) gave %q", got)
	}
	// The wrapped stage's errors come through.
	boom := errors.New("boom")
	failing := stages.Map("failing", func(stream.Record) (stream.Record, error) { return stream.Record{}, boom })
	whenFailing, _ := stages.When("failing-tombstones", isTombstone, failing)
	if _, err := whenFailing.Process(ctx, records[1]); !errors.Is(err, boom) {
		t.Errorf("error not passed on: %v", err)
	}
	if out, err := whenFailing.Process(ctx, records[0]); err != nil || len(out) != 1 {
		t.Errorf("non-matching record: %v, %v", out, err)
	}

	// Configuration errors.
	if _, err := stages.FilterWhere("f", nil); !errors.Is(err, stages.ErrTransformConfig) {
		t.Errorf("FilterWhere with nil predicate: %v", err)
	}
	if _, err := stages.FilterWhere("", isTombstone); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("FilterWhere without name: %v", err)
	}
	if _, err := stages.When("w", nil, archive); !errors.Is(err, stages.ErrTransformConfig) {
		t.Errorf("When with nil predicate: %v", err)
	}
	if _, err := stages.When("w", stages.Not(nil), archive); !errors.Is(err, stages.ErrTransformConfig) {
		t.Errorf("When with Not(nil): %v", err)
	}
	if _, err := stages.When("w", isTombstone, nil); err == nil {
		t.Error("When with nil stage: no error")
	}
	if _, err := stages.When("w", isTombstone, stages.Filter("", nil)); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("When with unnamed stage: %v", err)
	}
	if _, err := stages.When("", isTombstone, archive); !errors.Is(err, stages.ErrNoName) || !strings.Contains(err.Error(), "When") {
		t.Errorf("When without a name: %v", err)
	}
}

// openedStage records its lifecycle calls.
type openedStage struct {
	stages.Stage
	opened, closed int
}

func (s *openedStage) Open(context.Context) error { s.opened++; return nil }
func (s *openedStage) Close() error               { s.closed++; return nil }

// The engine opens and closes a guarded stage through When, which hides its type.
func TestWhenOpensAndClosesItsStage(t *testing.T) {
	inner := &openedStage{Stage: stages.Map("lookup", func(r stream.Record) (stream.Record, error) { return r, nil })}
	w, err := stages.When("lookup-orders", func(stream.Record) bool { return true }, inner)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := w.(stages.Opener)
	c, ok2 := w.(stages.Closer)
	if !ok || !ok2 {
		t.Fatalf("When's stage is not an Opener and Closer")
	}
	if err := o.Open(context.Background()); err != nil || inner.opened != 1 {
		t.Fatalf("Open: %v, inner opened %d times", err, inner.opened)
	}
	if err := c.Close(); err != nil || inner.closed != 1 {
		t.Fatalf("Close: %v, inner closed %d times", err, inner.closed)
	}
}
