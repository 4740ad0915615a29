package stages

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Cast makes a stage that casts fields, or the whole key or value, to another primitive type: Kafka
// Connect's Cast transform.
//
// spec is Connect's "spec" option: comma-separated field:type pairs ("age:int32,price:float64") cast those
// fields of a struct or map; a single type ("int64") casts the whole value. The types are int8, int16,
// int32, int64, float32, float64, boolean and string, in any case.
//
// Values convert as Connect converts them, which is as Java does: integers narrow by keeping their low bits
// (int32 300 to int8 is 44); floats and Decimals to integers truncate toward zero (floats saturate,
// Decimals keep the low bits); numbers to boolean are true unless their integer part is zero; booleans to
// numbers are 1 or 0; strings parse like Integer.parseInt, Float.parseFloat and Boolean.parseBoolean ("true"
// in any case is true, any other string false); bytes cast only to string, as standard base64; Decimals to
// string use BigDecimal.toString notation and floats Java's ("42.0", "1.0E10"). Date, Time and Timestamp
// values cast to numbers as their days or milliseconds since the epoch, and to string as "2006-01-02",
// "15:04:05.000Z" or "2006-01-02T15:04:05.000Z" (UTC), picked by the instant as Connect's
// Values.dateFormatFor picks. Arrays, maps and structs cannot be cast.
//
// With a schema, each cast field gets a schema of its new type that keeps the field's optionality and
// default (cast too); other fields keep their schemas. Nil fields stay nil, fields that the spec names but
// the value lacks are left alone, and a nil key or value passes through unchanged.
func Cast(name, spec string, opts ...FieldOption) (Stage, error) {
	if err := checkStageName("cast", name); err != nil {
		return nil, err
	}
	whole, fields, err := parseCastSpec(name, spec)
	if err != nil {
		return nil, err
	}
	return &castStage{name: name, target: newFieldTarget(opts), whole: whole, fields: fields}, nil
}

// castTypes maps the type names of Connect's Cast spec to schema types.
var castTypes = map[string]stream.Type{
	"int8": stream.TypeInt8, "int16": stream.TypeInt16, "int32": stream.TypeInt32, "int64": stream.TypeInt64,
	"float32": stream.TypeFloat32, "float64": stream.TypeFloat64, "boolean": stream.TypeBoolean,
	"string": stream.TypeString,
}

const castTypeList = "int8, int16, int32, int64, float32, float64, boolean or string"

func parseCastSpec(stage, spec string) (stream.Type, map[string]stream.Type, error) {
	if strings.TrimSpace(spec) == "" {
		return "", nil, configErrorf(stage, "spec", "is empty; name at least one field:type pair, or one type to cast the whole value")
	}
	entries := strings.Split(spec, ",")
	var whole stream.Type
	fields := make(map[string]stream.Type)
	for _, entry := range entries {
		parts := strings.Split(entry, ":")
		typeName := strings.ToLower(strings.TrimSpace(parts[len(parts)-1]))
		t, ok := castTypes[typeName]
		switch {
		case len(parts) > 2:
			return "", nil, configErrorf(stage, "spec", "%q is not a field:type pair", strings.TrimSpace(entry))
		case strings.TrimSpace(entry) == "":
			return "", nil, configErrorf(stage, "spec", "has an empty entry in %q", spec)
		case !ok:
			return "", nil, configErrorf(stage, "spec", "cannot cast to %q; the types are %s", strings.TrimSpace(parts[len(parts)-1]), castTypeList)
		case len(parts) == 1:
			whole = t
			continue
		}
		field := strings.TrimSpace(parts[0])
		if field == "" {
			return "", nil, configErrorf(stage, "spec", "%q has no field name", strings.TrimSpace(entry))
		}
		if _, dup := fields[field]; dup {
			return "", nil, configErrorf(stage, "spec", "casts field %q twice", field)
		}
		fields[field] = t
	}
	if whole != "" && len(entries) > 1 {
		return "", nil, configErrorf(stage, "spec", "a type for the whole value must be the only entry, in %q", spec)
	}
	return whole, fields, nil
}

