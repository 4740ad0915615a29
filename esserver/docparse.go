package esserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// indexedValue is one value of one field as esserver indexes it in bleve. Family is the mapping's type
// family (text, keyword, integer, float, boolean, date).
type indexedValue struct {
	Path   string
	Family string
	Str    string
	Num    float64
	Bool   bool
	Time   time.Time
}

// sortValue is the value Elasticsearch shows in a hit's "sort" array for this field value.
func (v indexedValue) sortValue() any {
	switch v.Family {
	case "integer":
		return int64(v.Num)
	case "float":
		return v.Num
	case "boolean":
		if v.Bool {
			return 1
		}
		return 0
	case "date":
		return v.Time.UnixMilli()
	}
	return v.Str
}

// parsedDoc is the result of parsing a source against a mapping: the values to index, the field paths
// present (for exists queries, like Elasticsearch's _field_names) and the dynamic mapping additions.
type parsedDoc struct {
	Values []indexedValue
	Names  []string
	added  []addedField
}

type addedField struct {
	path string
	m    *fieldMapping
}

// docParser walks a JSON source token by token, so that errors carry Elasticsearch's [line:col] prefix.
type docParser struct {
	raw      []byte
	dec      *json.Decoder
	id       string
	root     *fieldMapping
	readOnly bool // replay/reindex: unmapped fields are skipped, never added
	added    map[string]*fieldMapping
	names    map[string]bool
	out      parsedDoc
	loc      string // location of the last token read, "line:col"
}

// parseSource parses source against root. With readOnly false, fields unknown to the mapping are added
// following the dynamic setting; the additions are returned in the result, not applied.
func parseSource(root *fieldMapping, id string, source []byte, readOnly bool) (*parsedDoc, *esError) {
	p := &docParser{raw: source, dec: json.NewDecoder(bytes.NewReader(source)), id: id, root: root,
		readOnly: readOnly, added: map[string]*fieldMapping{}, names: map[string]bool{}}
	p.dec.UseNumber()
	tok, err := p.next()
	if err != nil {
		return nil, p.syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, newError(http.StatusBadRequest, "document_parsing_exception",
			fmt.Sprintf("[%s] failed to parse: Root json must be an object", p.loc))
	}
	if e := p.object("", root, dynamicOf(root, "true")); e != nil {
		return nil, e
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, newError(http.StatusBadRequest, "document_parsing_exception",
			"[1:1] failed to parse: Unexpected content after the document")
	}
	for n := range p.names {
		p.out.Names = append(p.out.Names, n)
	}
	sort.Strings(p.out.Names)
	return &p.out, nil
}

func dynamicOf(m *fieldMapping, inherited string) string {
	if m != nil && m.Dynamic != "" {
		return m.Dynamic
	}
	return inherited
}

