package stream

import "strings"

// ValueKind says what kind of value a record carries, as far as the pipeline can tell before it runs. It
// lets a topology refuse, before anything starts, a stage that cannot take what reaches it (a field mask
// after a source of text lines).
type ValueKind uint8

const (
	// AnyValue is an unknown kind: nothing is refused on its account.
	AnyValue ValueKind = iota
	// StringValue is text: a line of a file, a value of the "string" codec.
	StringValue
	// BytesValue is uninterpreted bytes: a value of the "bytes" codec.
	BytesValue
	// StructuredValue is a value with fields: a Struct with its schema, or a schemaless object (a map of
	// field names to values), as the "json" codec decodes a JSON object.
	StructuredValue
)

// String names the kind in the words an error message uses: "strings", "bytes", "structured values", or
// "values of any kind".
func (k ValueKind) String() string {
	switch k {
	case StringValue:
		return "strings"
	case BytesValue:
		return "bytes"
	case StructuredValue:
		return "structured values"
	}
	return "values of any kind"
}

// Shape describes the records at one point of a pipeline (what a source emits, what a stage produces, what
// a topic holds) as far as it is known before the pipeline runs. The zero Shape knows nothing and refuses
// nothing.
type Shape struct {
	// Value is the kind of the record values.
	Value ValueKind
	// Fields are the top-level field names of structured values when they are known (a declared schema, a
	// CSV header given in the configuration); nil when unknown.
	Fields []string
	// KeysIdentify says that record keys identify the entity the value describes (a row's primary key), so
	// that a sink may use them as document ids. It is false when unknown, and when keys serve ordering only
	// (the file source keys each line by its file's path).
	KeysIdentify bool
	// From says what the records are and who makes them, in user words, to complete a sentence "<producer>
	// emits ...": a source says what it reads ("lines of text", "Debezium change events of MySQL rows"),
	// and the topology puts the declared names in front (`source "files" emits lines of text`). Empty when
	// nothing more than Value is known.
	From string
	// Binary says the values were declared binary data, not text: a topic's "bytes" codec. Stages that
	// parse text refuse them (JSON text belongs on a "json" topic, whose codec parses it, or a "string"
	// one), while bytes from a source of unknown content (Binary false) may hold text and are accepted.
	Binary bool
	// Hint, when set, says how to get structured values at the producer itself, for a producer of text
	// or bytes: "set the file source's Format to file.JSONLines". Error messages offer it beside adding a
	// parse stage.
	Hint string
}

// MayHaveField reports whether records of this shape may have the top-level field name: it returns false
// only when Fields is known and lists neither name nor, for a dotted path ("after.id"), its first segment.
func (s Shape) MayHaveField(name string) bool {
	if s.Fields == nil {
		return true
	}
	top, _, _ := strings.Cut(name, ".")
	for _, f := range s.Fields {
		if f == name || f == top {
			return true
		}
	}
	return false
}

// Describe says what the records are in user words, for error messages: From when it is set, else the
// kind ("strings").
func (s Shape) Describe() string {
	if s.From != "" {
		return s.From
	}
	return s.Value.String()
}
