package stages

import (
	"context"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// TimestampType is a representation of a point in time, named as in Kafka Connect's TimestampConverter.
type TimestampType string

const (
	// TimestampString is a string written in the converter's Format.
	TimestampString TimestampType = "string"
	// TimestampUnix is an int64 count of UnixPrecision units since the Unix epoch.
	TimestampUnix TimestampType = "unix"
	// TimestampDate is a Date logical value: a time.Time at midnight UTC.
	TimestampDate TimestampType = "Date"
	// TimestampTime is a Time logical value: a time.Time on 1970-01-01 UTC.
	TimestampTime TimestampType = "Time"
	// TimestampTimestamp is a Timestamp logical value: a time.Time.
	TimestampTimestamp TimestampType = "Timestamp"
)

// UnixPrecision is the unit of TimestampUnix values, as Connect's unix.precision.
type UnixPrecision string

// The units of unix timestamps.
const (
	UnixSeconds      UnixPrecision = "seconds"
	UnixMilliseconds UnixPrecision = "milliseconds"
	UnixMicroseconds UnixPrecision = "microseconds"
	UnixNanoseconds  UnixPrecision = "nanoseconds"
)

// TimestampConverterConfig configures TimestampConverter with Kafka Connect's TimestampConverter options.
type TimestampConverterConfig struct {
	// Field is the field holding the timestamp; "" converts the whole key or value.
	Field string
	// Target is the representation to convert to.
	Target TimestampType
	// Format is a java.text.SimpleDateFormat pattern ("yyyy-MM-dd'T'HH:mm:ss.SSSZ"), applied in UTC: how
	// TimestampString values are written and parsed. It is required when Target is TimestampString, and to
	// convert string inputs. The pattern letters G y M L d D E u a H k K h m s S z Z X are supported; text
	// (month and day names, AM/PM, eras) is English.
	Format string
	// UnixPrecision is the unit of TimestampUnix values, read or written; "" is UnixMilliseconds.
	UnixPrecision UnixPrecision
}

// Validate reports an unknown Target or UnixPrecision, a missing Format for string timestamps and a Format
// that is not a supported SimpleDateFormat pattern.
func (c TimestampConverterConfig) Validate() error {
	_, err := c.compile("")
	return err
}

func (c TimestampConverterConfig) compile(stage string) (*simpleDateFormat, error) {
	switch c.Target {
	case TimestampString, TimestampUnix, TimestampDate, TimestampTime, TimestampTimestamp:
	default:
		return nil, configErrorf(stage, "Target", "%q is not a timestamp type; want string, unix, Date, Time or Timestamp", c.Target)
	}
	switch c.UnixPrecision {
	case "", UnixSeconds, UnixMilliseconds, UnixMicroseconds, UnixNanoseconds:
	default:
		return nil, configErrorf(stage, "UnixPrecision", "%q is not seconds, milliseconds, microseconds or nanoseconds", c.UnixPrecision)
	}
	if strings.TrimSpace(c.Format) == "" {
		if c.Target == TimestampString {
			return nil, configErrorf(stage, "Format", "is required to convert to string timestamps")
		}
		return nil, nil
	}
	f, err := parseSimpleDateFormat(c.Format)
	if err != nil {
		return nil, configErrorf(stage, "Format", "%v", err)
	}
	return f, nil
}

// TimestampConverter makes a stage that converts a timestamp, the whole key or value or one of its fields,
// between Unix epoch numbers, formatted strings and the Date, Time and Timestamp logical types: Kafka
// Connect's TimestampConverter transform.
//
// Conversions go through a point in time of millisecond precision, as in Connect: finer input is
// truncated, a Date keeps the day (UTC) and a Time the time of day (UTC). The input type comes from the
// schema (the logical type's name, else string or int64); without a schema, from the Go type: time.Time is
// a Timestamp, int64 is unix, string is a string.
//
// With a schema, the converted value or field gets the schema of the target type (optional if the old one
// was; a field's default is dropped, as in Connect), and a struct's default is converted too. Without a
// schema and with Field set, the value must be a map, and a map without the field is left alone. A nil
// timestamp, key or value stays nil.
func TimestampConverter(name string, cfg TimestampConverterConfig, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("timestamp-converter", name); err != nil {
		return nil, err
	}
	format, err := cfg.compile(name)
	if err != nil {
		return nil, err
	}
	precision := cfg.UnixPrecision
	if precision == "" {
		precision = UnixMilliseconds
	}
	return &timestampConverterStage{name: name, target: newFieldTarget(opts), field: cfg.Field, to: cfg.Target,
		format: format, precision: precision}, nil
}

type timestampConverterStage struct {
	name      string
	target    fieldTarget
	field     string
	to        TimestampType
	format    *simpleDateFormat // nil without a Format
	precision UnixPrecision
	cache     schemaCache
}

func (s *timestampConverterStage) Name() string { return s.name }

// Process converts the timestamp in r's value (or key).
func (s *timestampConverterStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := s.target.get(&r)
	var out any
	var err error
	switch {
	case schema == nil && (v == nil || s.field == ""):
		if out, err = s.convert(v, ""); err != nil {
			return nil, s.target.wrap("", err)
		}
	case schema == nil:
		m, err := s.target.requireObject(v)
		if err != nil {
			return nil, err
		}
		converted := maps.Clone(m)
		if fv, ok := m[s.field]; ok {
			if converted[s.field], err = s.convert(fv, ""); err != nil {
				return nil, s.target.wrap(s.field, err)
			}
		}
		out = converted
	case s.field == "":
		from, err := timestampTypeOf(schema)
		if err != nil {
			return nil, s.target.wrap("", err)
		}
		if out, err = s.convert(v, from); err != nil {
			return nil, s.target.wrap("", err)
		}
		schema = s.typeSchema(schema.Optional)
	default:
		var st *stream.Struct
		if v != nil {
			if st, err = s.target.requireStruct(v); err != nil {
				return nil, err
			}
		}
		if schema, err = s.cache.get(schema, s.structSchema); err != nil {
			return nil, err
		}
		if st != nil {
			if out, err = s.convertStruct(st, schema); err != nil {
				return nil, err
			}
		}
	}
	s.target.set(&r, schema, out)
	return []stream.Record{r}, nil
}

// structSchema derives the schema of the converted struct from the schema of a struct value.
func (s *timestampConverterStage) structSchema(schema *stream.Schema) (*stream.Schema, error) {
	if schema.Type != stream.TypeStruct {
		return nil, s.target.errorf("", "schema is %s; converting field %q needs a struct", describeSchema(schema), s.field)
	}
	fields := append([]stream.Field(nil), schema.Fields...)
	for i, f := range fields {
		if f.Name == s.field {
			fields[i].Schema = s.typeSchema(f.Schema.Optional)
		}
	}
	updated, err := newStructSchema(schema, fields)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	updated.Optional = schema.Optional
	if d, ok := schema.Default.(*stream.Struct); ok && d != nil {
		if updated.Default, err = s.convertStruct(d, updated); err != nil {
			return nil, err
		}
	}
	return updated, nil
}

// convertStruct returns a Struct of updated with the fields of st, the configured one converted.
func (s *timestampConverterStage) convertStruct(st *stream.Struct, updated *stream.Schema) (*stream.Struct, error) {
	values := make(map[string]any, len(updated.Fields))
	for _, f := range st.Schema().Fields {
		fv := st.Get(f.Name)
		if f.Name == s.field {
			from, err := timestampTypeOf(f.Schema)
			if err != nil {
				return nil, s.target.wrap(f.Name, err)
			}
			if fv, err = s.convert(fv, from); err != nil {
				return nil, s.target.wrap(f.Name, err)
			}
		}
		values[f.Name] = fv
	}
	out, err := structOf(updated, values)
	if err != nil {
		return nil, s.target.wrap("", err)
	}
	return out, nil
}

// typeSchema returns the schema of the target type.
func (s *timestampConverterStage) typeSchema(optional bool) *stream.Schema {
	var schema *stream.Schema
	switch s.to {
	case TimestampString:
		schema = stream.StringSchema()
	case TimestampUnix:
		schema = stream.Int64Schema()
	case TimestampDate:
		schema = stream.DateSchema()
	case TimestampTime:
		schema = stream.TimeSchema()
	default:
		schema = stream.TimestampSchema()
	}
	schema.Optional = optional
	return schema
}

// timestampTypeOf returns the representation a schema describes, as Connect's timestampTypeFromSchema.
func timestampTypeOf(schema *stream.Schema) (TimestampType, error) {
	switch {
	case schema.Name == stream.TimestampName:
		return TimestampTimestamp, nil
	case schema.Name == stream.DateName:
		return TimestampDate, nil
	case schema.Name == stream.TimeName:
		return TimestampTime, nil
	case schema.Type == stream.TypeString:
		return TimestampString, nil
	case schema.Type == stream.TypeInt64:
		return TimestampUnix, nil
	}
	return "", fmt.Errorf("schema %s is not a timestamp: want a string, an int64 or a Date, Time or Timestamp", describeSchema(schema))
}

// convert converts v, of representation from ("" to infer it from the Go type), to the target.
func (s *timestampConverterStage) convert(v any, from TimestampType) (any, error) {
	if v == nil {
		return nil, nil
	}
	if from == "" {
		switch v.(type) {
		case time.Time:
			from = TimestampTimestamp
		case int64:
			from = TimestampUnix
		case string:
			from = TimestampString
		default:
			return nil, fmt.Errorf("%s is not a timestamp: want a timestamp, an int64 or a string", stream.TypeName(v))
		}
	}
	t, err := s.toTime(v, from)
	if err != nil {
		return nil, err
	}
	switch s.to {
	case TimestampString:
		return s.format.format(t), nil
	case TimestampUnix:
		return millisToUnix(t.UnixMilli(), s.precision), nil
	case TimestampDate:
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case TimestampTime:
		return time.UnixMilli(t.UnixMilli() - floorDiv(t.UnixMilli(), millisPerDay)*millisPerDay).UTC(), nil
	}
	return t, nil
}

// toTime reads v, of representation from, as a UTC time of millisecond precision.
func (s *timestampConverterStage) toTime(v any, from TimestampType) (time.Time, error) {
	switch from {
	case TimestampString:
		str, ok := v.(string)
		if !ok {
			return time.Time{}, fmt.Errorf("a string timestamp must be a string, not %s", stream.TypeName(v))
		}
		if s.format == nil {
			return time.Time{}, fmt.Errorf("cannot parse string timestamp %q: the stage has no Format", str)
		}
		return s.format.parse(str, time.Now())
	case TimestampUnix:
		n, ok := v.(int64)
		if !ok {
			return time.Time{}, fmt.Errorf("a unix timestamp must be an int64, not %s", stream.TypeName(v))
		}
		return time.UnixMilli(unixToMillis(n, s.precision)).UTC(), nil
	}
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("a %s must be a timestamp, not %s", from, stream.TypeName(v))
	}
	return time.UnixMilli(t.UnixMilli()).UTC(), nil
}

