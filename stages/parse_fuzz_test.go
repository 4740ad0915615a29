package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// FuzzParseJSON: any text either parses into an object that FormatJSON writes and ParseJSON reads back
// equal, or fails as a record error whose message names the record's place and no Go type.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,2.50,{"b":null}]}`, `[1]`, `{"a": x}`, `{"a":1`, ``, `"text"`, `{"n":1e400}`, `{"a":1}{}`} {
		f.Add(s)
	}
	parse, _ := stages.ParseJSON("parse")
	format, _ := stages.FormatJSON("format")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, text string) {
		out, err := parse.Process(ctx, stream.Record{Topic: "t", Offset: 5, Value: text})
		if err != nil {
			msg := err.Error()
			if !errors.Is(err, stages.ErrTransformRecord) || !strings.Contains(msg, "offset 5") {
				t.Fatalf("error %v: want a record error naming the offset", err)
			}
			for _, w := range []string{"map[", "[]any", "*stream", "float64", "%!"} {
				if strings.Contains(msg, w) {
					t.Fatalf("error %q holds %q", msg, w)
				}
			}
			return
		}
		text2, err := format.Process(ctx, out[0])
		if err != nil {
			t.Fatalf("FormatJSON of a parsed value: %v", err)
		}
		again, err := parse.Process(ctx, text2[0])
		if err != nil || !stream.EqualValues(again[0].Value, out[0].Value) {
			t.Fatalf("round trip of %q through %q: %v", text, text2[0].Value, err)
		}
	})
}

// FuzzParseCSV: any line either fits the columns or fails as a record error; nothing panics.
func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{"1,a,2.5,true,2026-11-30T18:00:00Z", `"1",a`, `1,"a`, ",,,,", "x,y,z,w,v"} {
		f.Add(s)
	}
	parse, err := stages.ParseCSV("parse", stages.CSVConfig{Columns: []stages.CSVColumn{
		{Name: "id", Type: stages.CSVInt}, {Name: "name"}, {Name: "amount", Type: stages.CSVDecimal, Scale: 2},
		{Name: "ok", Type: stages.CSVBool}, {Name: "at", Type: stages.CSVTimestamp},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		out, err := parse.Process(context.Background(), stream.Record{Topic: "t", Value: line})
		if err != nil {
			if !errors.Is(err, stages.ErrTransformRecord) {
				t.Fatalf("error %v is not a record error", err)
			}
			return
		}
		if len(out) == 1 {
			if err := out[0].Value.(*stream.Struct).Validate(); err != nil {
				t.Fatalf("parsed %q into an invalid struct: %v", line, err)
			}
		}
	})
}
