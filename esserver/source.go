package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// orderedObject is a JSON object that keeps its key order, so that a partial update keeps the stored
// source's field order the way Elasticsearch's LinkedHashMap-based merge does. Values are
// *orderedObject or compacted json.RawMessage.
type orderedObject struct {
	keys []string
	vals map[string]any
}

func decodeOrdered(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeOrderedValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected content after JSON value")
	}
	return v, nil
}

func decodeOrderedValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok || d != '{' {
		if ok { // an array: re-encode it compactly
			var items []json.RawMessage
			for dec.More() {
				v, err := decodeOrderedValue(dec)
				if err != nil {
					return nil, err
				}
				b, _ := json.Marshal(v)
				items = append(items, b)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if items == nil {
				items = []json.RawMessage{}
			}
			b, _ := json.Marshal(items)
			return json.RawMessage(b), nil
		}
		b, _ := json.Marshal(tok)
		return json.RawMessage(b), nil
	}
	o := &orderedObject{vals: map[string]any{}}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := kt.(string)
		v, err := decodeOrderedValue(dec)
		if err != nil {
			return nil, err
		}
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return o, nil
}

// merge applies patch to o and reports whether anything changed.
func (o *orderedObject) merge(patch *orderedObject) bool {
	changed := false
	for _, k := range patch.keys {
		pv := patch.vals[k]
		old, exists := o.vals[k]
		if !exists {
			o.keys = append(o.keys, k)
			o.vals[k] = pv
			changed = true
			continue
		}
		oo, ok1 := old.(*orderedObject)
		po, ok2 := pv.(*orderedObject)
		if ok1 && ok2 {
			if oo.merge(po) {
				changed = true
			}
			continue
		}
		ob, _ := json.Marshal(old)
		nb, _ := json.Marshal(pv)
		if !bytes.Equal(ob, nb) {
			o.vals[k] = pv
			changed = true
		}
	}
	return changed
}

func (o *orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
