package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
)

// FieldDifference is one field whose value differs: its dotted path and both values as JSON text (empty
// when the field is absent on that side).
type FieldDifference struct {
	Field  string `json:"field"`
	Source string `json:"source"` // what the pipeline writes for the row
	Index  string `json:"index"`  // what the index holds
}

// decodeJSON decodes a document keeping numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// diffDocuments compares two documents and returns the fields that differ, sorted by path. Objects are
// compared field by field (nested objects by dotted paths), numbers by exact decimal value, arrays and
// everything else as whole values.
func diffDocuments(want, got any) []FieldDifference {
	var out []FieldDifference
	diffValue("", want, got, &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func diffValue(path string, want, got any, out *[]FieldDifference) {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		keys := make([]string, 0, len(wm)+len(gm))
		for k := range wm {
			keys = append(keys, k)
		}
		for k := range gm {
			if _, ok := wm[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			w, inW := wm[k]
			g, inG := gm[k]
			switch {
			case !inW:
				*out = append(*out, FieldDifference{Field: p, Index: jsonText(g)})
			case !inG:
				*out = append(*out, FieldDifference{Field: p, Source: jsonText(w)})
			default:
				diffValue(p, w, g, out)
			}
		}
		return
	}
	if !equalJSON(want, got) {
		*out = append(*out, FieldDifference{Field: path, Source: jsonText(want), Index: jsonText(got)})
	}
}

// equalJSON reports whether two decoded JSON values are equal, numbers by exact decimal value.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, okx := new(big.Rat).SetString(string(x))
		ry, oky := new(big.Rat).SetString(string(y))
		return okx && oky && rx.Cmp(ry) == 0
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
