package stages_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// A user stage in ten lines: a plain Go function over the user's own type.
func ExampleMapValue() {
	type Order struct {
		ID     int64   `json:"id"`
		Amount float64 `json:"amount"`
		VAT    float64 `json:"vat"`
	}
	addVAT := stages.MapValue("add-vat", func(_ context.Context, o Order) (Order, error) {
		o.VAT = o.Amount * 0.2
		return o, nil
	})

	out, err := addVAT.Process(context.Background(), stream.Record{Value: map[string]any{"id": int64(1), "amount": 50.0}})
	fmt.Println(out[0].Value, err)
	// Output: map[amount:50 id:1 vat:10] <nil>
}
