package stream

import (
	"encoding/json"
	"slices"
	"strconv"
)

// This file reads and writes schemas in the JSON form of Kafka Connect's JsonConverter envelope:
//
//	{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"k"}
//
// Members are written in JsonConverter's order: "type", then "items" / "keys", "values" / "fields", then
// "optional", "name", "version", "doc", "parameters", "default", and "field" last for struct fields.

// schema writes s as a Connect JSON schema.
func (w *jsonWriter) schema(s *Schema) error {
	return w.schemaObject(s, "", false)
}

func (w *jsonWriter) schemaObject(s *Schema, field string, isField bool) error {
	if s == nil {
		return invalidSchemaf("nil schema")
	}
	if !s.Type.valid() {
		return invalidSchemaf("unknown type %q", s.Type)
	}
	w.buf = append(w.buf, `{"type":`...)
	w.string(string(s.Type))
	switch s.Type {
	case TypeArray:
		w.buf = append(w.buf, `,"items":`...)
		if s.Items == nil {
			return invalidSchemaf("array schema has no Items")
		}
		if err := w.schemaObject(s.Items, "", false); err != nil {
			return err
		}
	case TypeMap:
		if s.Key == nil || s.Value == nil {
			return invalidSchemaf("map schema needs both Key and Value")
		}
		w.buf = append(w.buf, `,"keys":`...)
		if err := w.schemaObject(s.Key, "", false); err != nil {
			return err
		}
		w.buf = append(w.buf, `,"values":`...)
		if err := w.schemaObject(s.Value, "", false); err != nil {
			return err
		}
	case TypeStruct:
		w.buf = append(w.buf, `,"fields":[`...)
		for i, f := range s.Fields {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if f.Name == "" {
				return invalidSchemaf("struct field %d has no name", i)
			}
			if err := w.schemaObject(f.Schema, f.Name, true); err != nil {
				return inField(err, f.Name)
			}
		}
		w.buf = append(w.buf, ']')
	}
	w.buf = append(w.buf, `,"optional":`...)
	w.buf = strconv.AppendBool(w.buf, s.Optional)
	if s.Name != "" {
		w.buf = append(w.buf, `,"name":`...)
		w.string(s.Name)
	}
	if s.Version != 0 {
		w.buf = append(w.buf, `,"version":`...)
		w.buf = strconv.AppendInt(w.buf, int64(s.Version), 10)
	}
	if s.Doc != "" {
		w.buf = append(w.buf, `,"doc":`...)
		w.string(s.Doc)
	}
	if len(s.Parameters) > 0 {
		w.buf = append(w.buf, `,"parameters":`...)
		w.parameters(s.Parameters)
	}
	if s.Default != nil {
		w.buf = append(w.buf, `,"default":`...)
		if err := w.value(s, s.Default); err != nil {
			return invalidSchemaf("default value: %s", detail(err))
		}
	}
	if isField {
		w.buf = append(w.buf, `,"field":`...)
		w.string(field)
	}
	w.buf = append(w.buf, '}')
	return nil
}

// parameters writes a Decimal's "scale" first, where Connect's Decimal builder puts it (so Debezium's
// {"scale":"2","connect.decimal.precision":"10"} comes out byte for byte), then the others sorted, since Go
// maps keep no insertion order.
func (w *jsonWriter) parameters(p map[string]string) {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != DecimalScaleParameter {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if _, ok := p[DecimalScaleParameter]; ok {
		keys = append([]string{DecimalScaleParameter}, keys...)
	}
	w.buf = append(w.buf, '{')
	for i, k := range keys {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.string(k)
		w.buf = append(w.buf, ':')
		w.string(p[k])
	}
	w.buf = append(w.buf, '}')
}

// schemaFromJSON reads a Connect JSON schema as JsonConverter.asConnectSchema does: "optional" counts only
// when it is true, "name", "version" and "doc" only when of the right JSON kind, parameters must be
// strings, and a "default" is read as a value of the schema itself.
func schemaFromJSON(n any) (*Schema, error) {
	obj, ok := n.(map[string]any)
	if !ok {
		return nil, invalidSchemaf("schema must be a JSON object, got JSON %s", jsonKind(n))
	}
	typ, ok := obj["type"].(string)
	if !ok {
		return nil, invalidSchemaf(`schema has no "type" string`)
	}
	s := &Schema{Type: Type(typ)}
	if !s.Type.valid() {
		return nil, invalidSchemaf("unknown type %q", typ)
	}
	var err error
	switch s.Type {
	case TypeArray:
		if s.Items, err = nestedSchemaFromJSON(obj, "items"); err != nil {
			return nil, err
		}
	case TypeMap:
		if s.Key, err = nestedSchemaFromJSON(obj, "keys"); err != nil {
			return nil, err
		}
		if s.Value, err = nestedSchemaFromJSON(obj, "values"); err != nil {
			return nil, err
		}
	case TypeStruct:
		if s.Fields, err = fieldsFromJSON(obj["fields"]); err != nil {
			return nil, err
		}
	}
	s.Optional, _ = obj["optional"].(bool)
	s.Name, _ = obj["name"].(string)
	s.Doc, _ = obj["doc"].(string)
	if v, ok := obj["version"].(json.Number); ok && isIntegerLiteral(string(v)) {
		version, err := strconv.ParseInt(string(v), 10, 32)
		if err != nil {
			return nil, invalidSchemaf("version %s out of int32 range", v)
		}
		s.Version = int(version)
	}
	if params, ok := obj["parameters"].(map[string]any); ok && len(params) > 0 {
		s.Parameters = make(map[string]string, len(params))
		for k, v := range params {
			str, ok := v.(string)
			if !ok {
				return nil, invalidSchemaf("parameter %q is JSON %s, not a string", k, jsonKind(v))
			}
			s.Parameters[k] = str
		}
	}
	if d, ok := obj["default"]; ok {
		if s.Default, err = valueFromJSON(s, d); err != nil {
			return nil, invalidSchemaf("default value: %s", detail(err))
		}
	}
	return s, nil
}

func nestedSchemaFromJSON(obj map[string]any, member string) (*Schema, error) {
	n := obj[member]
	if n == nil {
		return nil, invalidSchemaf("%s schema has no %q schema", obj["type"], member)
	}
	s, err := schemaFromJSON(n)
	if err != nil {
		return nil, inElement(err, member)
	}
	return s, nil
}

func fieldsFromJSON(n any) ([]Field, error) {
	list, ok := n.([]any)
	if !ok {
		return nil, invalidSchemaf(`struct schema's "fields" is not an array`)
	}
	fields := make([]Field, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, fn := range list {
		fo, _ := fn.(map[string]any)
		name, ok := fo["field"].(string)
		if !ok || name == "" {
			return nil, invalidSchemaf("struct field %d has no \"field\" name", i)
		}
		if seen[name] {
			return nil, invalidSchemaf("duplicate struct field %q", name)
		}
		seen[name] = true
		fs, err := schemaFromJSON(fo)
		if err != nil {
			return nil, inField(err, name)
		}
		fields = append(fields, Field{Name: name, Index: i, Schema: fs})
	}
	return fields, nil
}
