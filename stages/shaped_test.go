package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

type shapeOrder struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
}

// TestStagesDeclareShapes checks what each built-in stage that needs fields says about text, structured
// values with known fields and values of unknown kind.
func TestStagesDeclareShapes(t *testing.T) {
	must := func(s stages.Stage, err error) stages.Stage {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	text := stream.Shape{Value: stream.StringValue}
	rows := stream.Shape{Value: stream.StructuredValue, Fields: []string{"id", "email"}, KeysIdentify: true}
	unknown := stream.Shape{}
	for _, tc := range []struct {
		stage      stages.Stage
		text, rows string // "" accepted, else a part of the refusal
		produces   stream.ValueKind
	}{
		{must(stages.MaskField("mask", stages.MaskFieldConfig{Fields: []string{"email"}})), "needs structured values", "", stream.StructuredValue},
		{must(stages.MaskField("mask-key", stages.MaskFieldConfig{Fields: []string{"email"}}, stages.OnKey())), "", "", stream.StructuredValue},
		{must(stages.Cast("cast", "id:int32")), "needs structured values", "", stream.StructuredValue},
		{must(stages.Cast("cast-missing", "amount:int32")), "needs structured values", `needs field "amount"`, stream.StructuredValue},
		{must(stages.ExtractField("extract", stages.ExtractFieldConfig{Field: "nope"})), "needs structured values", `needs field "nope"`, stream.AnyValue},
		{must(stages.Flatten("flat", ".")), "needs structured values", "", stream.StructuredValue},
		{must(stages.HoistField("hoist", "line")), "", "", stream.StructuredValue},
		{must(stages.ValueToKey("vtk", []string{"id"})), "needs structured values", "", stream.StructuredValue},
		{must(stages.Unwrap("unwrap", stages.UnwrapConfig{})), "Debezium change events", `"before" and "after"`, stream.StructuredValue},
		{must(stages.ParseJSON("parse")), "", "already are structured values", stream.StructuredValue},
		{must(stages.FormatJSON("format")), "", "", stream.StringValue},
		{must(stages.InsertHeader("hdr", "k", nil)), "", "", stream.StructuredValue},
		{must(stages.DropHeaders("drop", "k")), "", "", stream.StructuredValue},
		{must(stages.RegexRouter("route", "(.*)", "x-$1")), "", "", stream.StructuredValue},
		{must(stages.HeaderFromValue("hfv", stages.HeaderFromConfig{Fields: []string{"id"}, Headers: []string{"id"}, Operation: stages.HeaderCopy})), "needs structured values", "", stream.StructuredValue},
		{must(stages.When("when", stages.RecordIsTombstone(), must(stages.MaskField("m", stages.MaskFieldConfig{Fields: []string{"email"}})))), "needs structured values", "", stream.StructuredValue},
		{must(stages.FilterWhere("fw", stages.RecordIsTombstone())), "", "", stream.StructuredValue},
		{stages.MapValue("typed", func(_ context.Context, o shapeOrder) (shapeOrder, error) { return o, nil }), "", "", stream.StructuredValue},
		{stages.MapValue("typed-text", func(_ context.Context, s string) (string, error) { return s, nil }), "", "its function takes text", stream.StringValue},
	} {
		shaped, ok := tc.stage.(stages.Shaped)
		if !ok {
			t.Errorf("%s: not Shaped", tc.stage.Name())
			continue
		}
		check := func(in stream.Shape, want string) {
			err := shaped.Accepts(in)
			switch {
			case want == "" && err != nil:
				t.Errorf("%s refuses %s: %v", tc.stage.Name(), in.Value, err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, stages.ErrShapeNeeded)):
				t.Errorf("%s on %s: error %v, want one containing %q", tc.stage.Name(), in.Value, err, want)
			}
		}
		check(text, tc.text)
		check(rows, tc.rows)
		check(unknown, "")
		if got := shaped.Produces(rows); got.Value != tc.produces || !got.KeysIdentify {
			t.Errorf("%s produces %+v from %+v, want %s with keys that identify", tc.stage.Name(), got, rows, tc.produces)
		}
	}
	// ReplaceField's output fields follow its configuration.
	rf := must(stages.ReplaceField("rf", stages.ReplaceFieldConfig{Exclude: []string{"email"}, Renames: map[string]string{"id": "order_id"}}))
	if got := rf.(stages.Shaped).Produces(rows).Fields; strings.Join(got, ",") != "order_id" {
		t.Errorf("ReplaceField produces fields %v, want [order_id]", got)
	}
}
