package stages_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// FuzzMapValueKeepsFields feeds JSON text to an identity MapValue: it never panics, every error names the
// stage and wraps one of the documented errors, and a record that comes out has every field path of the
// input (names compared ignoring case, as Go field names match; an omitempty field's empty value may be
// absent).
//
//	go test -run '^$' -fuzz FuzzMapValueKeepsFields -fuzztime 30s ./stages
func FuzzMapValueKeepsFields(f *testing.F) {
	for _, seed := range []string{
		`{"id":1,"amount":12.5,"customer":{"name":"Ada"}}`,
		`{"id":1,"amount":12.50,"customer":{"name":"Ada","email":"a@b"},"channel":"web","tags":["a"]}`,
		`{"ID":9007199254740993,"Amount":1e400,"customer":{"NAME":"x"},"note":null,"coupon":""}`,
		`{"id":1.0,"amount":"1","customer":[],"x":{"y":[1,{"z":2}]}}`,
		`[1,2]`, `"text"`, `null`, `{`,
	} {
		f.Add(seed)
	}
	identity := stages.MapValue("fuzz", func(_ context.Context, p tcPayment) (tcPayment, error) { return p, nil })
	f.Fuzz(func(t *testing.T, text string) {
		out, err := identity.Process(context.Background(), stream.Record{Value: text})
		if err != nil {
			if !strings.HasPrefix(err.Error(), `stage "fuzz": `) ||
				!(errors.Is(err, stages.ErrFieldType) || errors.Is(err, stages.ErrMissingField) || errors.Is(err, stages.ErrUnknownField)) {
				t.Fatalf("error %v: does not name the stage or wrap a documented error", err)
			}
			return
		}
		_, in, err := (stream.JSONCodec{}).Decode([]byte(text))
		if err != nil {
			t.Fatalf("the stage took %q, which the json codec refuses: %v", text, err)
		}
		outPaths := map[string]bool{}
		for p := range leafPaths(out[0].Value) {
			outPaths[strings.ToLower(p)] = true
		}
		for p, v := range leafPaths(in) {
			if lp := strings.ToLower(p); !outPaths[lp] && !(lp == "coupon" && (v == nil || v == "")) && !hasPrefixPath(outPaths, lp) {
				t.Fatalf("field %s of %s lost: output %v", p, text, out[0].Value)
			}
		}
	})
}

// hasPrefixPath reports whether some output path lies below p: an empty input container whose output
// holds more (a struct's zero fields) is not lost.
func hasPrefixPath(paths map[string]bool, p string) bool {
	for q := range paths {
		if strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[") {
			return true
		}
	}
	return false
}
