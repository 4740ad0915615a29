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

// Schemas stay true after a user function: a Struct brings its schema, a replaced value that does not fit
// the schema the record came with fails with ErrStaleSchema naming the stage and the fix.
func TestMapKeepsSchemasTrue(t *testing.T) {
	ctx := context.Background()
	order := stream.NewStruct("order").Field("id", stream.Int64Schema()).MustBuild()
	st, _ := stream.NewStructValue(order)
	_ = st.Put("id", int64(7))
	in := stream.Record{KeySchema: stream.Int64Schema(), Key: int64(7), ValueSchema: order, Value: st}

	toMap := stages.Map("to-map", func(r stream.Record) (stream.Record, error) {
		r.Value = map[string]any{"id": int64(7)}
		return r, nil
	})
	_, err := toMap.Process(ctx, in)
	want := `stage "to-map": the value schema is stale: the record still carries the value schema it came with (struct order), but the value is now an object; set ValueSchema to the new value's schema, or to nil for a schemaless value: schema does not match the value`
	if !errors.Is(err, stages.ErrStaleSchema) || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}

	schemaless := stages.Map("schemaless", func(r stream.Record) (stream.Record, error) {
		r.Value, r.ValueSchema = map[string]any{"id": int64(7)}, nil
		return r, nil
	})
	if out, err := schemaless.Process(ctx, in); err != nil || out[0].ValueSchema != nil {
		t.Fatalf("schemaless: %v, %v", out, err)
	}

	wider := stream.NewStruct("order").Field("id", stream.Int64Schema()).Field("vat", stream.Float64Schema()).MustBuild()
	widen := stages.Map("widen", func(r stream.Record) (stream.Record, error) {
		w, _ := stream.NewStructValue(wider)
		_ = w.Put("id", int64(7))
		_ = w.Put("vat", 1.5)
		r.Value = w // ValueSchema left as it was: derived from the Struct
		return r, nil
	})
	out, err := widen.Process(ctx, in)
	if err != nil || out[0].ValueSchema != wider {
		t.Fatalf("widen: schema %v, %v", out[0].ValueSchema, err)
	}
	if _, err := (stream.JSONSchemaCodec{}).Encode(out[0].ValueSchema, out[0].Value); err != nil {
		t.Fatalf("widen: derived schema does not encode: %v", err)
	}

	wrongSet := stages.Map("wrong-set", func(r stream.Record) (stream.Record, error) {
		r.Value, r.ValueSchema = "seven", stream.Int32Schema()
		return r, nil
	})
	_, err = wrongSet.Process(ctx, in)
	if !errors.Is(err, stages.ErrStaleSchema) || !strings.Contains(err.Error(), `stage "wrong-set": the value is a string ("seven"), which does not fit the ValueSchema the stage set (int32)`) {
		t.Fatalf("wrong-set: %v", err)
	}

	rekey := stages.Map("rekey", func(r stream.Record) (stream.Record, error) {
		r.Key = "order-7"
		return r, nil
	})
	_, err = rekey.Process(ctx, in)
	if !errors.Is(err, stages.ErrStaleSchema) || !strings.Contains(err.Error(), `stage "rekey": the key schema is stale`) || !strings.Contains(err.Error(), "set KeySchema") {
		t.Fatalf("rekey: %v", err)
	}

	explode := stages.FlatMap("explode", func(_ context.Context, r stream.Record) ([]stream.Record, error) {
		a, b := r, r
		b.Value = []any{int64(1)}
		return []stream.Record{a, b}, nil
	})
	if _, err := explode.Process(ctx, in); !errors.Is(err, stages.ErrStaleSchema) || !strings.Contains(err.Error(), `stage "explode"`) {
		t.Fatalf("explode: %v", err)
	}

	untouched := stages.Map("untouched", func(r stream.Record) (stream.Record, error) { return r, nil })
	if out, err := untouched.Process(ctx, in); err != nil || out[0].ValueSchema != order || out[0].Value != st {
		t.Fatalf("untouched: %v, %v", out, err)
	}
}