func (p *docParser) next() (json.Token, error) {
	start := int(p.dec.InputOffset())
	for start < len(p.raw) && strings.IndexByte(" \t\r\n,:", p.raw[start]) >= 0 {
		start++
	}
	line, col := 1, 1
	for i := 0; i < start && i < len(p.raw); i++ {
		if p.raw[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	p.loc = fmt.Sprintf("%d:%d", line, col)
	return p.dec.Token()
}

func (p *docParser) syntaxError(err error) *esError {
	return newError(http.StatusBadRequest, "document_parsing_exception",
		fmt.Sprintf("[%s] failed to parse", p.loc)).withCause(newError(http.StatusBadRequest,
		"x_content_parse_exception", err.Error()))
}

func (p *docParser) lookup(path string) *fieldMapping {
	if m := p.added[path]; m != nil {
		return m
	}
	return p.root.lookupPath(path)
}

func (p *docParser) add(path string, m *fieldMapping) {
	p.added[path] = m
	p.out.added = append(p.out.added, addedField{path, m})
}

// object reads the fields of an object whose '{' was consumed.
func (p *docParser) object(path string, m *fieldMapping, dynamic string) *esError {
	for {
		tok, err := p.next()
		if err != nil {
			return p.syntaxError(err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		key, _ := tok.(string)
		if key == "" {
			return newError(http.StatusBadRequest, "document_parsing_exception",
				fmt.Sprintf("[%s] field name cannot be an empty string", p.loc))
		}
		// A dotted field name is shorthand for nested objects, as in Elasticsearch.
		full, parent, dyn := path, m, dynamic
		parts := strings.Split(key, ".")
		for _, part := range parts[:len(parts)-1] {
			full = joinPath(full, part)
			om := p.lookup(full)
			if om == nil {
				om = newObjectMapping()
				if !p.readOnly && dyn == "true" {
					p.add(full, om)
				}
			}
			parent, dyn = om, dynamicOf(om, dyn)
		}
		if e := p.value(joinPath(full, parts[len(parts)-1]), parent, dyn); e != nil {
			return e
		}
	}
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// value reads one value (scalar, object or array) of the field at path.
func (p *docParser) value(path string, parent *fieldMapping, dynamic string) *esError {
	tok, err := p.next()
	if err != nil {
		return p.syntaxError(err)
	}
	return p.valueToken(path, parent, dynamic, tok)
}

func (p *docParser) valueToken(path string, parent *fieldMapping, dynamic string, tok json.Token) *esError {
	m := p.lookup(path)
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			for {
				el, err := p.next()
				if err != nil {
					return p.syntaxError(err)
				}
				if d, ok := el.(json.Delim); ok && d == ']' {
					return nil
				}
				if e := p.valueToken(path, parent, dynamic, el); e != nil {
					return e
				}
			}
		}
		// An object.
		if m == nil {
			if p.readOnly || dynamic == "false" {
				return p.skip(1)
			}
			if dynamic == "strict" {
				return p.strictError(path)
			}
			m = newObjectMapping()
			p.add(path, m)
		}
		if !m.isObject() {
			loc := p.loc
			preview, e := p.preview()
			if e != nil {
				return e
			}
			return p.fieldError(loc, path, m, preview, newError(http.StatusBadRequest, "illegal_state_exception",
				fmt.Sprintf("Can't get text on a START_OBJECT at %s", loc)))
		}
		p.markName(path)
		return p.object(path, m, dynamicOf(m, dynamic))
	case nil:
		return nil // null values are neither indexed nor mapped
	}
	if m == nil {
		if p.readOnly || dynamic == "false" {
			return nil
		}
		if dynamic == "strict" {
			return p.strictError(path)
		}
		m = p.detect(tok)
		p.add(path, m)
	}
	if m.isObject() {
		return newError(http.StatusBadRequest, "document_parsing_exception",
			fmt.Sprintf("[%s] object mapping for [%s] tried to parse field [%s] as object, but found a concrete value",
				p.loc, path, path[strings.LastIndexByte(path, '.')+1:]))
	}
	if e := p.scalar(path, m, tok); e != nil {
		return e
	}
	for name, sub := range m.Fields {
		if e := p.scalar(path+"."+name, sub, tok); e != nil {
			return e
		}
	}
	p.markName(path)
	return nil
}

func (p *docParser) markName(path string) {
	for {
		p.names[path] = true
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return
		}
		path = path[:i]
	}
}

func (p *docParser) strictError(path string) *esError {
	i := strings.LastIndexByte(path, '.')
	field, within := path, "_doc"
	if i >= 0 {
		field, within = path[i+1:], path[:i]
	}
	return newError(http.StatusBadRequest, "strict_dynamic_mapping_exception",
		fmt.Sprintf("[%s] mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed",
			p.loc, field, within))
}

// detect applies dynamic field mapping's type detection to a scalar JSON value.
func (p *docParser) detect(tok json.Token) *fieldMapping {
	switch v := tok.(type) {
	case bool:
		return &fieldMapping{Type: "boolean"}
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return &fieldMapping{Type: "float"}
		}
		if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
			return &fieldMapping{Type: "float"}
		}
		return &fieldMapping{Type: "long"}
	case string:
		if p.root.DateDetection == nil || *p.root.DateDetection {
			if format, ok := detectDate(v); ok {
				return &fieldMapping{Type: "date", Format: format}
			}
		}
	}
	return dynamicTextMapping()
}

