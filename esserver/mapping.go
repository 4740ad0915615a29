package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// fieldMapping is one entry of an index mapping: a leaf field with a type, or an object (Type "object"
// or "nested") with properties. The root of a mapping is an object.
type fieldMapping struct {
	Type        string
	Format      string // date formats, "" = strict_date_optional_time||epoch_millis
	IgnoreAbove int    // keyword: longer values are kept in _source but not indexed
	Fields      map[string]*fieldMapping
	Properties  map[string]*fieldMapping
	Dynamic     string // objects: "" (inherit), "true", "false", "strict"
	// DateDetection is only meaningful on the root; nil means the default (true).
	DateDetection *bool
	// Extra keeps mapping parameters that are accepted and echoed but not interpreted (analyzer, index...).
	Extra map[string]json.RawMessage
}

const defaultDateFormat = "strict_date_optional_time||epoch_millis"

// typeFamily groups Elasticsearch field types by how esserver indexes and queries them.
var typeFamily = map[string]string{
	"text": "text", "match_only_text": "text",
	"keyword": "keyword", "constant_keyword": "keyword", "wildcard": "keyword", "ip": "keyword",
	"long": "integer", "integer": "integer", "short": "integer", "byte": "integer", "unsigned_long": "integer",
	"double": "float", "float": "float", "half_float": "float", "scaled_float": "float",
	"boolean": "boolean",
	"date":    "date", "date_nanos": "date",
	"binary": "binary", // base64 in _source, checked, never indexed (as Elasticsearch: not searchable)
	"object": "object", "nested": "object",
}

func (m *fieldMapping) family() string { return typeFamily[m.Type] }

func (m *fieldMapping) isObject() bool { return m.family() == "object" }

func newObjectMapping() *fieldMapping {
	return &fieldMapping{Type: "object", Properties: map[string]*fieldMapping{}}
}

// parseMappings reads the "mappings" of a create-index request. Errors are mapper_parsing_exception, as
// Elasticsearch answers for an unknown type.
func parseMappings(raw json.RawMessage) (*fieldMapping, *esError) {
	root := newObjectMapping()
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return root, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, newError(http.StatusBadRequest, "mapper_parsing_exception", "Failed to parse mapping: "+err.Error())
	}
	if e := parseObjectParams(root, "_doc", obj); e != nil {
		return nil, e
	}
	if dd, ok := obj["date_detection"]; ok {
		var b bool
		if json.Unmarshal(dd, &b) == nil {
			root.DateDetection = &b
		}
		delete(root.Extra, "date_detection")
	}
	return root, nil
}

func parseObjectParams(m *fieldMapping, name string, obj map[string]json.RawMessage) *esError {
	for k, v := range obj {
		switch k {
		case "type":
		case "properties":
			var props map[string]json.RawMessage
			if err := json.Unmarshal(v, &props); err != nil {
				return newError(http.StatusBadRequest, "mapper_parsing_exception", "Failed to parse mapping: "+err.Error())
			}
			for pn, pv := range props {
				fm, e := parseFieldMapping(pn, pv)
				if e != nil {
					return e
				}
				m.Properties[pn] = fm
			}
		case "dynamic":
			var s any
			_ = json.Unmarshal(v, &s)
			m.Dynamic = fmt.Sprint(s)
		default:
			if m.Extra == nil {
				m.Extra = map[string]json.RawMessage{}
			}
			m.Extra[k] = v
		}
	}
	return nil
}

func parseFieldMapping(name string, raw json.RawMessage) (*fieldMapping, *esError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, newError(http.StatusBadRequest, "mapper_parsing_exception",
			fmt.Sprintf("Expected map for property [fields] on field [%s] but got a class java.lang.String", name))
	}
	typ := "object"
	if t, ok := obj["type"]; ok {
		_ = json.Unmarshal(t, &typ)
	} else if _, ok := obj["properties"]; !ok {
		// A field without type and properties is an object in Elasticsearch too.
		typ = "object"
	}
	if _, ok := typeFamily[typ]; !ok {
		return nil, newError(http.StatusBadRequest, "mapper_parsing_exception",
			fmt.Sprintf("No handler for type [%s] declared on field [%s]", typ, name))
	}
	m := &fieldMapping{Type: typ}
	if m.isObject() {
		m.Properties = map[string]*fieldMapping{}
		return m, parseObjectParams(m, name, obj)
	}
	for k, v := range obj {
		switch k {
		case "type":
		case "format":
			_ = json.Unmarshal(v, &m.Format)
		case "ignore_above":
			_ = json.Unmarshal(v, &m.IgnoreAbove)
		case "fields":
			var subs map[string]json.RawMessage
			if err := json.Unmarshal(v, &subs); err != nil {
				return nil, newError(http.StatusBadRequest, "mapper_parsing_exception", "Failed to parse mapping: "+err.Error())
			}
			m.Fields = map[string]*fieldMapping{}
			for sn, sv := range subs {
				sub, e := parseFieldMapping(sn, sv)
				if e != nil {
					return nil, e
				}
				m.Fields[sn] = sub
			}
		default:
			if m.Extra == nil {
				m.Extra = map[string]json.RawMessage{}
			}
			m.Extra[k] = v
		}
	}
	if m.Type == "scaled_float" {
		if f, ok := m.scalingFactor(); !ok || f <= 0 {
			return nil, newError(http.StatusBadRequest, "mapper_parsing_exception",
				fmt.Sprintf("Failed to parse mapping: Field [scaling_factor] is required and must be positive on field [%s]", name))
		}
	}
	return m, nil
}

