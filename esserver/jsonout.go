package esserver

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
)

// marshalJSON encodes a response body as Elasticsearch writes JSON: without Go's HTML escaping of <, >
// and & (a reason "terminateAfter must be > 0" stays readable), and without a trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// exceptionBody is an exception object of a response. It encodes its keys in the order
// ElasticsearchException.toXContent writes them (root_cause, type, reason, the metadata, caused_by),
// which clients and tests that match the error text with a regular expression rely on.
type exceptionBody map[string]any

var exceptionKeyOrder = []string{"root_cause", "type", "reason"}

func (m exceptionBody) MarshalJSON() ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(exceptionKeyOrder, k) && k != "caused_by" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var ordered []string
	for _, k := range exceptionKeyOrder {
		if _, ok := m[k]; ok {
			ordered = append(ordered, k)
		}
	}
	ordered = append(ordered, keys...)
	if _, ok := m["caused_by"]; ok {
		ordered = append(ordered, "caused_by")
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range ordered {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := marshalJSON(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshalJSON(m[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
