package stages

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// CSVType is the type of a CSV column's values.
type CSVType string

const (
	// CSVString keeps the text as it is (the default).
	CSVString CSVType = "string"
	// CSVInt reads a whole number within 64 bits.
	CSVInt CSVType = "int"
	// CSVFloat reads a number as the nearest 64-bit float: declaring it is the choice to round.
	CSVFloat CSVType = "float"
	// CSVDecimal reads a number exactly, as a Decimal of the column's Scale; a number with more digits after
	// the point than Scale is a record error rather than rounded.
	CSVDecimal CSVType = "decimal"
	// CSVBool reads true or false (also 1, 0, t, f, TRUE, FALSE, True, False).
	CSVBool CSVType = "bool"
	// CSVTimestamp reads a time with the column's Layout (default time.RFC3339), kept to the millisecond
	// (Kafka Connect's Timestamp). A layout without a zone reads UTC.
	CSVTimestamp CSVType = "timestamp"
)

// CSVColumn declares one column of a CSV line.
type CSVColumn struct {
	// Name is the field the column's value goes to.
	Name string
	// Type is how the text is read (default CSVString).
	Type CSVType
	// Scale is the digits after the point of a CSVDecimal column.
	Scale int
	// Layout is the time.Parse layout of a CSVTimestamp column (default time.RFC3339).
	Layout string
}

// CSVConfig configures ParseCSV and the file source's CSV format.
type CSVConfig struct {
	// Columns are the columns of each line, in order. ParseCSV needs them; the file source reads them from
	// each file's first line when they are not given.
	Columns []CSVColumn
	// Delimiter separates fields (default ',').
	Delimiter rune
}

// Validate reports a configuration that cannot work, naming the option: an empty or repeated column
// name, an unknown type, a negative scale, a delimiter that is a quote or a line break.
func (c CSVConfig) Validate() error { return c.validate("") }

func (c CSVConfig) validate(stage string) error {
	seen := map[string]bool{}
	for i, col := range c.Columns {
		switch {
		case col.Name == "":
			return configErrorf(stage, "Columns", "column %d has no name", i+1)
		case seen[col.Name]:
			return configErrorf(stage, "Columns", "column %q is listed twice", col.Name)
		case col.Scale < 0:
			return configErrorf(stage, "Columns", "column %q: Scale must not be negative, got %d", col.Name, col.Scale)
		}
		seen[col.Name] = true
		switch col.Type {
		case "", CSVString, CSVInt, CSVFloat, CSVDecimal, CSVBool, CSVTimestamp:
		default:
			return configErrorf(stage, "Columns", "column %q: unknown type %q (want one of string, int, float, decimal, bool, timestamp)", col.Name, col.Type)
		}
	}
	switch c.Delimiter {
	case '"', '\r', '\n':
		return configErrorf(stage, "Delimiter", "cannot be a quote or a line break")
	}
	return nil
}

// CSVParser reads lines of CSV text into structured values. It is what ParseCSV and the file source's CSV
// format share. Its methods are safe for concurrent use.
type CSVParser struct {
	cols   []CSVColumn
	delim  rune
	schema *stream.Schema // nil: schemaless object of strings
}

// NewCSVParser checks cfg and returns its parser. With Columns, lines become *stream.Struct values of a
// schema with a field per column (optional; an empty non-string field is null); without, call WithHeader
// to get a parser for a header line.
func NewCSVParser(cfg CSVConfig) (*CSVParser, error) {
	return newCSVParser("", cfg)
}

func newCSVParser(stage string, cfg CSVConfig) (*CSVParser, error) {
	if err := cfg.validate(stage); err != nil {
		return nil, err
	}
	p := &CSVParser{cols: cfg.Columns, delim: cfg.Delimiter}
	if p.delim == 0 {
		p.delim = ','
	}
	if len(p.cols) > 0 {
		b := stream.NewStruct("")
		for _, c := range p.cols {
			b.Field(c.Name, csvFieldSchema(c))
		}
		s, err := b.Build()
		if err != nil {
			return nil, configErrorf(stage, "Columns", "%s", userText(err))
		}
		p.schema = s
	}
	return p, nil
}

func csvFieldSchema(c CSVColumn) *stream.Schema {
	switch c.Type {
	case CSVInt:
		return stream.Int64Schema().AsOptional()
	case CSVFloat:
		return stream.Float64Schema().AsOptional()
	case CSVDecimal:
		return stream.DecimalSchema(c.Scale).AsOptional()
	case CSVBool:
		return stream.BooleanSchema().AsOptional()
	case CSVTimestamp:
		return stream.TimestampSchema().AsOptional()
	}
	return stream.StringSchema().AsOptional()
}

