package stages_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// ParseJSON turns JSON text (a line of a file, a value of a "string" topic) into an object whose fields
// the field stages can work on; numbers keep every digit.
func ExampleParseJSON() {
	parse, _ := stages.ParseJSON("parse")
	mask, _ := stages.MaskField("mask-email", stages.MaskFieldConfig{Fields: []string{"email"}})
	ctx := context.Background()

	rec := stream.Record{Value: `{"id": 7, "email": "ada@example.com", "total": 12.50}`}
	parsed, _ := parse.Process(ctx, rec)
	masked, _ := mask.Process(ctx, parsed[0])
	fmt.Println(masked[0].Value)

	_, err := parse.Process(ctx, stream.Record{Topic: "clicks", Offset: 3, Value: `{"id": x}`})
	fmt.Println(err)
	// Output:
	// map[email: id:7 total:12.50]
	// stages: cannot transform record: value at topic "clicks" partition 0 offset 3 is not JSON: invalid character 'x' looking for beginning of value at byte 8
}

// ParseCSV reads declared, typed columns into a struct with a schema, which a "json-schema" topic or a
// sink that maps types keeps.
func ExampleParseCSV() {
	parse, _ := stages.ParseCSV("parse", stages.CSVConfig{Columns: []stages.CSVColumn{
		{Name: "id", Type: stages.CSVInt},
		{Name: "name"},
		{Name: "amount", Type: stages.CSVDecimal, Scale: 2},
	}})
	ctx := context.Background()
	for _, line := range []string{"id,name,amount", "1,Ada,12.5", "2,Bob,x"} {
		out, err := parse.Process(ctx, stream.Record{Value: line})
		switch {
		case err != nil:
			fmt.Println(err)
		case len(out) == 0:
			fmt.Println("(header dropped)")
		default:
			fmt.Println(out[0].Value)
		}
	}
	// Output:
	// (header dropped)
	// Struct{id=1,name=Ada,amount=12.50}
	// stages: cannot transform record: value of the record: line does not fit the CSV columns: field 3 ("amount"): "x" is not a number
}

// FormatJSON writes a structured value back as JSON text.
func ExampleFormatJSON() {
	format, _ := stages.FormatJSON("format")
	out, _ := format.Process(context.Background(), stream.Record{Value: map[string]any{"id": int64(7), "ok": true}})
	fmt.Println(out[0].Value)
	// Output:
	// {"id":7,"ok":true}
}
