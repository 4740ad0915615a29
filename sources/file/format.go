package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Format says how the file source turns each line into a record value.
type Format uint8

const (
	// Lines emits each line as a string (the default).
	Lines Format = iota
	// JSONLines reads each line as a JSON object, as stages.ParseJSON does without options: a schemaless
	// object (a map of field names), numbers exact. An empty line is skipped.
	JSONLines
	// CSV reads each line as a CSV row with Config.CSV (stages.CSVConfig), as stages.ParseCSV does: with
	// declared Columns a struct typed as declared; without, the columns are named by each file's first line
	// (read again whenever a task opens the file, so a restart in the middle of the file keeps them), and
	// rows are objects of strings. The header line is not emitted. A quoted field cannot span lines.
	CSV
)

// String names the format as Config.Format is written in Go: "file.Lines", "file.JSONLines", "file.CSV".
func (f Format) String() string {
	switch f {
	case Lines:
		return "file.Lines"
	case JSONLines:
		return "file.JSONLines"
	case CSV:
		return "file.CSV"
	}
	return fmt.Sprintf("file.Format(%d)", uint8(f))
}

// Shape says what the source emits (sources.Shaper): with Lines, strings, lines of text; with JSONLines
// or CSV, structured values (CSV: with the declared columns as fields). Keys never identify records: every
// line of a file has the file's path as key, which keeps its lines in order, so a sink must not take keys
// as document ids.
func (s *Source) Shape() stream.Shape {
	switch s.cfg.Format {
	case JSONLines:
		return stream.Shape{Value: stream.StructuredValue, From: "JSON objects read from lines of text (Format file.JSONLines)"}
	case CSV:
		var fields []string
		for _, c := range s.cfg.CSV.Columns {
			fields = append(fields, c.Name)
		}
		return stream.Shape{Value: stream.StructuredValue, Fields: fields, From: "CSV rows read from lines of text (Format file.CSV)"}
	}
	return stream.Shape{Value: stream.StringValue, From: "lines of text",
		Hint: "set the file source's Format to file.JSONLines or file.CSV"}
}

// checkFormat validates the Format options of cfg.
func checkFormat(cfg Config) error {
	switch cfg.Format {
	case Lines, JSONLines:
		return nil
	case CSV:
		if err := cfg.CSV.Validate(); err != nil {
			return fmt.Errorf("file source: CSV: %w", err)
		}
		return nil
	}
	return fmt.Errorf("file source: Format %d is not one of file.Lines, file.JSONLines, file.CSV", uint8(cfg.Format))
}

// formatter parses the lines of one task under its Format.
type formatter struct {
	format Format
	csv    *stages.CSVParser // declared columns, or those of the current file's header; nil until known
	header bool              // csv's columns come from the file's first line
}

func newFormatter(cfg Config) (*formatter, error) {
	f := &formatter{format: cfg.Format}
	if cfg.Format == CSV {
		p, err := stages.NewCSVParser(cfg.CSV)
		if err != nil {
			return nil, err
		}
		f.csv, f.header = p, len(cfg.CSV.Columns) == 0
	}
	return f, nil
}

// attached is told that the reader attached file f: a CSV format whose columns come from the file's
// header reads that first line now (without moving the reader's offset), so that a task opened in the
// middle of a file knows its columns. A file without a complete first line yet leaves the columns unknown
// until its first line is read.
func (f *formatter) attached(file *os.File, maxLine int) error {
	if f.format != CSV || !f.header {
		return nil
	}
	base, err := stages.NewCSVParser(stages.CSVConfig{Delimiter: f.delimiter()})
	if err != nil {
		return err
	}
	f.csv = base
	buf := make([]byte, 4096)
	var head []byte
	for off := int64(0); len(head) <= maxLine; {
		n, err := file.ReadAt(buf, off)
		head = append(head, buf[:n]...)
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			hp, err := base.WithHeader(string(bytes.TrimSuffix(head[:i], []byte("\r"))))
			if err != nil {
				return fmt.Errorf("file source: %s: %w", file.Name(), err)
			}
			f.csv = hp
			return nil
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("file source: %s: reading the header line: %w", file.Name(), err)
		}
		off += int64(n)
	}
	return nil
}

func (f *formatter) delimiter() rune { return f.csv.Delimiter() }

// apply parses the values of recs, lines read from name, in place. Records that carry no row (a header
// line, an empty JSON line) are dropped. At the first line that does not parse it returns the records
// before it and the error, which names the file, the line's place and the problem.
func (f *formatter) apply(recs []stream.Record, name string) ([]stream.Record, error) {
	out := recs[:0]
	for _, rec := range recs {
		line := rec.Value.(string)
		end, _ := ParsePosition(rec.Position)
		start := end.Offset - int64(len(line)) - 1
		var err error
		switch f.format {
		case JSONLines:
			if len(bytes.TrimSpace([]byte(line))) == 0 {
				continue
			}
			var v any
			if v, err = stream.DecodeJSONValue(nil, []byte(line)); err == nil {
				if _, ok := v.(map[string]any); !ok {
					err = errors.New("is JSON but not an object")
				}
			}
			if err == nil {
				rec.Value, rec.ValueSchema = v, nil
			}
		case CSV:
			line = strings.TrimSuffix(line, "\r")
			switch {
			case f.header && start <= 0:
				hp, herr := f.csv.WithHeader(line)
				if herr != nil {
					return out, fmt.Errorf("file source: %s: %w", name, herr)
				}
				f.csv = hp
				continue
			case !f.header && f.csv.IsHeader(line):
				continue
			}
			var v any
			if v, err = f.csv.Parse(line); err == nil {
				rec.Value, rec.ValueSchema = v, f.csv.Schema()
			}
		}
		if err != nil {
			return out, fmt.Errorf("file source: %s: the line at byte %d %s; fix or remove the line and restart, or read the file with Format file.Lines and parse it with a stage under a dead-letter topic",
				name, max(start, 0), lineProblem(err))
		}
		out = append(out, rec)
	}
	return out, nil
}

// lineProblem words a parse error to follow "the line at byte N".
func lineProblem(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{stream.ErrMalformed, stream.ErrSchemaMismatch} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
	}
	if errors.Is(err, stages.ErrCSVLine) {
		msg = strings.TrimPrefix(msg, stages.ErrCSVLine.Error()+": ")
		return "does not fit the CSV columns: " + msg
	}
	return msg
}
