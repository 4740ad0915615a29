package stages_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// The types of the acceptance test for typed stages: required scalars, optional fields of each kind, a
// nested struct, and an array of structs.
type tcCustomer struct {
	Name string `json:"name"`
}

type tcPayment struct {
	ID       int64      `json:"id"`
	Amount   float64    `json:"amount"`
	Note     *string    `json:"note"`             // optional: pointer
	Tags     []string   `json:"tags"`             // optional: slice
	Coupon   string     `json:"coupon,omitempty"` // optional: omitempty
	Customer tcCustomer `json:"customer"`
}

type tcLine struct {
	SKU string `json:"sku"`
	Qty int32  `json:"qty"`
}

type tcBasket struct {
	ID    int64    `json:"id"`
	Lines []tcLine `json:"lines"`
}

// typedCase is one input of the acceptance test and what every typed stage must do with it.
type typedCase struct {
	name    string
	value   map[string]any
	unknown []string // fields the Go type does not declare
	// inArray: the unknown fields lie inside array elements, which KeepUnknownFields cannot carry into a
	// MapValue or FlatMapValue result.
	inArray bool
	// omitted: known fields whose null input value an omitempty tag writes as absent (documented).
	omitted []string
	err     error  // the conversion error every stage and option must return, nil for none
	msg     string // its text after `stage "<name>": `
}

func payment(edit func(m map[string]any)) map[string]any {
	m := map[string]any{"id": int64(1), "amount": 12.5, "customer": map[string]any{"name": "Ada"}}
	if edit != nil {
		edit(m)
	}
	return m
}

var paymentCases = []typedCase{
	{name: "all fields", value: payment(func(m map[string]any) {
		m["note"], m["tags"], m["coupon"] = "gift", []any{"a", "b"}, "WELCOME"
	})},
	{name: "extra field", value: payment(func(m map[string]any) { m["channel"] = "web" }), unknown: []string{"channel"}},
	{name: "extra nested field", value: payment(func(m map[string]any) { m["customer"].(map[string]any)["email"] = "ada@example.com" }),
		unknown: []string{"customer.email"}},
	{name: "extra fields at two levels", value: payment(func(m map[string]any) {
		m["channel"], m["customer"].(map[string]any)["vip"] = "web", true
	}), unknown: []string{"channel", "customer.vip"}},
	{name: "optional fields missing", value: payment(nil)},
	{name: "optional fields null", value: payment(func(m map[string]any) { m["note"], m["tags"], m["coupon"] = nil, nil, nil }),
		omitted: []string{"coupon"}},
	{name: "required field missing", value: payment(func(m map[string]any) { delete(m, "amount") }),
		err: stages.ErrMissingField, msg: "field amount: missing (make the Go field a pointer or tag it omitempty if it is optional)"},
	{name: "two required fields missing", value: payment(func(m map[string]any) { delete(m, "amount"); delete(m, "id") }),
		err: stages.ErrMissingField, msg: "value: fields id, amount: missing (make the Go fields pointers or tag them omitempty if they are optional)"},
	{name: "nested required field missing", value: payment(func(m map[string]any) { m["customer"] = map[string]any{} }),
		err: stages.ErrMissingField, msg: "field customer.name: missing (make the Go field a pointer or tag it omitempty if it is optional)"},
	{name: "required field null", value: payment(func(m map[string]any) { m["amount"] = nil }),
		err: stages.ErrFieldType, msg: "field amount: is null, want a number (float64)"},
	{name: "string for number", value: payment(func(m map[string]any) { m["amount"] = "12x" }),
		err: stages.ErrFieldType, msg: `field amount: is a string ("12x"), want a number (float64)`},
	{name: "number for string", value: payment(func(m map[string]any) { m["customer"] = map[string]any{"name": int64(5)} }),
		err: stages.ErrFieldType, msg: "field customer.name: is a number (5), want a string (string)"},
	{name: "object for scalar", value: payment(func(m map[string]any) { m["id"] = map[string]any{"value": int64(1)} }),
		err: stages.ErrFieldType, msg: "field id: is an object, want an integer (int64)"},
	{name: "scalar for nested struct", value: payment(func(m map[string]any) { m["customer"] = "Ada" }),
		err: stages.ErrFieldType, msg: `field customer: is a string ("Ada"), want an object (tcCustomer)`},
	{name: "array for nested struct", value: payment(func(m map[string]any) { m["customer"] = []any{"Ada"} }),
		err: stages.ErrFieldType, msg: "field customer: is an array, want an object (tcCustomer)"},
	{name: "fraction for integer", value: payment(func(m map[string]any) { m["id"] = 1.5 }),
		err: stages.ErrFieldType, msg: "field id: is a number (1.5) with a fraction, want an integer (int64)"},
	{name: "wrong type in an array", value: payment(func(m map[string]any) { m["tags"] = []any{"a", true} }),
		err: stages.ErrFieldType, msg: "field tags[1]: is a boolean (true), want a string (string)"},
}