type castStage struct {
	name   string
	target fieldTarget
	whole  stream.Type // set when the whole value is cast
	fields map[string]stream.Type
	cache  schemaCache
}

func (c *castStage) Name() string { return c.name }

// Process casts the fields (or the whole key or value) of r.
func (c *castStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	schema, v := c.target.get(&r)
	if v == nil {
		return []stream.Record{r}, nil
	}
	var out any
	var err error
	switch {
	case c.whole != "":
		out, err = castValue(schema, v, c.whole)
		if err != nil {
			return nil, c.target.wrap("", err)
		}
		if schema != nil {
			schema, err = c.cache.get(schema, c.wholeSchema)
		}
	case schema == nil:
		out, err = c.castObject(v)
	default:
		schema, out, err = c.castStruct(schema, v)
	}
	if err != nil {
		return nil, err
	}
	c.target.set(&r, schema, out)
	return []stream.Record{r}, nil
}

// castObject casts the fields of a schemaless object.
func (c *castStage) castObject(v any) (any, error) {
	m, err := c.target.requireObject(v)
	if err != nil {
		return nil, err
	}
	out := maps.Clone(m)
	for field, t := range c.fields {
		fv, ok := m[field]
		if !ok {
			continue
		}
		if out[field], err = castValue(nil, fv, t); err != nil {
			return nil, c.target.wrap(field, err)
		}
	}
	return out, nil
}

// castStruct casts the fields of a Struct described by schema.
func (c *castStage) castStruct(schema *stream.Schema, v any) (*stream.Schema, any, error) {
	s, err := c.target.requireStruct(v)
	if err != nil {
		return nil, nil, err
	}
	updated, err := c.cache.get(schema, c.structSchema)
	if err != nil {
		return nil, nil, err
	}
	out, err := c.castFields(schema, s, updated)
	return updated, out, err
}

// castFields returns a Struct of updated with the fields of s (described by schema), cast.
func (c *castStage) castFields(schema *stream.Schema, s *stream.Struct, updated *stream.Schema) (*stream.Struct, error) {
	values := make(map[string]any, len(updated.Fields))
	for _, f := range schema.Fields {
		fv := s.Get(f.Name)
		if t, ok := c.fields[f.Name]; ok {
			var err error
			if fv, err = castValue(f.Schema, fv, t); err != nil {
				return nil, c.target.wrap(f.Name, err)
			}
		}
		values[f.Name] = fv
	}
	out, err := structOf(updated, values)
	if err != nil {
		return nil, c.target.wrap("", err)
	}
	return out, nil
}

// structSchema derives the schema of the cast value from the schema of a struct value.
func (c *castStage) structSchema(schema *stream.Schema) (*stream.Schema, error) {
	if schema.Type != stream.TypeStruct {
		return nil, c.target.errorf("", "schema is %s; casting fields needs a struct", describeSchema(schema))
	}
	fields := make([]stream.Field, len(schema.Fields))
	for i, f := range schema.Fields {
		fields[i] = f
		if t, ok := c.fields[f.Name]; ok {
			fs, err := castSchema(f.Schema, t, false)
			if err != nil {
				return nil, c.target.wrap(f.Name, err)
			}
			fields[i].Schema = fs
		}
	}
	updated, err := newStructSchema(schema, fields)
	if err != nil {
		return nil, c.target.wrap("", err)
	}
	updated.Optional = schema.Optional
	if d, ok := schema.Default.(*stream.Struct); ok && d != nil {
		// Connect fails on a struct default; cast its fields like a value's.
		if updated.Default, err = c.castFields(schema, d, updated); err != nil {
			return nil, err
		}
	}
	return updated, nil
}