// unixToMillis converts n units to milliseconds as Java's TimeUnit does: truncating toward zero, saturating.
func unixToMillis(n int64, p UnixPrecision) int64 {
	switch p {
	case UnixSeconds:
		return saturatingMul(n, 1000)
	case UnixMicroseconds:
		return n / 1000
	case UnixNanoseconds:
		return n / 1_000_000
	}
	return n
}

// millisToUnix converts milliseconds to units as Java's TimeUnit does.
func millisToUnix(ms int64, p UnixPrecision) int64 {
	switch p {
	case UnixSeconds:
		return ms / 1000
	case UnixMicroseconds:
		return saturatingMul(ms, 1000)
	case UnixNanoseconds:
		return saturatingMul(ms, 1_000_000)
	}
	return ms
}

func saturatingMul(a, b int64) int64 {
	switch {
	case a > math.MaxInt64/b:
		return math.MaxInt64
	case a < math.MinInt64/b:
		return math.MinInt64
	}
	return a * b
}

// simpleDateFormat formats and parses times in UTC with a java.text.SimpleDateFormat pattern.
type simpleDateFormat struct {
	pattern string
	tokens  []dateToken
}

// dateToken is a pattern letter repeated count times, or (letter 0) literal text.
type dateToken struct {
	letter byte
	count  int
	text   string
}