// WithHeader returns a parser whose columns are named by header, a CSV line, all of type string, giving
// schemaless objects. Declared columns, if any, are kept instead: the header must then name them in order.
func (p *CSVParser) WithHeader(header string) (*CSVParser, error) {
	names, err := p.split(header)
	if err != nil {
		return nil, fmt.Errorf("header line: %w", err)
	}
	if len(p.cols) > 0 {
		if !p.IsHeader(header) {
			return nil, fmt.Errorf("header line names %s, but the declared columns are %s", fieldList(names), fieldList(p.Columns()))
		}
		return p, nil
	}
	cols := make([]CSVColumn, len(names))
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" {
			return nil, fmt.Errorf("header line: column %d has no name", i+1)
		}
		if seen[n] {
			return nil, fmt.Errorf("header line: column %q is named twice", n)
		}
		seen[n] = true
		cols[i] = CSVColumn{Name: n}
	}
	return &CSVParser{cols: cols, delim: p.delim}, nil
}

// Columns returns the column names, nil when they come from a header not yet read.
func (p *CSVParser) Columns() []string {
	if len(p.cols) == 0 {
		return nil
	}
	names := make([]string, len(p.cols))
	for i, c := range p.cols {
		names[i] = c.Name
	}
	return names
}

// Delimiter returns the rune that separates fields.
func (p *CSVParser) Delimiter() rune { return p.delim }

// Schema returns the schema of the values Parse returns: nil for schemaless objects.
func (p *CSVParser) Schema() *stream.Schema { return p.schema }

// IsHeader reports whether line is the header of the declared columns: their names in order.
func (p *CSVParser) IsHeader(line string) bool {
	names, err := p.split(line)
	if err != nil || len(names) != len(p.cols) || len(names) == 0 {
		return false
	}
	for i, n := range names {
		if strings.TrimSpace(n) != p.cols[i].Name {
			return false
		}
	}
	return true
}

// ErrCSVLine is wrapped by Parse's errors: a line that is not CSV, has another number of fields than the
// columns, or a field that does not read as its column's type.
var ErrCSVLine = errors.New("line does not fit the CSV columns")

// Parse reads one line: a *stream.Struct of Schema with declared columns, else an object of strings.
// Errors say what is wrong in the text's words: `field 3 ("amount"): "12x" is not a whole number`.
func (p *CSVParser) Parse(line string) (any, error) {
	if len(p.cols) == 0 {
		return nil, fmt.Errorf("%w: no columns: declare them or read a header line first", ErrCSVLine)
	}
	fields, err := p.split(line)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSVLine, err)
	}
	if len(fields) != len(p.cols) {
		return nil, fmt.Errorf("%w: has %d fields, want %d (%s)", ErrCSVLine, len(fields), len(p.cols), fieldList(p.Columns()))
	}
	if p.schema == nil {
		m := make(map[string]any, len(fields))
		for i, f := range fields {
			m[p.cols[i].Name] = f
		}
		return m, nil
	}
	s, err := stream.NewStructValue(p.schema)
	if err != nil {
		return nil, err
	}
	for i, f := range fields {
		v, err := p.cols[i].read(f)
		if err != nil {
			return nil, fmt.Errorf("%w: field %d (%q): %q %v", ErrCSVLine, i+1, p.cols[i].Name, f, err)
		}
		if err := s.Put(p.cols[i].Name, v); err != nil {
			return nil, fmt.Errorf("%w: field %d (%q): %s", ErrCSVLine, i+1, p.cols[i].Name, userText(err))
		}
	}
	return s, nil
}

// split reads line as one CSV record. A quoted field cannot span lines. A line without quotes is split at
// each delimiter, as encoding/csv would split it, without its reader's allocations.
func (p *CSVParser) split(line string) ([]string, error) {
	if !strings.ContainsRune(line, '"') && !strings.ContainsAny(line, "\r\n") {
		return strings.Split(line, string(p.delim)), nil
	}
	r := csv.NewReader(strings.NewReader(line))
	r.Comma = p.delim
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	fields, err := r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("not CSV: %v at column %d", pe.Err, pe.Column)
		}
		if errors.Is(err, io.EOF) {
			return []string{""}, nil
		}
		return nil, fmt.Errorf("not CSV: %v", err)
	}
	return append([]string(nil), fields...), nil
}