// wholeSchema derives the schema of the cast value from the schema of the whole value.
func (c *castStage) wholeSchema(schema *stream.Schema) (*stream.Schema, error) {
	s, err := castSchema(schema, c.whole, true)
	if err != nil {
		return nil, c.target.wrap("", err)
	}
	return s, nil
}

// castSchema returns the schema of type t for values cast from schema: optional if schema is, with its
// default cast. For a whole value (basics), the name, version, doc and parameters are kept, as Connect keeps
// them, unless schema is a logical type whose name would then be wrong.
func castSchema(schema *stream.Schema, t stream.Type, basics bool) (*stream.Schema, error) {
	s := &stream.Schema{Type: t, Optional: schema.Optional}
	if basics {
		s.Doc = schema.Doc
		if logicalName(schema) == "" {
			s.Name, s.Version, s.Parameters = schema.Name, schema.Version, maps.Clone(schema.Parameters)
		}
	}
	if schema.Default != nil {
		d, err := castValue(schema, schema.Default, t)
		if err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
		s.Default = d
	}
	return s, nil
}

// errBytesCast is the error for bytes cast to anything but string.
var errBytesCast = errors.New("bytes can only be cast to string")

// castValue casts v, described by schema (nil when schemaless), to type t, as Connect's
// Cast.castValueToType does.
func castValue(schema *stream.Schema, v any, t stream.Type) (any, error) {
	if v == nil {
		return nil, nil
	}
	if schema != nil {
		switch schema.Type {
		case stream.TypeArray, stream.TypeMap, stream.TypeStruct:
			return nil, fmt.Errorf("cannot cast from %s; Cast supports int8, int16, int32, int64, float, double, boolean, string and bytes", schema.Type)
		}
	}
	switch x := v.(type) {
	case int8, int16, int32, int64, float32, float64, bool, string, []byte, stream.Decimal:
	case time.Time:
		if t == stream.TypeString {
			return javaDateString(x), nil
		}
		v = timeAsNumber(schema, x)
	default:
		return nil, fmt.Errorf("cannot cast a value of type %s", stream.TypeName(v))
	}
	switch t {
	case stream.TypeInt8, stream.TypeInt16, stream.TypeInt32, stream.TypeInt64:
		return castToInteger(v, t)
	case stream.TypeFloat32:
		f, err := castToFloat(v, 32)
		return float32(f), err
	case stream.TypeFloat64:
		return castToFloat(v, 64)
	case stream.TypeBoolean:
		return castToBoolean(v)
	case stream.TypeString:
		return castToString(v), nil
	}
	return nil, fmt.Errorf("cannot cast to %s", t)
}

// timeAsNumber returns the number a Date (days), Time (milliseconds of the day) or Timestamp (milliseconds)
// is written as. A schemaless time is taken for a Timestamp.
func timeAsNumber(schema *stream.Schema, t time.Time) any {
	switch logicalName(schema) {
	case stream.DateName:
		return int32(floorDiv(t.Unix(), 24*60*60))
	case stream.TimeName:
		return int32(t.UnixMilli())
	}
	return t.UnixMilli()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func castToInteger(v any, t stream.Type) (any, error) {
	bits := map[stream.Type]int{stream.TypeInt8: 8, stream.TypeInt16: 16, stream.TypeInt32: 32, stream.TypeInt64: 64}[t]
	var n int64
	switch x := v.(type) {
	case bool:
		if x {
			n = 1
		}
	case string:
		var err error
		if n, err = strconv.ParseInt(x, 10, bits); err != nil {
			return nil, fmt.Errorf("cannot cast %q to int%d: not a decimal integer in range", x, bits)
		}
	case []byte:
		return nil, errBytesCast
	default:
		if bits == 64 {
			n = javaLongValue(v)
		} else {
			n = int64(javaIntValue(v))
		}
	}
	switch bits {
	case 8:
		return int8(n), nil
	case 16:
		return int16(n), nil
	case 32:
		return int32(n), nil
	}
	return n, nil
}

// javaIntValue returns Number.intValue() of a number: integers keep their low 32 bits, floats truncate and
// saturate, Decimals truncate and keep their low 32 bits.
func javaIntValue(v any) int32 {
	switch x := v.(type) {
	case float32:
		return javaD2I(float64(x))
	case float64:
		return javaD2I(x)
	}
	return int32(javaLongValue(v))
}

// javaLongValue returns Number.longValue() of a number.
func javaLongValue(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case float32:
		return javaD2L(float64(x))
	case float64:
		return javaD2L(x)
	case stream.Decimal:
		low := new(big.Int).And(decimalIntegerPart(x), new(big.Int).SetUint64(math.MaxUint64))
		return int64(low.Uint64())
	}
	return 0
}

