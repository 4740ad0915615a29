package elasticsearch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
)

// DefaultID is the document id template when Config.ID is empty: the record key.
const DefaultID = "{key}"

// OffsetID is Kafka Connect's id for key.ignore=true: the record's topic, partition and offset. Each record
// is its own document, and a replay of the same records writes the same ids, so it overwrites rather than
// duplicates.
const OffsetID = "{topic}+{partition}+{offset}"

// idPart is one piece of a compiled id template: literal text, or a placeholder.
type idPart struct {
	kind  idPartKind
	text  string // the literal, or the field path of {field:PATH}
	field []string
}

type idPartKind uint8

const (
	idLiteral idPartKind = iota
	idKey
	idField
	idTopic
	idPartition
	idOffset
)

// idTemplate is a compiled Config.ID.
type idTemplate struct {
	source   string
	parts    []idPart
	explicit bool // Config.ID was set: the user chose it
	onlyKey  bool // "{key}": the fast path
	// perRecord: the template names the record's position ({offset}), so a record without a value (a
	// tombstone or delete) has no document to delete.
	perRecord bool
	usesKey   bool
	fields    []string // paths of the {field:PATH} placeholders, for messages
}

// parseID compiles an id template: literal text with the placeholders {key}, {field:PATH}, {topic},
// {partition} and {offset}. It refuses unknown placeholders, unclosed braces and a template without a
// placeholder (every record would overwrite one document).
func parseID(tmpl string) (*idTemplate, error) {
	t := &idTemplate{source: tmpl, explicit: tmpl != ""}
	if tmpl == "" {
		tmpl = DefaultID
		t.source = tmpl
	}
	rest := tmpl
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			t.parts = append(t.parts, idPart{kind: idLiteral, text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, idPart{kind: idLiteral, text: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("elasticsearch sink: ID %q: a { is not closed", tmpl)
		}
		name := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		switch {
		case name == "key":
			t.parts = append(t.parts, idPart{kind: idKey})
			t.usesKey = true
		case name == "topic":
			t.parts = append(t.parts, idPart{kind: idTopic})
		case name == "partition":
			t.parts = append(t.parts, idPart{kind: idPartition})
		case name == "offset":
			t.parts = append(t.parts, idPart{kind: idOffset})
			t.perRecord = true
		case strings.HasPrefix(name, "field:"):
			path := strings.TrimPrefix(name, "field:")
			if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
				return nil, fmt.Errorf("elasticsearch sink: ID %q: {field:%s} needs a field name, nested by dots, e.g. {field:user.id}", tmpl, path)
			}
			t.parts = append(t.parts, idPart{kind: idField, text: path})
			t.fields = append(t.fields, path)
		default:
			return nil, fmt.Errorf("elasticsearch sink: ID %q: unknown placeholder {%s}: use {key}, {field:PATH}, {topic}, {partition} or {offset}", tmpl, name)
		}
	}
	placeholders := 0
	for _, p := range t.parts {
		if p.kind != idLiteral {
			placeholders++
		}
	}
	if placeholders == 0 {
		return nil, fmt.Errorf("elasticsearch sink: ID %q names no placeholder, so every record would overwrite one document: use {key}, {field:PATH} or %s", tmpl, OffsetID)
	}
	if onlyTopicPartition := !t.usesKey && !t.perRecord && len(t.fields) == 0; onlyTopicPartition {
		return nil, fmt.Errorf("elasticsearch sink: ID %q would make one document per topic partition: add {key}, {field:PATH} or {offset}", tmpl)
	}
	t.onlyKey = len(t.parts) == 1 && t.parts[0].kind == idKey
	return t, nil
}

// errNoDocument marks a record that the id template cannot delete anything for: a record without a value
// when the id names the record's offset (each record is its own document, so there is nothing to delete).
var errNoDocument = errors.New("no document to delete")

// position names a record for errors: topic/partition/offset.
func position(r *stream.Record) string {
	return fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
}

// idFor renders the template for a record. A record without the key or field the template names is a
// record error naming the record and what to choose instead.
func (t *idTemplate) idFor(r *stream.Record) (string, error) {
	if t.onlyKey {
		return t.keyPart(r)
	}
	deletes := r.Value == nil || r.Operation == stream.OpDelete
	if t.perRecord && deletes {
		return "", errNoDocument
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case idLiteral:
			b.WriteString(p.text)
		case idKey:
			k, err := t.keyPart(r)
			if err != nil {
				return "", err
			}
			b.WriteString(k)
		case idTopic:
			b.WriteString(r.Topic)
		case idPartition:
			b.WriteString(strconv.FormatInt(int64(r.Partition), 10))
		case idOffset:
			b.WriteString(strconv.FormatInt(r.Offset, 10))
		case idField:
			v, ok := stream.FieldOf(r.Value, p.text)
			if !ok || v == nil {
				if r.Value == nil {
					return "", fmt.Errorf("record at %s has no value (a delete), so its document id (ID %q) has no field %q: key deletes by {key}",
						position(r), t.source, p.text)
				}
				return "", fmt.Errorf("record at %s has no field %q for its document id (ID %q)", position(r), p.text, t.source)
			}
			text, err := stream.KeyString(v)
			if err != nil {
				return "", fmt.Errorf("record at %s: field %q cannot be a document id (ID %q): %w", position(r), p.text, t.source, err)
			}
			b.WriteString(text)
		}
	}
	return b.String(), nil
}

// keyPart renders the record key; a record without one names the other choices.
func (t *idTemplate) keyPart(r *stream.Record) (string, error) {
	if r.Key == nil {
		return "", fmt.Errorf("record at %s has no key: set the sink's ID to %q or \"{field:...}\"", position(r), OffsetID)
	}
	id, err := documentID(r.Key)
	if err != nil {
		return "", fmt.Errorf("record at %s: %w: set the sink's ID to %q or \"{field:...}\"", position(r), err, OffsetID)
	}
	return id, nil
}

var _ sinks.ShapeChecker = (*Sink)(nil)

// CheckShape refuses, before the pipeline starts, the default ID ("{key}") for input whose keys are known
// not to identify documents: a source that declares its shape with KeysIdentify false (the file source
// keys every line by its file's path, so "{key}" would keep one document per file, each line overwriting
// the last). The error names the choices. An ID set explicitly, even to "{key}", is always accepted, and so
// is input of unknown origin (a topic written outside the pipeline): its keys may be entity ids.
//
// The topology calls it from Validate (sinks.ShapeChecker) with the shape of the records that reach the
// sink, and puts the flow, the sink and what produced the records in front of the error.
func (s *Sink) CheckShape(in stream.Shape) error {
	if s.id.explicit || in.KeysIdentify || in.From == "" {
		return nil
	}
	field := "{field:PATH}"
	for _, f := range in.Fields {
		if f == "id" || strings.HasSuffix(f, "_id") {
			field = "{field:" + f + "}"
			break
		}
	}
	return fmt.Errorf("the keys of its records do not identify documents (the file source, for one, keys every line by its file's path), "+
		"so the default ID %q would keep one document per key, each record overwriting the last: set the sink's ID to %q "+
		"(every record its own document; a replay overwrites them), to %q (a field that identifies the document), "+
		"or to %q if the keys do identify documents", DefaultID, OffsetID, field, DefaultID)
}
