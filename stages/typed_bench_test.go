package stages

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

// Benchmarks of the fidelity checks against the code they replaced, measured in the same run:
//
//	go test -run '^$' -bench 'MapSchemaCheck|TypedConversion' -benchmem ./stages
//
// BenchmarkMapSchemaCheck/old is Map without the schema check; BenchmarkTypedConversion/old is the former
// conversion through JSON (encode, encoding/json.Unmarshal, json.Marshal, decode), kept below as the baseline.

func BenchmarkMapSchemaCheck(b *testing.B) {
	schema := stream.NewStruct("order").Field("id", stream.Int64Schema()).Field("status", stream.StringSchema()).MustBuild()
	st, _ := stream.NewStructValue(schema)
	_ = st.Put("id", int64(7))
	_ = st.Put("status", "new")
	records := map[string]stream.Record{
		"struct":         {ValueSchema: schema, Value: st, KeySchema: stream.Int64Schema(), Key: int64(7)},
		"string-schema":  {ValueSchema: stream.StringSchema(), Value: "hello", Key: "k"},
		"schemaless-map": {Value: map[string]any{"id": int64(7)}},
	}
	touch := func(r stream.Record) (stream.Record, error) { r.Topic = "t"; return r, nil }
	stages := map[string]Stage{
		"old": oneStage{name: "touch", fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
			out, err := touch(r)
			return out, err == nil, err
		}},
		"new": Map("touch", touch),
	}
	ctx := context.Background()
	b.Run("reference/json-decode", func(b *testing.B) { // what the same record costs to decode, for scale
		raw := []byte(`{"id":7,"status":"new"}`)
		for b.Loop() {
			if _, _, err := jsonCodec.Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	for name, r := range records {
		for _, impl := range []string{"old", "new"} {
			s := stages[impl].(OneToOne)
			b.Run(name+"/"+impl, func(b *testing.B) {
				for b.Loop() {
					if _, _, err := s.ProcessOne(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

type benchOrder struct {
	ID       int64   `json:"id"`
	Amount   float64 `json:"amount"`
	Status   string  `json:"status"`
	Customer struct {
		Name string `json:"name"`
	} `json:"customer"`
	Tags []string `json:"tags"`
}

func BenchmarkTypedConversion(b *testing.B) {
	value := func() map[string]any {
		return map[string]any{"id": int64(7), "amount": 12.5, "status": "new", "customer": map[string]any{"name": "Ada"},
			"tags": []any{"a", "b"}, "channel": "web"}
	}
	pay := func(_ context.Context, o benchOrder) (benchOrder, error) { o.Status = "paid"; return o, nil }
	impls := map[string]Stage{
		"old": oneStage{name: "pay", fn: func(ctx context.Context, r stream.Record) (stream.Record, bool, error) {
			in, err := oldValueAs[benchOrder](r)
			if err != nil {
				return r, false, err
			}
			out, _ := pay(ctx, in)
			return r, true, oldSetValue(&r, out)
		}},
		"new": MapValue("pay", pay),
	}
	ctx := context.Background()
	for _, impl := range []string{"old", "new"} {
		s := impls[impl].(OneToOne)
		b.Run(impl, func(b *testing.B) {
			r := stream.Record{Value: value()}
			for b.Loop() {
				if _, _, err := s.ProcessOne(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// oldValueAs and oldSetValue are the conversion typed stages used before issue 23, for the benchmark.
func oldValueAs[In any](r stream.Record) (In, error) {
	var in In
	if v, ok := r.Value.(In); ok {
		return v, nil
	}
	raw, err := jsonCodec.Encode(r.ValueSchema, r.Value)
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	return in, err
}

func oldSetValue(r *stream.Record, out any) error {
	t := reflect.TypeOf(out)
	if t == nil || t.Kind() != reflect.Struct {
		r.Value, r.ValueSchema = out, nil
		return nil
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, v, err := jsonCodec.Decode(raw)
	r.Value, r.ValueSchema = v, nil
	return err
}
