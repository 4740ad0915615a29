package elasticsearch

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/stream"
)

// schemaDocument writes a struct value with its schema as the document body, converting logical values to
// what their derived mapping parses without loss (see the package documentation): dates and timestamps as
// ISO-8601 strings, decimals as exact JSON numbers or strings. Maps with non-string keys are written by the
// json codec (as [[key,value],...] pairs).
func (s *Sink) schemaDocument(schema *stream.Schema, v *stream.Struct, raw map[string]bool) ([]byte, error) {
	w := docWriter{decimals: s.cfg.DecimalMapping, codec: s.json, raw: raw}
	if err := w.value("", schema, v); err != nil {
		return nil, err
	}
	return w.buf, nil
}

type docWriter struct {
	buf      []byte
	decimals DecimalMapping
	codec    stream.Codec
	raw      map[string]bool // dotted field paths written as the json codec writes them
}

// value writes v, the value of the field at path ("" for the document), described by s.
func (w *docWriter) value(path string, s *stream.Schema, v any) error {
	if v == nil && s != nil && s.Default != nil {
		v = s.Default
	}
	if v == nil {
		w.buf = append(w.buf, "null"...)
		return nil
	}
	if s == nil || w.raw[path] {
		return w.encoded(s, v)
	}
	switch kindOf(s, w.decimals) {
	case kindDecimalNumber, kindDecimalKeyword:
		d, ok := v.(stream.Decimal)
		if !ok {
			return fmt.Errorf("a Decimal field holds %s", describeValue(v))
		}
		scale, err := decimalScale(s)
		if err != nil {
			return err
		}
		rescaled, err := d.Rescale(scale)
		if err != nil {
			return fmt.Errorf("decimal %s does not fit the schema's scale %d", d, scale)
		}
		return w.decimal(rescaled, kindOf(s, w.decimals) == kindDecimalKeyword)
	case kindVariableDecimal:
		st, ok := v.(*stream.Struct)
		if !ok {
			return fmt.Errorf("a VariableScaleDecimal field holds %s", describeValue(v))
		}
		scale, err1 := stream.FieldValue[int32](st, "scale")
		raw, err2 := stream.FieldValue[[]byte](st, "value")
		if err1 != nil || err2 != nil {
			return fmt.Errorf("a VariableScaleDecimal field lacks its scale or value")
		}
		return w.decimal(stream.Decimal{Unscaled: fromTwosComplement(raw), Scale: scale}, true)
	case kindConnectDate:
		return w.timeValue(v, "2006-01-02")
	case kindConnectTime:
		return w.timeValue(v, "2006-01-02T15:04:05.000Z07:00")
	case kindConnectTimestamp:
		return w.timeValue(v, time.RFC3339Nano)
	case kindDebeziumDate:
		n, ok := integer(v)
		if !ok {
			return fmt.Errorf("a %s field holds %s", debeziumDate, describeValue(v))
		}
		w.quoted(time.Unix(n*86400, 0).UTC().Format("2006-01-02"))
		return nil
	case kindEpochMillis, kindEpochMicros, kindEpochNanos:
		n, ok := integer(v)
		if !ok {
			return fmt.Errorf("a %s field holds %s", s.Name, describeValue(v))
		}
		var t time.Time
		switch kindOf(s, w.decimals) {
		case kindEpochMillis:
			t = time.UnixMilli(n)
		case kindEpochMicros:
			t = time.UnixMicro(n)
		default:
			t = time.Unix(0, n)
		}
		w.quoted(t.UTC().Format(time.RFC3339Nano))
		return nil
	}
	switch s.Type {
	case stream.TypeInt8, stream.TypeInt16, stream.TypeInt32, stream.TypeInt64:
		n, ok := integer(v)
		if !ok {
			return fmt.Errorf("an %s field holds %s", s.Type, describeValue(v))
		}
		w.buf = strconv.AppendInt(w.buf, n, 10)
	case stream.TypeFloat32, stream.TypeFloat64:
		var f float64
		bits := 64
		switch x := v.(type) {
		case float32:
			f, bits = float64(x), 32
		case float64:
			f = x
		default:
			return fmt.Errorf("a %s field holds %s", s.Type, describeValue(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%v is not a JSON number", f)
		}
		w.buf = strconv.AppendFloat(w.buf, f, 'g', -1, bits)
	case stream.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("a boolean field holds %s", describeValue(v))
		}
		w.buf = strconv.AppendBool(w.buf, b)
	case stream.TypeString:
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("a string field holds %s", describeValue(v))
		}
		w.quoted(str)
	case stream.TypeBytes:
		b, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("a bytes field holds %s", describeValue(v))
		}
		w.buf = append(w.buf, '"')
		w.buf = base64.StdEncoding.AppendEncode(w.buf, b)
		w.buf = append(w.buf, '"')
	case stream.TypeArray:
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("an array field holds %s", describeValue(v))
		}
		w.buf = append(w.buf, '[')
		for i, e := range items {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if err := w.value(path, s.Items, e); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		w.buf = append(w.buf, ']')
	case stream.TypeStruct:
		st, ok := v.(*stream.Struct)
		if !ok {
			return fmt.Errorf("a struct field holds %s", describeValue(v))
		}
		w.buf = append(w.buf, '{')
		for i, f := range st.Schema().Fields {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.quoted(f.Name)
			w.buf = append(w.buf, ':')
			child := f.Name
			if path != "" {
				child = path + "." + f.Name
			}
			if err := w.value(child, f.Schema, st.Get(f.Name)); err != nil {
				return fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		w.buf = append(w.buf, '}')
	default: // maps, and anything else the codec knows
		return w.encoded(s, v)
	}
	return nil
}

// encoded appends what the json codec writes for v.
func (w *docWriter) encoded(s *stream.Schema, v any) error {
	b, err := w.codec.Encode(s, v)
	if err != nil {
		return err
	}
	w.buf = append(w.buf, b...)
	return nil
}

// decimal appends d in plain notation with its scale's digits, quoted for a keyword.
func (w *docWriter) decimal(d stream.Decimal, quoted bool) error {
	text := d.String()
	if quoted {
		w.quoted(text)
	} else {
		w.buf = append(w.buf, text...)
	}
	return nil
}

func (w *docWriter) timeValue(v any, layout string) error {
	t, ok := v.(time.Time)
	if !ok {
		return fmt.Errorf("a date or time field holds %s", describeValue(v))
	}
	w.quoted(t.UTC().Format(layout))
	return nil
}

// quoted appends s as a JSON string; invalid UTF-8 becomes U+FFFD, as encoding/json writes it.
func (w *docWriter) quoted(s string) {
	const hex = "0123456789abcdef"
	w.buf = append(w.buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				w.buf = append(w.buf, '\\', c)
			case c == '\n':
				w.buf = append(w.buf, '\\', 'n')
			case c == '\r':
				w.buf = append(w.buf, '\\', 'r')
			case c == '\t':
				w.buf = append(w.buf, '\\', 't')
			case c < 0x20:
				w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				w.buf = append(w.buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.buf = append(w.buf, `\ufffd`...)
		} else {
			w.buf = append(w.buf, s[i:i+size]...)
		}
		i += size
	}
	w.buf = append(w.buf, '"')
}

// integer reads any Go integer type that carries an integer schema's values.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

// fromTwosComplement reads a big-endian two's-complement integer, as Connect writes a Decimal's bytes.
func fromTwosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return n
}

// describeValue names a value's kind in the user's terms, for errors.
func describeValue(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case bool:
		return "a boolean"
	case int8, int16, int32, int64, int:
		return "an integer"
	case float32, float64:
		return "a floating-point number"
	case stream.Decimal:
		return "a decimal"
	case time.Time:
		return "a time"
	case []any:
		return "an array"
	case *stream.Struct:
		return "a struct"
	}
	return "a map or other value"
}
