package stages_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

func TestFuncStages(t *testing.T) {
	ctx := context.Background()
	in := stream.Record{Key: "k", Value: "hello"}

	upper := stages.Map("upper", func(r stream.Record) (stream.Record, error) {
		r.Value = strings.ToUpper(r.Value.(string))
		return r, nil
	})
	if out, err := upper.Process(ctx, in); err != nil || len(out) != 1 || out[0].Value != "HELLO" || out[0].Key != "k" {
		t.Fatalf("Map: %v, %v", out, err)
	}

	boom := errors.New("boom")
	failing := stages.Map("failing", func(stream.Record) (stream.Record, error) { return stream.Record{}, boom })
	if out, err := failing.Process(ctx, in); !errors.Is(err, boom) || out != nil {
		t.Fatalf("Map error: %v, %v", out, err)
	}

	keepLong := stages.Filter("long", func(r stream.Record) bool { return len(r.Value.(string)) > 3 })
	if out, _ := keepLong.Process(ctx, in); len(out) != 1 {
		t.Fatalf("Filter kept %d, want 1", len(out))
	}
	if out, _ := keepLong.Process(ctx, stream.Record{Value: "hi"}); len(out) != 0 {
		t.Fatalf("Filter kept %d, want 0", len(out))
	}

	words := stages.FlatMap("words", func(_ context.Context, r stream.Record) ([]stream.Record, error) {
		var out []stream.Record
		for _, w := range strings.Fields(r.Value.(string)) {
			out = append(out, stream.Record{Key: r.Key, Value: w})
		}
		return out, nil
	})
	if out, _ := words.Process(ctx, stream.Record{Value: "a b c"}); len(out) != 3 || out[2].Value != "c" {
		t.Fatalf("FlatMap: %v", out)
	}

	for _, s := range []stages.Stage{upper, failing, keepLong, words} {
		if err := stages.Validate(s); err != nil {
			t.Errorf("Validate(%s) = %v", s.Name(), err)
		}
	}
	if err := stages.Validate(stages.Filter("", nil)); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("unnamed stage: %v", err)
	}
	if err := stages.Validate(nil); err == nil {
		t.Error("nil stage validated")
	}
}

// A user stage is a plain Go function over a record.
func ExampleMap() {
	redact := stages.Map("redact-emails", func(r stream.Record) (stream.Record, error) {
		line, ok := r.Value.(string)
		if !ok {
			return r, fmt.Errorf("want a string value, got %T", r.Value)
		}
		if at := strings.IndexByte(line, '@'); at > 0 {
			r.Value = "***" + line[at:]
		}
		return r, nil
	})
	out, err := redact.Process(context.Background(), stream.Record{Value: "alice@example.com"})
	fmt.Println(out[0].Value, err)
	// Output: ***@example.com <nil>
}