var basketCases = []typedCase{
	{name: "extra field beside an array", value: map[string]any{"id": int64(1), "lines": []any{map[string]any{"sku": "x", "qty": int32(2)}}, "shop": "north"},
		unknown: []string{"shop"}},
	{name: "extra field inside an array element", value: map[string]any{"id": int64(1), "lines": []any{
		map[string]any{"sku": "x", "qty": int32(2)}, map[string]any{"sku": "y", "qty": int32(1), "gift": true}}},
		unknown: []string{"lines[1].gift"}, inArray: true},
	{name: "required field missing in an array element", value: map[string]any{"id": int64(1), "lines": []any{map[string]any{"sku": "x"}}},
		err: stages.ErrMissingField, msg: "field lines[0].qty: missing (make the Go field a pointer or tag it omitempty if it is optional)"},
	{name: "integer out of range in an array element", value: map[string]any{"id": int64(1), "lines": []any{map[string]any{"sku": "x", "qty": int64(1) << 40}}},
		err: stages.ErrFieldType, msg: "field lines[0].qty: is a number (1099511627776), out of the range of int32"},
}

// typedStagesOf returns each typed stage over T, as an identity (FlatMapValue emits each value twice).
func typedStagesOf[T any](opts ...stages.TypedOption) []stages.Stage {
	return []stages.Stage{
		stages.MapValue("map", func(_ context.Context, v T) (T, error) { return v, nil }, opts...),
		stages.FlatMapValue("flat-map", func(_ context.Context, v T) ([]T, error) { return []T{v, v}, nil }, opts...),
		stages.FilterValue("filter", func(T) bool { return true }, opts...),
		stages.RouteValue("route", func(T) string { return "routed" }, opts...),
	}
}

// TestTypedStagesNeverDropFields is acceptance 3 of issue 23: every case, through every typed stage under
// every unknown-field option, is carried, refused or errored as typed.go documents, and whenever a record
// comes out, its value has every field of the input (except the unknown ones under DropUnknownFields, the
// documented explicit loss) with the same value.
func TestTypedStagesNeverDropFields(t *testing.T) {
	policies := []struct {
		name string
		opt  stages.TypedOption
	}{{"keep (default)", nil}, {"KeepUnknownFields", stages.KeepUnknownFields()}, {"RefuseUnknownFields", stages.RefuseUnknownFields()}, {"DropUnknownFields", stages.DropUnknownFields()}}
	for _, p := range policies {
		for _, c := range paymentCases {
			runTypedCase(t, p.name, p.opt, c, typedStagesOf[tcPayment])
		}
		for _, c := range basketCases {
			runTypedCase(t, p.name, p.opt, c, typedStagesOf[tcBasket])
		}
	}
}

