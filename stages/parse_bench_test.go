package stages_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

const benchLine = `{"id":123456,"email":"ada@example.com","name":"Ada Lovelace","total":1234.50,"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"paid":true}`

// BenchmarkParseJSON measures the stage per record; compare with the baselines below in the same run:
// the "json" codec's Decode (what a "json" topic costs) and encoding/json into map[string]any (floats,
// not exact).
func BenchmarkParseJSON(b *testing.B) {
	parse, _ := stages.ParseJSON("parse")
	ctx := context.Background()
	rec := stream.Record{Value: benchLine}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse.Process(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONInferSchema(b *testing.B) {
	parse, _ := stages.ParseJSON("parse", stages.InferSchema())
	ctx := context.Background()
	rec := stream.Record{Value: benchLine}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse.Process(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONBaselineCodec(b *testing.B) {
	data := []byte(benchLine)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := (stream.JSONCodec{}).Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONBaselineEncodingJSON(b *testing.B) {
	data := []byte(benchLine)
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCSV(b *testing.B) {
	parse, _ := stages.ParseCSV("parse", stages.CSVConfig{Columns: []stages.CSVColumn{
		{Name: "id", Type: stages.CSVInt}, {Name: "name"}, {Name: "amount", Type: stages.CSVDecimal, Scale: 2},
		{Name: "ok", Type: stages.CSVBool}, {Name: "at", Type: stages.CSVTimestamp},
	}})
	ctx := context.Background()
	rec := stream.Record{Value: `123456,Ada Lovelace,1234.50,true,2026-11-30T18:00:00Z`}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse.Process(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}