// scalingFactor is a scaled_float's scaling_factor parameter.
func (m *fieldMapping) scalingFactor() (float64, bool) {
	var f float64
	raw, ok := m.Extra["scaling_factor"]
	if !ok || json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return f, true
}

// MarshalJSON renders the mapping as GET /{index}/_mapping shows it: objects as {"properties":...}
// (plus "type" for nested), leaves as {"type":...} with their parameters.
func (m *fieldMapping) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range m.Extra {
		out[k] = v
	}
	if m.isObject() {
		if m.Type == "nested" {
			out["type"] = "nested"
		}
		if m.Dynamic != "" {
			out["dynamic"] = m.Dynamic
		}
		if m.DateDetection != nil {
			out["date_detection"] = *m.DateDetection
		}
		if len(m.Properties) > 0 {
			out["properties"] = m.Properties
		}
		return json.Marshal(out)
	}
	out["type"] = m.Type
	if m.Format != "" {
		out["format"] = m.Format
	}
	if m.IgnoreAbove > 0 {
		out["ignore_above"] = m.IgnoreAbove
	}
	if len(m.Fields) > 0 {
		out["fields"] = m.Fields
	}
	return json.Marshal(out)
}

func (m *fieldMapping) clone() *fieldMapping {
	c := *m
	c.Properties = maps.Clone(m.Properties)
	for k, v := range c.Properties {
		c.Properties[k] = v.clone()
	}
	c.Fields = maps.Clone(m.Fields)
	return &c
}

// lookupPath finds the mapping of a dotted path, including multi-fields ("title.keyword").
func (m *fieldMapping) lookupPath(path string) *fieldMapping {
	cur := m
	parts := strings.Split(path, ".")
	for i, p := range parts {
		next := cur.Properties[p]
		if next == nil && cur.Fields != nil && i == len(parts)-1 {
			next = cur.Fields[p]
		}
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

// leafPaths lists every indexed field path (multi-fields included) with its mapping, sorted.
func (m *fieldMapping) leafPaths(prefix string, out map[string]*fieldMapping) {
	for _, name := range slices.Sorted(maps.Keys(m.Properties)) {
		fm := m.Properties[name]
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		if fm.isObject() {
			fm.leafPaths(p, out)
			continue
		}
		out[p] = fm
		for sn, sub := range fm.Fields {
			out[p+"."+sn] = sub
		}
	}
}

// dynamicTextMapping is what dynamic mapping gives a string that is not a date: text with a keyword
// multi-field, as documented in "Dynamic field mapping".
func dynamicTextMapping() *fieldMapping {
	return &fieldMapping{Type: "text", Fields: map[string]*fieldMapping{
		"keyword": {Type: "keyword", IgnoreAbove: 256},
	}}
}

// merge adds the properties of update to m, as PUT /{index}/_mapping does: new fields are added, a field
// already mapped keeps its mapping when the type is the same (its new sub-fields are added), and a field
// whose type would change is refused with illegal_argument_exception, leaving m unchanged. The caller
// passes a clone when it must stay unchanged on error.
func (m *fieldMapping) merge(path string, update *fieldMapping) *esError {
	for name, um := range update.Properties {
		p := joinPath(path, name)
		cur, ok := m.Properties[name]
		if !ok {
			m.Properties[name] = um
			continue
		}
		switch {
		case cur.isObject() && um.isObject():
			if e := cur.merge(p, um); e != nil {
				return e
			}
		case cur.isObject() != um.isObject():
			return newError(http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("can't merge a non object mapping [%s] with an object mapping", p))
		case cur.Type != um.Type:
			return newError(http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("mapper [%s] cannot be changed from type [%s] to [%s]", p, cur.Type, um.Type))
		default:
			for sn, sub := range um.Fields {
				if cur.Fields == nil {
					cur.Fields = map[string]*fieldMapping{}
				}
				if _, ok := cur.Fields[sn]; !ok {
					cur.Fields[sn] = sub
				}
			}
		}
	}
	if update.Dynamic != "" {
		m.Dynamic = update.Dynamic
	}
	return nil
}
