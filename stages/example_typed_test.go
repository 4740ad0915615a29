package stages_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// A user stage in ten lines: a plain Go function over the user's own type. Fields the type does not
// declare ("channel") are carried through; a field it needs and the record lacks is an error.
func ExampleMapValue() {
	type Order struct {
		ID     int64   `json:"id"`
		Amount float64 `json:"amount"`
		VAT    float64 `json:"vat,omitempty"` // optional: computed here
	}
	addVAT := stages.MapValue("add-vat", func(_ context.Context, o Order) (Order, error) {
		o.VAT = o.Amount * 0.2
		return o, nil
	})

	out, err := addVAT.Process(context.Background(), stream.Record{Value: map[string]any{"id": int64(1), "amount": 50.0, "channel": "web"}})
	fmt.Println(out[0].Value, err)
	_, err = addVAT.Process(context.Background(), stream.Record{Value: map[string]any{"id": int64(2)}})
	fmt.Println(err)
	_, err = addVAT.Process(context.Background(), stream.Record{Value: `{"id": 3, "amount": "12x"}`})
	fmt.Println(err)
	// Output:
	// map[amount:50 channel:web id:1 vat:10] <nil>
	// stage "add-vat": field amount: missing (make the Go field a pointer or tag it omitempty if it is optional)
	// stage "add-vat": field amount: is a string ("12x"), want a number (float64)
}

// The three ways to treat fields the Go type does not declare: carry them (the default), refuse the record,
// or drop them on purpose.
func ExampleRefuseUnknownFields() {
	type Customer struct {
		Name string `json:"name"`
	}
	greet := func(_ context.Context, c Customer) (Customer, error) {
		c.Name = "Dear " + c.Name
		return c, nil
	}
	rec := stream.Record{Value: map[string]any{"name": "Ada", "email": "ada@example.com"}}

	for _, s := range []stages.Stage{
		stages.MapValue("greet", greet), // stages.KeepUnknownFields() is the default
		stages.MapValue("greet-strict", greet, stages.RefuseUnknownFields()),
		stages.MapValue("greet-lossy", greet, stages.DropUnknownFields()),
	} {
		out, err := s.Process(context.Background(), rec)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(out[0].Value)
	}
	// Output:
	// map[email:ada@example.com name:Dear Ada]
	// stage "greet-strict": field email: not declared by Customer (the stage refuses unknown fields)
	// map[name:Dear Ada]
}