// read converts one field's text to the column's type; an empty field of a type other than string is null.
func (c CSVColumn) read(text string) (any, error) {
	if text == "" && c.Type != "" && c.Type != CSVString {
		return nil, nil
	}
	t := strings.TrimSpace(text)
	switch c.Type {
	case CSVInt:
		i, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return nil, errors.New("is not a whole number within 64 bits")
		}
		return i, nil
	case CSVFloat:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, errors.New("is not a number within the range of a 64-bit float")
		}
		return f, nil
	case CSVDecimal:
		d, err := stream.ParseDecimal(t)
		if err != nil {
			return nil, errors.New("is not a number")
		}
		d, err = d.Rescale(int32(c.Scale))
		if err != nil {
			return nil, fmt.Errorf("has more than %d digits after the point", c.Scale)
		}
		return d, nil
	case CSVBool:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return nil, errors.New("is not true or false")
		}
		return b, nil
	case CSVTimestamp:
		layout := c.Layout
		if layout == "" {
			layout = time.RFC3339
		}
		ts, err := time.Parse(layout, t)
		if err != nil {
			return nil, fmt.Errorf("is not a time of layout %q", layout)
		}
		return ts.UTC().Truncate(time.Millisecond), nil
	}
	return text, nil
}

// ParseCSV makes a stage that parses the record value, a line of CSV text in a string or bytes, into a
// *stream.Struct with a field per declared column, typed as declared (see CSVColumn), and sets the
// record's value schema to it. cfg.Columns must be given: a stage cannot know a file's header line after a
// restart (the file source's CSV format reads it from each file; use that for files with a header). A line
// that is the header of the declared columns (their names, in order) is dropped.
//
// A line that is not CSV, has another number of fields, or a field that does not read as its type is a
// record error (ErrTransformRecord) naming the record's place, the field and the problem. A tombstone
// passes unchanged.
//
// Shape: it accepts strings and bytes (and values of unknown kind) and produces structured values whose
// field names are the columns.
func ParseCSV(name string, cfg CSVConfig) (Stage, error) {
	if err := checkStageName("parse-csv", name); err != nil {
		return nil, err
	}
	if len(cfg.Columns) == 0 {
		return nil, configErrorf(name, "Columns", "needs the columns: a stage cannot read a header line reliably (use the file source's CSV format for files with one)")
	}
	p, err := newCSVParser(name, cfg)
	if err != nil {
		return nil, err
	}
	return &parseCSVStage{name: name, p: p}, nil
}

type parseCSVStage struct {
	name string
	p    *CSVParser
}

func (s *parseCSVStage) Name() string { return s.name }

// Accepts takes strings, bytes and values of unknown kind, but not values declared binary (Shape.Binary).
func (s *parseCSVStage) Accepts(in stream.Shape) error {
	if in.Binary {
		return fmt.Errorf("%w: takes CSV text, and the records are declared binary data (a topic's \"bytes\" codec): if they hold CSV text, give the topic the \"string\" codec", ErrShapeNeeded)
	}
	if in.Value == stream.StructuredValue {
		return fmt.Errorf("%w: takes CSV text (strings or bytes), and the records already are structured values: remove it", ErrShapeNeeded)
	}
	return nil
}

// Produces returns structured values with the columns as fields.
func (s *parseCSVStage) Produces(in stream.Shape) stream.Shape {
	return stream.Shape{Value: stream.StructuredValue, Fields: s.p.Columns(), KeysIdentify: in.KeysIdentify,
		From: "CSV rows"}
}

// ProcessOne parses the value of r.
func (s *parseCSVStage) ProcessOne(_ context.Context, r stream.Record) (stream.Record, bool, error) {
	var line string
	switch v := r.Value.(type) {
	case nil:
		return r, true, nil
	case string:
		line = v
	case []byte:
		line = string(v)
	default:
		return r, false, fmt.Errorf("%w: value %s is %s, not CSV text", ErrTransformRecord, recordPlace(&r), describeKind(r.Value))
	}
	line = strings.TrimSuffix(line, "\r")
	if s.p.IsHeader(line) {
		return r, false, nil
	}
	v, err := s.p.Parse(line)
	if err != nil {
		return r, false, fmt.Errorf("%w: value %s: %w", ErrTransformRecord, recordPlace(&r), err)
	}
	r.Value, r.ValueSchema = v, s.p.Schema()
	return r, true, nil
}

// Process is ProcessOne for the Stage interface.
func (s *parseCSVStage) Process(ctx context.Context, r stream.Record) ([]stream.Record, error) {
	out, keep, err := s.ProcessOne(ctx, r)
	if err != nil || !keep {
		return nil, err
	}
	return []stream.Record{out}, nil
}