func (t dateToken) numeric() bool {
	switch t.letter {
	case 'y', 'd', 'D', 'u', 'H', 'k', 'K', 'h', 'm', 's', 'S':
		return true
	case 'M', 'L':
		return t.count < 3
	}
	return false
}

// parseSimpleDateFormat compiles a pattern as SimpleDateFormat does: letters are fields, text in single
// quotes is literal, and a doubled single quote stands for one.
func parseSimpleDateFormat(pattern string) (*simpleDateFormat, error) {
	f := &simpleDateFormat{pattern: pattern}
	literal := func(s string) {
		if n := len(f.tokens); n > 0 && f.tokens[n-1].letter == 0 {
			f.tokens[n-1].text += s
		} else {
			f.tokens = append(f.tokens, dateToken{text: s})
		}
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				literal("'")
				i += 2
				continue
			}
			var text strings.Builder
			j := i + 1
			for ; ; j++ {
				if j >= len(pattern) {
					return nil, fmt.Errorf("unterminated quote in pattern %q", pattern)
				}
				if pattern[j] == '\'' {
					if j+1 < len(pattern) && pattern[j+1] == '\'' {
						text.WriteByte('\'')
						j++
						continue
					}
					break
				}
				text.WriteByte(pattern[j])
			}
			literal(text.String())
			i = j + 1
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			j := i
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			switch {
			case strings.IndexByte("GyMLdDEuaHkKhmsSzZX", c) >= 0:
			case strings.IndexByte("YwWF", c) >= 0:
				return nil, fmt.Errorf("pattern letter %q of %q is not supported", c, pattern)
			default:
				return nil, fmt.Errorf("illegal pattern letter %q in %q", c, pattern)
			}
			f.tokens = append(f.tokens, dateToken{letter: c, count: j - i})
			i = j
		default:
			literal(string(c))
			i++
		}
	}
	return f, nil
}