func runTypedCase(t *testing.T, policy string, opt stages.TypedOption, c typedCase, build func(...stages.TypedOption) []stages.Stage) {
	var opts []stages.TypedOption
	if opt != nil {
		opts = append(opts, opt)
	}
	for _, s := range build(opts...) {
		t.Run(fmt.Sprintf("%s/%s/%s", policy, c.name, s.Name()), func(t *testing.T) {
			in := stream.Record{Key: "k", Value: c.value}
			inPaths := leafPaths(c.value)
			out, err := s.Process(context.Background(), in)
			produces := s.Name() == "map" || s.Name() == "flat-map"
			switch {
			case c.err != nil:
				want := fmt.Sprintf("stage %q: %s", s.Name(), c.msg)
				if !errors.Is(err, c.err) || err.Error() != want {
					t.Fatalf("error %v\n want %s (wrapping %v)", err, want, c.err)
				}
				return
			case len(c.unknown) > 0 && policy == "RefuseUnknownFields":
				if !errors.Is(err, stages.ErrUnknownField) {
					t.Fatalf("error %v, want ErrUnknownField", err)
				}
				for _, u := range c.unknown {
					if !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), fmt.Sprintf("stage %q", s.Name())) {
						t.Errorf("error %q does not name the stage and field %s", err, u)
					}
				}
				return
			case len(c.unknown) > 0 && c.inArray && produces && policy != "DropUnknownFields":
				if !errors.Is(err, stages.ErrUnknownField) || !strings.Contains(err.Error(), c.unknown[0]) || !strings.Contains(err.Error(), "cannot be carried") {
					t.Fatalf("error %v, want ErrUnknownField naming %s as not carriable", err, c.unknown[0])
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !produces {
				if len(out) != 1 || !reflect.DeepEqual(out[0].Value, c.value) {
					t.Fatalf("the record did not pass unchanged: %#v", out)
				}
				return
			}
			if s.Name() == "flat-map" && len(out) != 2 {
				t.Fatalf("flat-map emitted %d records, want 2", len(out))
			}
			for _, o := range out {
				outPaths := leafPaths(o.Value)
				for path, v := range inPaths {
					dropped := policy == "DropUnknownFields" && slices.Contains(c.unknown, path) || slices.Contains(c.omitted, path)
					got, ok := outPaths[path]
					switch {
					case dropped && ok:
						t.Errorf("field %s: kept, want it dropped", path)
					case !dropped && !ok:
						t.Errorf("field %s: lost (output %v)", path, o.Value)
					case !dropped && !reflect.DeepEqual(got, v):
						t.Errorf("field %s: %#v became %#v", path, v, got)
					}
				}
			}
		})
	}
}

// leafPaths maps the path of every scalar (and empty container) in v to its value.
func leafPaths(v any) map[string]any {
	paths := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				paths[prefix] = x
			}
			for k, e := range x {
				if prefix == "" {
					walk(k, e)
				} else {
					walk(prefix+"."+k, e)
				}
			}
		case []any:
			if len(x) == 0 {
				paths[prefix] = x
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		default:
			paths[prefix] = v
		}
	}
	walk("", v)
	return paths
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type tcSummary struct {
	ID    int64   `json:"id"`
	Total float64 `json:"total"`
}

// When Out is another type than In, the fields In does not declare are carried at their paths, parents
// created; the fields In declares and Out leaves out are the stage's choice.
func TestMapValueCarriesIntoAnotherType(t *testing.T) {
	summarize := stages.MapValue("summarize", func(_ context.Context, p tcPayment) (tcSummary, error) {
		return tcSummary{ID: p.ID, Total: p.Amount * 1.2}, nil
	})
	in := payment(func(m map[string]any) {
		m["channel"] = "web"
		m["customer"].(map[string]any)["email"] = "ada@example.com"
	})
	out, err := summarize.Process(context.Background(), stream.Record{Value: in})
	if err != nil {
		t.Fatal(err)
	}
	got := leafPaths(out[0].Value)
	want := map[string]any{"id": int64(1), "total": 12.5 * 1.2, "channel": "web", "customer.email": "ada@example.com"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}

	// What the stage sets wins over a carried field of the same name.
	setsChannel := stages.MapValue("sets-channel", func(_ context.Context, p tcCustomer) (map[string]any, error) {
		return map[string]any{"name": p.Name, "channel": "api"}, nil
	})
	out, err = setsChannel.Process(context.Background(), stream.Record{Value: map[string]any{"name": "Ada", "channel": "web", "age": int64(36)}})
	if err != nil || !reflect.DeepEqual(out[0].Value, map[string]any{"name": "Ada", "channel": "api", "age": int64(36)}) {
		t.Fatalf("got %v, %v", out, err)
	}

	// A result that holds a non-object where a carried field's parent should be cannot take it.
	type flat struct {
		Customer string `json:"customer"`
	}
	flatten := stages.MapValue("flatten", func(_ context.Context, p tcPayment) (flat, error) { return flat{Customer: p.Customer.Name}, nil })
	_, err = flatten.Process(context.Background(), stream.Record{Value: in})
	want2 := `stage "flatten": field customer.email (the result's customer is a string ("Ada"), not an object): not declared by tcPayment and cannot be carried into the result; declare it in tcPayment, or build the stage with DropUnknownFields or RefuseUnknownFields`
	if !errors.Is(err, stages.ErrUnknownField) || err.Error() != want2 {
		t.Fatalf("error %v\nwant %s", err, want2)
	}

	// A result that is not an object replaces the value whole.
	label := stages.MapValue("label", func(_ context.Context, p tcPayment) (string, error) { return p.Customer.Name, nil })
	if out, err := label.Process(context.Background(), stream.Record{Value: in}); err != nil || out[0].Value != "Ada" {
		t.Fatalf("got %v, %v", out, err)
	}
}