// scalar converts one JSON scalar to the field's type, coercing as Elasticsearch does by default.
func (p *docParser) scalar(path string, m *fieldMapping, tok json.Token) *esError {
	text := scalarText(tok)
	v := indexedValue{Path: path, Family: m.family()}
	fail := func(cause *esError) *esError { return p.fieldError(p.loc, path, m, text, cause) }
	switch v.Family {
	case "text", "keyword":
		if m.IgnoreAbove > 0 && len([]rune(text)) > m.IgnoreAbove {
			return nil
		}
		v.Str = text
	case "integer", "float":
		if b, ok := tok.(bool); ok {
			return fail(newError(http.StatusBadRequest, "x_content_parse_exception",
				fmt.Sprintf("[%s] Current token (%s) not numeric, can not use numeric value accessors", p.loc, boolToken(b))))
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fail(newError(http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("For input string: \"%s\"", text)))
		}
		if factor, ok := m.scalingFactor(); ok && m.Type == "scaled_float" {
			// Elasticsearch indexes a scaled_float as the long round(value × scaling_factor).
			f = math.Round(f*factor) / factor
		}
		if v.Family == "integer" {
			f = math.Trunc(f)
			if lo, hi, ok := integerRange(m.Type); ok && (f < lo || f > hi) {
				return fail(newError(http.StatusBadRequest, "illegal_argument_exception",
					fmt.Sprintf("Value [%s] is out of range for %s", text, articleType(m.Type))))
			}
		}
		v.Num = f
	case "binary":
		if _, isStr := tok.(string); !isStr {
			return fail(newError(http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("[%s] Current token (%T) not a base64 string", p.loc, tok)))
		}
		if _, err := base64.StdEncoding.DecodeString(text); err != nil {
			return fail(newError(http.StatusBadRequest, "illegal_argument_exception",
				"Illegal base64 character in value"))
		}
		return nil // kept in _source only
	case "boolean":
		switch {
		case tok == true || text == "true":
			v.Bool = true
		case tok == false || text == "false" || text == "":
		default:
			return fail(newError(http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("Failed to parse value [%s] as only [true] or [false] are allowed.", text)))
		}
	case "date":
		if _, isBool := tok.(bool); !isBool {
			format := m.Format
			if n, ok := tok.(json.Number); ok && (format == "" || strings.Contains(format, "epoch_")) {
				text = n.String()
			}
			if t, ok := parseDate(text, format); ok && m.Type == "date_nanos" && t.Before(time.Unix(0, 0)) {
				return fail(newError(http.StatusBadRequest, "illegal_argument_exception",
					fmt.Sprintf("date[%s] is before the epoch in 1970 and cannot be stored in nanosecond resolution", t.Format(time.RFC3339Nano))))
			} else if ok {
				v.Time = t
				if m.Type == "date" {
					v.Time = t.Truncate(time.Millisecond) // a date field keeps milliseconds; date_nanos nanoseconds
				}
				break
			}
		}
		format := m.Format
		if format == "" {
			format = defaultDateFormat
		}
		return fail(newError(http.StatusBadRequest, "illegal_argument_exception",
			fmt.Sprintf("failed to parse date field [%s] with format [%s]", text, format)))
	}
	p.out.Values = append(p.out.Values, v)
	return nil
}

func boolToken(b bool) string {
	if b {
		return "VALUE_TRUE"
	}
	return "VALUE_FALSE"
}

func integerRange(typ string) (lo, hi float64, ok bool) {
	switch typ {
	case "long":
		return math.MinInt64, math.MaxInt64, true
	case "unsigned_long":
		return 0, math.MaxUint64, true
	case "integer":
		return math.MinInt32, math.MaxInt32, true
	case "short":
		return math.MinInt16, math.MaxInt16, true
	case "byte":
		return math.MinInt8, math.MaxInt8, true
	}
	return 0, 0, false
}

func articleType(t string) string {
	switch t {
	case "integer":
		return "an integer"
	case "unsigned_long":
		return "an unsigned long"
	}
	return "a " + t
}

func scalarText(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(tok)
}

// fieldError is the document_parsing_exception Elasticsearch raises for a value its field cannot take.
func (p *docParser) fieldError(loc, path string, m *fieldMapping, preview string, cause *esError) *esError {
	return newError(http.StatusBadRequest, "document_parsing_exception",
		fmt.Sprintf("[%s] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'",
			loc, path, m.Type, p.id, preview)).withCause(cause)
}

// preview consumes the rest of an object whose '{' was read and renders it like Java's Map.toString,
// which is what Elasticsearch prints as the "preview" of an object value.
func (p *docParser) preview() (string, *esError) {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for {
		tok, err := p.next()
		if err != nil {
			return "", p.syntaxError(err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			b.WriteByte('}')
			return b.String(), nil
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(scalarText(tok) + "=")
		var v any
		if err := p.dec.Decode(&v); err != nil {
			return "", p.syntaxError(err)
		}
		b.WriteString(javaString(v))
	}
}

func javaString(v any) string {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + javaString(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = javaString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case nil:
		return "null"
	}
	return scalarText(v)
}

// skip consumes the rest of a container whose opening delimiter was read.
func (p *docParser) skip(depth int) *esError {
	for depth > 0 {
		tok, err := p.next()
		if err != nil {
			return p.syntaxError(err)
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}
