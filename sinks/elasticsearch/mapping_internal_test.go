package elasticsearch

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

func TestDiffMapping(t *testing.T) {
	var derived, existing map[string]any
	_ = json.Unmarshal([]byte(`{"properties":{
		"amount":{"type":"scaled_float","scaling_factor":100},
		"price":{"type":"scaled_float","scaling_factor":100},
		"created_at":{"type":"date"},
		"customer":{"properties":{"id":{"type":"long"},"name":{"type":"text"}}},
		"attrs":{"type":"object"},
		"new":{"type":"keyword"}}}`), &derived)
	_ = json.Unmarshal([]byte(`{"properties":{
		"amount":{"type":"float"},
		"price":{"type":"scaled_float","scaling_factor":1000},
		"created_at":{"type":"long"},
		"customer":{"properties":{"id":{"type":"long"}}},
		"attrs":{"type":"keyword"}}}`), &existing)
	add, conflicts := diffMapping(derived, existing)
	got, _ := json.Marshal(add)
	if string(got) != `{"customer":{"properties":{"name":{"type":"text"}}},"new":{"type":"keyword"}}` {
		t.Errorf("fields to add: %s", got)
	}
	var lines []string
	for _, c := range conflicts {
		lines = append(lines, fmt.Sprintf("%s: %s -> %s", c.Field, c.Existing, c.Wanted))
	}
	slices.Sort(lines)
	want := []string{
		"amount: float -> scaled_float (scaling_factor 100)",
		"attrs: keyword -> object",
		"created_at: long -> date",
		"price: scaled_float (scaling_factor 1000) -> scaled_float (scaling_factor 100)",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("conflicts\n got  %q\n want %q", lines, want)
	}
	if add, conflicts := diffMapping(derived, derived); add != nil || conflicts != nil {
		t.Errorf("a mapping differs from itself: %v %v", add, conflicts)
	}
}

func TestSameMappingIgnoresWhatTheMappingIgnores(t *testing.T) {
	a := stream.NewStruct("o").Field("amount", stream.DecimalSchema(2).WithParameter(decimalPrecisionParameter, "12")).MustBuild()
	b := stream.NewStruct("o").Field("amount", stream.DecimalSchema(2).WithParameter(decimalPrecisionParameter, "12").AsOptional().WithDoc("d")).Version(3).MustBuild()
	c := stream.NewStruct("o").Field("amount", stream.DecimalSchema(3).WithParameter(decimalPrecisionParameter, "12")).MustBuild()
	d := stream.NewStruct("o").Field("amount", stream.DecimalSchema(2).WithParameter(decimalPrecisionParameter, "16")).MustBuild()
	e := stream.NewStruct("o").Field("total", stream.DecimalSchema(2).WithParameter(decimalPrecisionParameter, "12")).MustBuild()
	if !sameMapping(a, b) {
		t.Error("optionality, doc and version changed the mapping")
	}
	for i, other := range []*stream.Schema{c, d, e} {
		if sameMapping(a, other) {
			t.Errorf("case %d: a different scale, precision or field name kept the mapping", i)
		}
	}
}

func TestFromTwosComplement(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want string
	}{{nil, "0"}, {[]byte{0x7f}, "127"}, {[]byte{0x80}, "-128"}, {[]byte{0xff}, "-1"}, {[]byte{0x00, 0xff}, "255"},
		{[]byte{0xf8, 0xa4, 0x32, 0xeb}, "-123456789"}} {
		if got := fromTwosComplement(c.b).String(); got != c.want {
			t.Errorf("%x: %s, want %s", c.b, got, c.want)
		}
	}
}