func javaD2I(f float64) int32 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int32(f)
}

func javaD2L(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// decimalIntegerPart returns d truncated toward zero.
func decimalIntegerPart(d stream.Decimal) *big.Int {
	u := d.Unscaled
	if u == nil {
		u = new(big.Int)
	}
	switch {
	case d.Scale > 0:
		return new(big.Int).Quo(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil))
	case d.Scale < 0:
		return new(big.Int).Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(-int64(d.Scale)), nil))
	}
	return u
}

// castToFloat returns v as a float of bitSize bits (held in a float64).
func castToFloat(v any, bitSize int) (float64, error) {
	var f float64
	switch x := v.(type) {
	case bool:
		if x {
			f = 1
		}
	case string:
		var err error
		if f, err = parseJavaFloat(x, bitSize); err != nil {
			return 0, fmt.Errorf("cannot cast %q to float%d: not a number", x, bitSize)
		}
	case []byte:
		return 0, errBytesCast
	case float32:
		f = float64(x)
	case float64:
		f = x
	case stream.Decimal:
		f, _ = parseJavaFloat(x.String(), bitSize)
	default:
		if bitSize == 32 {
			return float64(float32(javaLongValue(v))), nil
		}
		f = float64(javaLongValue(v))
	}
	if bitSize == 32 {
		f = float64(float32(f))
	}
	return f, nil
}

// parseJavaFloat parses s as Java's Double.parseDouble (or Float.parseFloat) does: surrounding whitespace and
// a trailing f or d are allowed, and a number beyond the range is infinite rather than an error.
func parseJavaFloat(s string, bitSize int) (float64, error) {
	s = strings.TrimSpace(s)
	if n := len(s); n > 1 && strings.ContainsRune("fFdD", rune(s[n-1])) && !strings.HasPrefix(strings.ToLower(s), "0x") {
		s = s[:n-1]
	}
	f, err := strconv.ParseFloat(s, bitSize)
	if err != nil {
		if ne := (*strconv.NumError)(nil); errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f, nil
		}
		return 0, err
	}
	return f, nil
}

func castToBoolean(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return strings.EqualFold(x, "true"), nil
	case []byte:
		return false, errBytesCast
	}
	return javaLongValue(v) != 0, nil
}

func castToString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float32:
		return stream.JavaFloatString(float64(x), 32)
	case float64:
		return stream.JavaFloatString(x, 64)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case stream.Decimal:
		return x.JavaString()
	}
	return strconv.FormatInt(javaLongValue(v), 10)
}

const millisPerDay = 24 * 60 * 60 * 1000

// javaDateString formats t as Connect's Values.dateFormatFor(t).format(t) does (in UTC): a time before the
// second day of the epoch as a Time, a midnight as a Date, anything else as a Timestamp.
func javaDateString(t time.Time) string {
	ms := t.UnixMilli()
	t = t.UTC()
	switch {
	case ms < millisPerDay:
		return t.Format("15:04:05.000") + "Z"
	case ms%millisPerDay == 0:
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02T15:04:05.000") + "Z"
}
