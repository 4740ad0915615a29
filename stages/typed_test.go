package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

type order struct {
	ID     int64   `json:"id"`
	Amount float64 `json:"amount"`
	Status string  `json:"status"`
}

func TestTypedStages(t *testing.T) {
	ctx := context.Background()
	schema := stream.NewStruct("order").Field("id", stream.Int64Schema()).Field("amount", stream.Float64Schema()).Field("status", stream.StringSchema()).MustBuild()
	st, _ := stream.NewStructValue(schema)
	_ = st.Put("id", int64(7))
	_ = st.Put("amount", 12.5)
	_ = st.Put("status", "new")
	inputs := map[string]stream.Record{
		"schemaless map": {Value: map[string]any{"id": int64(7), "amount": 12.5, "status": "new"}},
		"struct":         {Value: st, ValueSchema: schema},
		"json string":    {Value: `{"id":7,"amount":12.5,"status":"new"}`},
	}
	pay := stages.MapValue("pay", func(_ context.Context, o order) (order, error) {
		o.Status = "paid"
		return o, nil
	})
	for name, in := range inputs {
		out, err := pay.Process(ctx, in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, ok := out[0].Value.(map[string]any)
		// The amount comes back as the exact number the user's float64 held, whatever Go type carries it.
		amount, _ := stream.JSONCodec{}.Encode(nil, m["amount"])
		if !ok || m["status"] != "paid" || m["id"] != int64(7) || string(amount) != "12.5" || out[0].ValueSchema != nil {
			t.Errorf("%s: got %#v (schema %v)", name, out[0].Value, out[0].ValueSchema)
		}
	}

	big := stages.FilterValue("big", func(o order) bool { return o.Amount > 10 })
	if out, _ := big.Process(ctx, inputs["struct"]); len(out) != 1 {
		t.Error("FilterValue dropped a big order")
	}
	if out, _ := big.Process(ctx, stream.Record{Value: map[string]any{"id": int64(8), "amount": 1.0, "status": "new"}}); len(out) != 0 {
		t.Error("FilterValue kept a small order")
	}

	words := stages.FlatMapValue("words", func(_ context.Context, s string) ([]string, error) { return strings.Fields(s), nil })
	out, err := words.Process(ctx, stream.Record{Key: "k", Value: "a b", Headers: []stream.Header{{Key: "h", Value: []byte("v")}}})
	if err != nil || len(out) != 2 || out[1].Value != "b" || out[1].Key != "k" || len(out[1].Headers) != 1 {
		t.Fatalf("FlatMapValue: %v %v", out, err)
	}

	route := stages.RouteValue("by-status", func(o order) string { return "orders." + o.Status })
	if out, _ := route.Process(ctx, inputs["schemaless map"]); out[0].Topic != "orders.new" {
		t.Errorf("RouteValue topic %q", out[0].Topic)
	}

	if _, err := pay.Process(ctx, stream.Record{Value: int64(3)}); !errors.Is(err, stages.ErrFieldType) || err.Error() != `stage "pay": value: is a number (3), want an object (order)` {
		t.Errorf("wrong input type: %v", err)
	}
}