var (
	monthNames   = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	weekdayNames = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

func padInt(n, width int) string {
	s := strconv.Itoa(n)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// format writes t (in UTC) as SimpleDateFormat.format does.
func (f *simpleDateFormat) format(t time.Time) string {
	t = t.UTC()
	var b strings.Builder
	for _, tok := range f.tokens {
		n := tok.count
		switch tok.letter {
		case 0:
			b.WriteString(tok.text)
		case 'G':
			if t.Year() <= 0 {
				b.WriteString("BC")
			} else {
				b.WriteString("AD")
			}
		case 'y':
			y := t.Year()
			if y <= 0 {
				y = 1 - y
			}
			if n == 2 {
				b.WriteString(padInt(y%100, 2))
			} else {
				b.WriteString(padInt(y, n))
			}
		case 'M', 'L':
			switch {
			case n >= 4:
				b.WriteString(monthNames[t.Month()-1])
			case n == 3:
				b.WriteString(monthNames[t.Month()-1][:3])
			default:
				b.WriteString(padInt(int(t.Month()), n))
			}
		case 'd':
			b.WriteString(padInt(t.Day(), n))
		case 'D':
			b.WriteString(padInt(t.YearDay(), n))
		case 'E':
			if n >= 4 {
				b.WriteString(weekdayNames[t.Weekday()])
			} else {
				b.WriteString(weekdayNames[t.Weekday()][:3])
			}
		case 'u':
			d := int(t.Weekday())
			if d == 0 {
				d = 7
			}
			b.WriteString(padInt(d, n))
		case 'a':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'H':
			b.WriteString(padInt(t.Hour(), n))
		case 'k':
			h := t.Hour()
			if h == 0 {
				h = 24
			}
			b.WriteString(padInt(h, n))
		case 'K':
			b.WriteString(padInt(t.Hour()%12, n))
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b.WriteString(padInt(h, n))
		case 'm':
			b.WriteString(padInt(t.Minute(), n))
		case 's':
			b.WriteString(padInt(t.Second(), n))
		case 'S':
			b.WriteString(padInt(t.Nanosecond()/1e6, n))
		case 'z':
			if n >= 4 {
				b.WriteString("Coordinated Universal Time")
			} else {
				b.WriteString("UTC")
			}
		case 'Z':
			b.WriteString("+0000")
		case 'X':
			b.WriteString("Z")
		}
	}
	return b.String()
}

// parse reads s as SimpleDateFormat.parse does, leniently: numbers out of range roll over, leading spaces
// before a field are skipped, and text after the pattern is ignored. now anchors two-digit years to the
// century that starts 80 years before it.
func (f *simpleDateFormat) parse(s string, now time.Time) (time.Time, error) {
	fail := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("could not parse timestamp %q: it does not match pattern %q", s, f.pattern)
	}
	year, month, day, yearDay := 1970, 1, 1, 0
	hourOfDay, hour12, minute, second, milli, offset := -1, -1, 0, 0, 0, 0
	pm, bc, monthOrDay := false, false, false
	pos := 0
	for i, tok := range f.tokens {
		if tok.letter == 0 {
			if !strings.HasPrefix(s[pos:], tok.text) {
				return fail()
			}
			pos += len(tok.text)
			continue
		}
		for pos < len(s) && (s[pos] == ' ' || s[pos] == '\t') {
			pos++
		}
		if pos >= len(s) {
			return fail()
		}
		if !tok.numeric() {
			var ok bool
			switch tok.letter {
			case 'M', 'L':
				var m int
				if m, ok = matchName(s, &pos, monthNames); ok {
					month, monthOrDay = m+1, true
				}
			case 'E':
				_, ok = matchName(s, &pos, weekdayNames)
			case 'a':
				var v int
				if v, ok = matchName(s, &pos, []string{"AM", "PM"}); ok {
					pm = v == 1
				}
			case 'G':
				var v int
				if v, ok = matchName(s, &pos, []string{"BC", "AD"}); ok {
					bc = v == 0
				}
			case 'z', 'Z', 'X':
				offset, ok = matchZone(s, &pos)
			}
			if !ok {
				return fail()
			}
			continue
		}
		width := len(s) - pos
		if i+1 < len(f.tokens) && f.tokens[i+1].numeric() {
			width = tok.count // abutting numeric fields: each takes its pattern width
		}
		start := pos
		for pos < len(s) && pos-start < width && '0' <= s[pos] && s[pos] <= '9' {
			pos++
		}
		if pos == start {
			return fail()
		}
		n, err := strconv.Atoi(s[start:pos])
		if err != nil {
			return fail()
		}
		switch tok.letter {
		case 'y':
			year = n
			if tok.count <= 2 && pos-start == 2 {
				centuryStart := now.UTC().Year() - 80
				year = centuryStart/100*100 + n
				if n < centuryStart%100 {
					year += 100
				}
			}
		case 'M', 'L':
			month, monthOrDay = n, true
		case 'd':
			day, monthOrDay = n, true
		case 'D':
			yearDay = n
		case 'H':
			hourOfDay = n
		case 'k':
			if n == 24 {
				n = 0
			}
			hourOfDay = n
		case 'K':
			hour12 = n
		case 'h':
			if n == 12 {
				n = 0
			}
			hour12 = n
		case 'm':
			minute = n
		case 's':
			second = n
		case 'S':
			milli = n
		}
	}
	if bc {
		year = 1 - year
	}
	hour := hourOfDay
	if hour < 0 {
		hour = max(hour12, 0)
		if pm {
			hour += 12
		}
	}
	if yearDay > 0 && !monthOrDay {
		month, day = 1, yearDay
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC)
	return t.Add(time.Duration(milli)*time.Millisecond - time.Duration(offset)*time.Second), nil
}

// matchName reads one of names, or its three-letter abbreviation, in any case, at *pos, longest first.
func matchName(s string, pos *int, names []string) (int, bool) {
	rest := strings.ToLower(s[*pos:])
	best, bestLen := -1, 0
	for i, name := range names {
		for _, candidate := range []string{name, name[:min(3, len(name))]} {
			if len(candidate) > bestLen && strings.HasPrefix(rest, strings.ToLower(candidate)) {
				best, bestLen = i, len(candidate)
			}
		}
	}
	if best < 0 {
		return 0, false
	}
	*pos += bestLen
	return best, true
}

// matchZone reads a time zone at *pos and returns its offset from UTC in seconds: "Z", "UTC", "GMT", "UT",
// their long names, "+hh", "+hhmm", "+hh:mm" (or "-"), optionally after "GMT" or "UTC".
func matchZone(s string, pos *int) (int, bool) {
	rest := s[*pos:]
	for _, name := range []string{"Coordinated Universal Time", "Greenwich Mean Time", "UTC", "GMT", "UT", "Z"} {
		if strings.HasPrefix(rest, name) {
			*pos += len(name)
			rest = rest[len(name):]
			if off, n, ok := parseZoneOffset(rest); ok && name != "Z" && !strings.Contains(name, " ") {
				*pos += n
				return off, true
			}
			return 0, true
		}
	}
	off, n, ok := parseZoneOffset(rest)
	if ok {
		*pos += n
	}
	return off, ok
}

// parseZoneOffset reads "+h", "+hh", "+hhmm", "+hh:mm" or "+h:mm" (or "-") and returns the offset in seconds
// and the bytes read.
func parseZoneOffset(s string) (int, int, bool) {
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, 0, false
	}
	digits := func(from, most int) (int, int) {
		n, i := 0, from
		for i < len(s) && i-from < most && '0' <= s[i] && s[i] <= '9' {
			n = n*10 + int(s[i]-'0')
			i++
		}
		return n, i - from
	}
	hours, hn := digits(1, 2)
	if hn == 0 {
		return 0, 0, false
	}
	i := 1 + hn
	minutes := 0
	if i < len(s) && s[i] == ':' {
		m, mn := digits(i+1, 2)
		if mn != 2 {
			return 0, 0, false
		}
		minutes, i = m, i+3
	} else if hn == 2 {
		if m, mn := digits(i, 2); mn == 2 {
			minutes, i = m, i+2
		}
	}
	if hours > 23 || minutes > 59 {
		return 0, 0, false
	}
	off := hours*3600 + minutes*60
	if s[0] == '-' {
		off = -off
	}
	return off, i, true
}
