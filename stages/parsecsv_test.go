package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

func TestParseCSVTypes(t *testing.T) {
	st, err := stages.ParseCSV("parse", stages.CSVConfig{Delimiter: ';', Columns: []stages.CSVColumn{
		{Name: "id", Type: stages.CSVInt},
		{Name: "name"},
		{Name: "price", Type: stages.CSVDecimal, Scale: 2},
		{Name: "ratio", Type: stages.CSVFloat},
		{Name: "ok", Type: stages.CSVBool},
		{Name: "at", Type: stages.CSVTimestamp, Layout: "2006-01-02 15:04:05"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if out, err := st.Process(ctx, stream.Record{Value: "id;name;price;ratio;ok;at"}); err != nil || len(out) != 0 {
		t.Fatalf("header line: %v %+v, want it dropped", err, out)
	}
	out, err := st.Process(ctx, stream.Record{Value: `7;"Doe; Jane";12.5;0.25;true;2026-11-30 18:00:01`})
	if err != nil {
		t.Fatal(err)
	}
	s := out[0].Value.(*stream.Struct)
	if out[0].ValueSchema != s.Schema() {
		t.Errorf("the record's schema is not the value's")
	}
	if s.Get("id") != int64(7) || s.Get("name") != "Doe; Jane" || s.Get("ok") != true || s.Get("ratio") != 0.25 {
		t.Errorf("got %v", s)
	}
	if d := s.Get("price").(stream.Decimal); d.String() != "12.50" {
		t.Errorf("price %v, want 12.50", d)
	}
	if at := s.Get("at").(time.Time); !at.Equal(time.Date(2026, 11, 30, 18, 0, 1, 0, time.UTC)) {
		t.Errorf("at %v", at)
	}
	out, err = st.Process(ctx, stream.Record{Value: []byte(";x;;;;")})
	if err != nil || out[0].Value.(*stream.Struct).Get("id") != nil {
		t.Fatalf("empty fields: %v %+v", err, out)
	}
	for _, tc := range []struct{ line, want string }{
		{"1;a;2", `has 3 fields, want 6`},
		{"x;a;1;1;true;2026-11-30 18:00:01", `field 1 ("id"): "x" is not a whole number`},
		{"1;a;1.005;1;true;2026-11-30 18:00:01", `field 3 ("price"): "1.005" has more than 2 digits after the point`},
		{"1;a;1;1;maybe;2026-11-30 18:00:01", `field 5 ("ok"): "maybe" is not true or false`},
		{`1;"a;1;1;true;x`, `not CSV`},
	} {
		_, err := st.Process(ctx, stream.Record{Topic: "in", Offset: 4, Value: tc.line})
		if !errors.Is(err, stages.ErrTransformRecord) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "offset 4") {
			t.Errorf("%s: error %v, want it to contain %q and the offset", tc.line, err, tc.want)
		}
	}
	sh := st.(stages.Shaped).Produces(stream.Shape{Value: stream.StringValue})
	if sh.Value != stream.StructuredValue || strings.Join(sh.Fields, ",") != "id,name,price,ratio,ok,at" {
		t.Errorf("Produces %+v", sh)
	}
}

func TestParseCSVConfig(t *testing.T) {
	for _, cfg := range []stages.CSVConfig{
		{},
		{Columns: []stages.CSVColumn{{Name: "a"}, {Name: "a"}}},
		{Columns: []stages.CSVColumn{{Name: "a", Type: "money"}}},
		{Columns: []stages.CSVColumn{{Name: "a"}}, Delimiter: '"'},
	} {
		if _, err := stages.ParseCSV("p", cfg); !errors.Is(err, stages.ErrTransformConfig) {
			t.Errorf("%+v: %v, want a configuration error", cfg, err)
		}
	}
}

func TestCSVParserHeader(t *testing.T) {
	p, err := stages.NewCSVParser(stages.CSVConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.WithHeader("a,b")
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.Parse("1,x")
	if err != nil || v.(map[string]any)["a"] != "1" || v.(map[string]any)["b"] != "x" {
		t.Fatalf("%v %#v", err, v)
	}
	if _, err := p.WithHeader("a,a"); err == nil {
		t.Errorf("a header naming a column twice was accepted")
	}
}

func TestFormatJSON(t *testing.T) {
	st, err := stages.FormatJSON("format")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := stream.ParseDecimal("2.50")
	out, err := st.Process(context.Background(), stream.Record{Value: map[string]any{"b": d, "a": int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Value != `{"a":1,"b":2.50}` || out[0].ValueSchema.Type != stream.TypeString {
		t.Fatalf("got %#v", out[0])
	}
	back, _ := stages.ParseJSON("parse")
	again, err := back.Process(context.Background(), out[0])
	if err != nil || !stream.EqualValues(again[0].Value, map[string]any{"b": d, "a": int64(1)}) {
		t.Fatalf("round trip: %v %#v", err, again)
	}
}