// Records with a schema (a *stream.Struct value) convert field by field too; their unknown fields are
// carried as data-model values and the result is schemaless.
func TestTypedStagesOnStructs(t *testing.T) {
	customer := stream.NewStruct("customer").Field("name", stream.StringSchema()).Field("email", stream.StringSchema().AsOptional()).MustBuild()
	schema := stream.NewStruct("payment").Field("id", stream.Int64Schema()).Field("amount", stream.DecimalSchema(2)).
		Field("customer", customer).Field("channel", stream.StringSchema()).MustBuild()
	c, _ := stream.NewStructValue(customer)
	_ = c.Put("name", "Ada")
	_ = c.Put("email", "ada@example.com")
	st, _ := stream.NewStructValue(schema)
	_ = st.Put("id", int64(1))
	_ = st.Put("amount", stream.NewDecimal(1250, 2))
	_ = st.Put("customer", c)
	_ = st.Put("channel", "web")

	double := stages.MapValue("double", func(_ context.Context, p tcPayment) (tcPayment, error) {
		p.Amount *= 2
		return p, nil
	})
	out, err := double.Process(context.Background(), stream.Record{Value: st, ValueSchema: schema})
	if err != nil {
		t.Fatal(err)
	}
	got := leafPaths(out[0].Value)
	want := map[string]any{"id": int64(1), "amount": 25.0, "customer.name": "Ada", "customer.email": "ada@example.com",
		"channel": "web", "note": nil, "tags": nil}
	if !reflect.DeepEqual(got, want) || out[0].ValueSchema != nil {
		t.Fatalf("got %v (schema %v)\nwant %v", got, out[0].ValueSchema, want)
	}

	strict := stages.FilterValue("strict", func(tcPayment) bool { return true }, stages.RefuseUnknownFields())
	_, err = strict.Process(context.Background(), stream.Record{Value: st, ValueSchema: schema})
	if want := `stage "strict": fields customer.email, channel: not declared by tcPayment (the stage refuses unknown fields)`; err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}

// The filter: a record without amount used to pass a filter as amount 0.
func TestFilterValueRefusesMissingField(t *testing.T) {
	type order struct {
		Amount float64 `json:"amount"`
	}
	highValue := stages.FilterValue("high-value", func(o order) bool { return o.Amount < 100 })
	_, err := highValue.Process(context.Background(), stream.Record{Value: map[string]any{"id": int64(1)}})
	if !errors.Is(err, stages.ErrMissingField) || !strings.Contains(err.Error(), `stage "high-value": field amount: missing`) {
		t.Fatalf("error %v", err)
	}
	_, err = highValue.Process(context.Background(), stream.Record{Value: `{"amount":"12x"}`})
	if want := `stage "high-value": field amount: is a string ("12x"), want a number (float64)`; err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	_, err = highValue.Process(context.Background(), stream.Record{Value: nil})
	if want := `stage "high-value": value: is null, want an object (order)`; err == nil || err.Error() != want {
		t.Fatalf("tombstone: error %v\nwant %s", err, want)
	}
	// A pointer In receives tombstones as nil.
	tombstones := stages.FilterValue("tombstones", func(o *order) bool { return o == nil })
	if out, err := tombstones.Process(context.Background(), stream.Record{Value: nil}); err != nil || len(out) != 1 {
		t.Fatalf("pointer In: %v, %v", out, err)
	}
}

