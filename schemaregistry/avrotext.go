package schemaregistry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// normalizeAvro returns the normalized text of the Avro schema text, which parsed is: hamba/avro's JSON form
// of parsed (full names, no whitespace), in which every field default is replaced by the default exactly as
// text writes it. hamba/avro's own form does not keep every default: it reads numbers as float64 (a long
// default 9223372036854775807 comes out as -9223372036854775808) and writes bytes and fixed defaults
// (decimals too) in base64. Confluent's registry keeps them exactly (Java Avro's JSON form), and so does this
// one: a reader that fills a missing field from the served schema gets the writer's default.
//
// When hamba/avro's form cannot be matched field for field with text, or the result does not parse back to
// the same schema, the normalized text is text compacted (whitespace removed, nothing else changed).
func normalizeAvro(text string, parsed avro.Schema) (string, error) {
	original, err := decodeOrdered(text)
	if err != nil {
		return "", fmt.Errorf("the schema is not JSON: %v", err)
	}
	if form, err := json.Marshal(parsed); err == nil {
		if normalized, err := decodeOrdered(string(form)); err == nil && copyDefaults(normalized, original) {
			if out, err := json.Marshal(normalized); err == nil {
				if again, err := parseAvro(string(out)); err == nil && again.Fingerprint() == parsed.Fingerprint() {
					return string(out), nil
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// copyDefaults walks the schema normalized (hamba/avro's form) and original (as written) side by side and
// sets each field default of normalized to original's value. It returns false where the two do not match.
func copyDefaults(normalized, original any) bool {
	if o, ok := original.(orderedObject); ok {
		if inner, ok := o.get("type"); ok {
			if _, isName := inner.(string); !isName { // {"type": {...}} or {"type": [...]} wraps a schema
				return copyDefaults(normalized, inner)
			}
		}
	}
	switch n := normalized.(type) {
	case string: // a primitive or a reference to a named type: no field below
		return true
	case []any: // a union
		o, ok := original.([]any)
		if !ok || len(o) != len(n) {
			return false
		}
		for i := range n {
			if !copyDefaults(n[i], o[i]) {
				return false
			}
		}
		return true
	case orderedObject:
		o, ok := original.(orderedObject)
		if !ok {
			return false
		}
		kind, _ := n.get("type")
		switch kind {
		case "record", "error":
			nf, _ := n.get("fields")
			of, _ := o.get("fields")
			nfields, ok1 := nf.([]any)
			ofields, ok2 := of.([]any)
			if !ok1 || !ok2 || len(nfields) != len(ofields) {
				return false
			}
			for i := range nfields {
				nfield, ok1 := nfields[i].(orderedObject)
				ofield, ok2 := ofields[i].(orderedObject)
				if !ok1 || !ok2 {
					return false
				}
				nt, _ := nfield.get("type")
				ot, _ := ofield.get("type")
				if !copyDefaults(nt, ot) {
					return false
				}
				if d, ok := ofield.get("default"); ok && !nfield.set("default", d) {
					return false
				}
			}
		case "array":
			ni, _ := n.get("items")
			oi, _ := o.get("items")
			return copyDefaults(ni, oi)
		case "map":
			nv, _ := n.get("values")
			ov, _ := o.get("values")
			return copyDefaults(nv, ov)
		}
		return true
	}
	return false
}

// orderedObject is a JSON object with its members in the order written; json.Marshal writes them in that
// order. Its values are orderedObject, []any, string, json.Number, bool or nil.
type orderedObject []objectMember

type objectMember struct {
	name  string
	value any
}

func (o orderedObject) get(name string) (any, bool) {
	for _, m := range o {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// set replaces the value of an existing member; it returns false when o has no member name.
func (o orderedObject) set(name string, value any) bool {
	for i := range o {
		if o[i].name == name {
			o[i].value = value
			return true
		}
	}
	return false
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, err := json.Marshal(m.name)
		if err != nil {
			return nil, err
		}
		value, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// decodeOrdered decodes one JSON value, objects as orderedObject and numbers as json.Number (as written).
func decodeOrdered(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch delim {
	case '{':
		obj := orderedObject{}
		for dec.More() {
			name, err := dec.Token()
			if err != nil {
				return nil, err
			}
			value, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, objectMember{name: name.(string), value: value})
		}
		_, err := dec.Token()
		return obj, err
	case '[':
		arr := []any{}
		for dec.More() {
			value, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, value)
		}
		_, err := dec.Token()
		return arr, err
	}
	return nil, fmt.Errorf("unexpected %v", delim)
}