type tcNumbers struct {
	Big    int64          `json:"big"`
	Exact  json.Number    `json:"exact"`
	Dec    stream.Decimal `json:"dec"`
	Float  float64        `json:"float"`
	Whole  int32          `json:"whole"`
	Huge   uint64         `json:"huge"`
	Choice float64        `json:"choice,omitempty"`
}

// Numbers keep their digits into int64, json.Number and stream.Decimal fields, from every form the data
// model and JSON text give them, and back out of the stage.
func TestTypedStagesKeepDigits(t *testing.T) {
	huge, _ := new(big.Int).SetString("18446744073709551615", 10)
	exact, _ := stream.ParseDecimal("1234567890123456789.12")
	inputs := map[string]any{
		"data model": map[string]any{"big": int64(9007199254740993), "exact": exact, "dec": json.Number("2.00"),
			"float": stream.NewDecimal(1, 1), "whole": 2.0, "huge": stream.Decimal{Unscaled: huge}},
		"JSON text": `{"big":9007199254740993,"exact":1234567890123456789.12,"dec":2.00,"float":0.1,"whole":2.0,"huge":18446744073709551615}`,
	}
	identity := stages.MapValue("identity", func(_ context.Context, n tcNumbers) (tcNumbers, error) { return n, nil })
	for name, v := range inputs {
		out, err := identity.Process(context.Background(), stream.Record{Value: v})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m := out[0].Value.(map[string]any)
		if m["big"] != int64(9007199254740993) || m["whole"] != int32(2) || m["float"] != 0.1 {
			t.Errorf("%s: big %v whole %#v float %v", name, m["big"], m["whole"], m["float"])
		}
		if d, ok := m["exact"].(stream.Decimal); !ok || d.String() != "1234567890123456789.12" {
			t.Errorf("%s: exact %#v", name, m["exact"])
		}
		if d, ok := m["dec"].(stream.Decimal); !ok || d.String() != "2.00" {
			t.Errorf("%s: dec %#v", name, m["dec"])
		}
		if d, ok := m["huge"].(stream.Decimal); !ok || d.String() != "18446744073709551615" {
			t.Errorf("%s: huge %#v", name, m["huge"])
		}
		raw, err := stream.JSONCodec{}.Encode(nil, m)
		if err != nil || !strings.Contains(string(raw), `"exact":1234567890123456789.12`) || !strings.Contains(string(raw), `"big":9007199254740993`) {
			t.Errorf("%s: encoded %s, %v", name, raw, err)
		}
	}
}

// Field names match as encoding/json matches them: tag name, else Go name, exactly or ignoring case;
// embedded structs are promoted.
func TestTypedStagesFieldNames(t *testing.T) {
	type Audit struct {
		CreatedBy string
	}
	type row struct {
		Audit
		ID      int64 `json:"id"`
		Comment string
		Ignored string `json:"-"`
	}
	identity := stages.MapValue("identity", func(_ context.Context, r row) (row, error) { return r, nil })
	out, err := identity.Process(context.Background(), stream.Record{Value: map[string]any{
		"id": int64(3), "comment": "hi", "CreatedBy": "ops", "Ignored": "kept"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": int64(3), "Comment": "hi", "CreatedBy": "ops", "Ignored": "kept"}
	if !reflect.DeepEqual(out[0].Value, want) {
		t.Fatalf("got %v\nwant %v (keys %v)", out[0].Value, want, sortedKeys(out[0].Value.(map[string]any)))
	}
}

// Each result of a FlatMapValue gets its own copy of the carried fields: records never share a map.
func TestFlatMapValueCarriedFieldsAreNotShared(t *testing.T) {
	split := stages.FlatMapValue("split", func(_ context.Context, c tcCustomer) ([]tcCustomer, error) { return []tcCustomer{c, c}, nil })
	out, err := split.Process(context.Background(), stream.Record{Value: map[string]any{"name": "Ada", "meta": map[string]any{"a": int64(1)}}})
	if err != nil || len(out) != 2 {
		t.Fatal(out, err)
	}
	out[0].Value.(map[string]any)["meta"].(map[string]any)["a"] = int64(2)
	if got := out[1].Value.(map[string]any)["meta"].(map[string]any)["a"]; got != int64(1) {
		t.Fatalf("the second record's carried field changed with the first's: %v", got)
	}
}

// Times, raw JSON, interfaces and maps of the Go type take their values as the package documents.
func TestTypedStagesOtherTypes(t *testing.T) {
	type event struct {
		At    time.Time       `json:"at"`
		Seen  time.Time       `json:"seen"`
		Raw   json.RawMessage `json:"raw"`
		Any   any             `json:"any"`
		Count map[string]int  `json:"count"`
		Tags  [2]string       `json:"tags"`
		Blob  []byte          `json:"blob"`
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var got event
	capture := stages.FilterValue("capture", func(e event) bool { got = e; return true })
	dec := stream.NewDecimal(1250, 2)
	_, err := capture.Process(context.Background(), stream.Record{Value: map[string]any{
		"at": at, "seen": "2026-11-30T12:00:00Z", "raw": map[string]any{"x": dec}, "any": dec,
		"count": map[string]any{"a": int64(1)}, "tags": []any{"x", "y"}, "blob": []byte("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if !got.At.Equal(at) || !got.Seen.Equal(at) || string(got.Raw) != `{"x":12.50}` || !reflect.DeepEqual(got.Any, dec) ||
		got.Count["a"] != 1 || got.Tags != [2]string{"x", "y"} || string(got.Blob) != "hi" {
		t.Fatalf("got %+v", got)
	}
	_, err = capture.Process(context.Background(), stream.Record{Value: map[string]any{
		"at": int64(5), "seen": at, "raw": nil, "any": nil, "count": nil, "tags": []any{"x", "y"}, "blob": nil}})
	if want := `stage "capture": field at: is a number (5), want a timestamp (time.Time)`; err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	_, err = capture.Process(context.Background(), stream.Record{Value: map[string]any{
		"at": at, "seen": at, "raw": nil, "any": nil, "count": nil, "tags": []any{"x"}, "blob": nil}})
	if want := `stage "capture": field tags: is an array of 1 items, want 2 ([2]string)`; err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}

// A time.Time result is written as encoding/json writes it, with all its digits; ",string" fields read and
// write their number inside a string.
func TestTypedStagesTimesAndQuotedNumbers(t *testing.T) {
	type row struct {
		At time.Time `json:"at"`
		ID int64     `json:"id,string"`
		OK bool      `json:"ok,string"`
	}
	identity := stages.MapValue("identity", func(_ context.Context, r row) (row, error) { return r, nil })
	out, err := identity.Process(context.Background(), stream.Record{Value: `{"at":"2026-11-30T12:00:00.123456789+01:00","id":"9007199254740993","ok":"true"}`})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"at": "2026-11-30T12:00:00.123456789+01:00", "id": "9007199254740993", "ok": "true"}
	if !reflect.DeepEqual(out[0].Value, want) {
		t.Fatalf("got %#v\nwant %#v", out[0].Value, want)
	}
	_, err = identity.Process(context.Background(), stream.Record{Value: `{"at":"2026-11-30T12:00:00Z","id":"12x","ok":"true"}`})
	if want := `stage "identity": field id: is a string ("12x"), want an integer (int64)`; err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}

// Decimal and json.Number fields take a number held in a string (Debezium's decimal.handling.mode=string),
// exactly, as encoding/json takes one into json.Number; float fields do not.
func TestTypedStagesDecimalStrings(t *testing.T) {
	type price struct {
		Exact stream.Decimal `json:"exact"`
		Text  json.Number    `json:"text"`
	}
	var got price
	capture := stages.FilterValue("capture", func(p price) bool { got = p; return true })
	if _, err := capture.Process(context.Background(), stream.Record{Value: map[string]any{"exact": "1234567890123456789.120", "text": "0.10"}}); err != nil {
		t.Fatal(err)
	}
	if got.Exact.String() != "1234567890123456789.120" || got.Text != "0.10" {
		t.Fatalf("got %v %v", got.Exact, got.Text)
	}
	_, err := capture.Process(context.Background(), stream.Record{Value: map[string]any{"exact": "12x", "text": "1"}})
	if want := `stage "capture": field exact: is a string ("12x"), want a number (stream.Decimal)`; err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}
