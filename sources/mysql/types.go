package mysql

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Names of Debezium's semantic types, set as schema names on the Kafka Connect types that carry them.
const (
	MicroTimeName      = "io.debezium.time.MicroTime"      // int64 microseconds, may be negative or >24h
	MicroTimestampName = "io.debezium.time.MicroTimestamp" // int64 microseconds since the epoch, no zone
	ZonedTimestampName = "io.debezium.time.ZonedTimestamp" // string, RFC 3339 in UTC
	YearName           = "io.debezium.time.Year"           // int32
	JSONName           = "io.debezium.data.Json"           // string holding a JSON document
	EnumName           = "io.debezium.data.Enum"           // string, parameter "allowed"
	EnumSetName        = "io.debezium.data.EnumSet"        // string, comma-separated, parameter "allowed"
	BitsName           = "io.debezium.data.Bits"           // bytes, little-endian, parameter "length"

	// PrecisionParameter is the Decimal schema parameter holding the column's precision, as Debezium sets it.
	PrecisionParameter = "connect.decimal.precision"
)

// Column is a column as information_schema.COLUMNS describes it: the input of the type mapping, shared by
// the snapshot and (later) the binlog reader.
type Column struct {
	Name string
	// DataType is COLUMNS.DATA_TYPE, lower case ("int", "varchar", "decimal", ...).
	DataType string
	// ColumnType is COLUMNS.COLUMN_TYPE ("int(10) unsigned", "enum('a','b')", "bit(10)", ...).
	ColumnType string
	// Nullable is COLUMNS.IS_NULLABLE = 'YES'.
	Nullable bool
	// Precision and Scale are NUMERIC_PRECISION and NUMERIC_SCALE (DECIMAL, BIT length).
	Precision, Scale int
	// FSP is DATETIME_PRECISION, the fractional seconds digits of TIME, DATETIME and TIMESTAMP.
	FSP int
	// JSON is set for MariaDB's JSON columns: LONGTEXT with a json_valid(col) CHECK constraint.
	JSON bool
}

// Unsigned reports whether the column is an unsigned number.
func (c *Column) Unsigned() bool { return strings.Contains(c.ColumnType, "unsigned") }

// kind is how a column's values are converted.
type kind int8

const (
	kindInt16 kind = iota
	kindInt32
	kindInt64
	kindUint64Decimal
	kindDecimal
	kindFloat32
	kindFloat64
	kindDate
	kindTime
	kindDatetime
	kindTimestamp
	kindYear
	kindString
	kindBytes
	kindBool
	kindBits
	kindNative   // MariaDB's UUID, INET4, INET6: text (types_native.go)
	kindGeometry // GEOMETRY, LINESTRING, POLYGON, MULTI*, GEOMETRYCOLLECTION: Debezium's Geometry struct
	kindPoint    // POINT: Debezium's Point struct
)

// columnType is a column with its schema and converter.
type columnType struct {
	Column
	kind   kind
	schema *stream.Schema
	values []string // ENUM and SET: the allowed values, in definition order
}

// mapColumn returns the schema of c and how its values convert; unsupported types are an error naming the
// column.
func mapColumn(c Column) (columnType, error) {
	ct := columnType{Column: c}
	var s *stream.Schema
	unsigned := c.Unsigned()
	switch c.DataType {
	case "tinyint":
		ct.kind, s = kindInt16, stream.Int16Schema()
	case "smallint":
		if unsigned {
			ct.kind, s = kindInt32, stream.Int32Schema()
		} else {
			ct.kind, s = kindInt16, stream.Int16Schema()
		}
	case "mediumint":
		ct.kind, s = kindInt32, stream.Int32Schema()
	case "int", "integer":
		if unsigned {
			ct.kind, s = kindInt64, stream.Int64Schema()
		} else {
			ct.kind, s = kindInt32, stream.Int32Schema()
		}
	case "bigint":
		if unsigned {
			ct.kind, s = kindUint64Decimal, stream.DecimalSchema(0).WithParameter(PrecisionParameter, "20")
		} else {
			ct.kind, s = kindInt64, stream.Int64Schema()
		}
	case "decimal", "numeric":
		ct.kind = kindDecimal
		s = stream.DecimalSchema(c.Scale).WithParameter(PrecisionParameter, strconv.Itoa(c.Precision))
	case "float":
		ct.kind, s = kindFloat32, stream.Float32Schema()
	case "double", "real", "double precision":
		ct.kind, s = kindFloat64, stream.Float64Schema()
	case "date":
		ct.kind, s = kindDate, stream.DateSchema()
	case "time":
		ct.kind, s = kindTime, stream.Int64Schema().WithName(MicroTimeName)
	case "datetime":
		ct.kind, s = kindDatetime, stream.Int64Schema().WithName(MicroTimestampName)
	case "timestamp":
		ct.kind, s = kindTimestamp, stream.StringSchema().WithName(ZonedTimestampName)
	case "year":
		ct.kind, s = kindYear, stream.Int32Schema().WithName(YearName)
	case "uuid":
		ct.kind, s = kindNative, stream.StringSchema().WithName(UUIDName).WithVersion(1)
	case "inet4", "inet6":
		ct.kind, s = kindNative, stream.StringSchema()
	case "point":
		ct.kind, s = kindPoint, pointSchema
	case "geometry", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection", "geomcollection":
		ct.kind, s = kindGeometry, geometrySchema
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		ct.kind, s = kindString, stream.StringSchema()
		if c.JSON {
			s = s.WithName(JSONName)
		}
	case "json":
		ct.kind, s = kindString, stream.StringSchema().WithName(JSONName)
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		ct.kind, s = kindBytes, stream.BytesSchema()
	case "enum":
		ct.values = enumValues(c.ColumnType)
		ct.kind, s = kindString, stream.StringSchema().WithName(EnumName).WithParameter("allowed", strings.Join(ct.values, ","))
	case "set":
		ct.values = enumValues(c.ColumnType)
		ct.kind, s = kindString, stream.StringSchema().WithName(EnumSetName).WithParameter("allowed", strings.Join(ct.values, ","))
	case "bit":
		length := c.Precision
		if length == 0 {
			length = bitLength(c.ColumnType)
		}
		if length == 1 {
			ct.kind, s = kindBool, stream.BooleanSchema()
		} else {
			ct.kind, s = kindBits, stream.BytesSchema().WithName(BitsName).WithParameter("length", strconv.Itoa(length))
		}
	default:
		return ct, fmt.Errorf("column %s: type %s is not supported yet", c.Name, c.ColumnType)
	}
	if c.Nullable || ct.kind == kindGeometry { // Debezium's Geometry schema is optional whatever the column
		s = s.AsOptional()
	}
	ct.schema = s
	return ct, nil
}

// allowedValues turns the value list of "enum('a','b')" into "a,b", Debezium's "allowed" parameter.
func allowedValues(columnType string) string { return strings.Join(enumValues(columnType), ",") }

// enumValues returns the value list of "enum('a','b')" or "set(...)", undoing doubled quotes and backslash
// escapes.
func enumValues(columnType string) []string {
	open, closing := strings.IndexByte(columnType, '('), strings.LastIndexByte(columnType, ')')
	if open < 0 || closing < open {
		return nil
	}
	var vals []string
	var cur strings.Builder
	in := false
	body := columnType[open+1 : closing]
	for i := 0; i < len(body); i++ {
		ch := body[i]
		switch {
		case !in && ch == '\'':
			in = true
		case in && ch == '\'' && i+1 < len(body) && body[i+1] == '\'':
			cur.WriteByte('\'')
			i++
		case in && ch == '\'':
			in = false
			vals = append(vals, cur.String())
			cur.Reset()
		case in && ch == '\\' && i+1 < len(body):
			cur.WriteByte(body[i+1])
			i++
		case in:
			cur.WriteByte(ch)
		}
	}
	return vals
}

func bitLength(columnType string) int {
	open, closing := strings.IndexByte(columnType, '('), strings.IndexByte(columnType, ')')
	if open < 0 || closing < open {
		return 1
	}
	n, err := strconv.Atoi(columnType[open+1 : closing])
	if err != nil {
		return 1
	}
	return n
}

var errZeroDate = errors.New("zero date")

// convert turns a value as the MySQL driver returns it (nil, int64, uint64, float32, float64, []byte or
// string, the text form for everything but numbers of the binary protocol) into the column's Go value of
// the data model.
func (ct *columnType) convert(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	out, err := ct.convertValue(v)
	if errors.Is(err, errZeroDate) {
		return ct.zeroDate(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("column %s (%s): %w", ct.Name, ct.ColumnType, err)
	}
	return out, nil
}

// zeroDate is what a zero date ('0000-00-00') becomes: nil in a nullable column, the epoch otherwise (as
// Debezium does).
func (ct *columnType) zeroDate() any {
	if ct.Nullable {
		return nil
	}
	switch ct.kind {
	case kindDate:
		return time.Unix(0, 0).UTC()
	case kindTimestamp:
		return "1970-01-01T00:00:00Z"
	default:
		return int64(0)
	}
}

func (ct *columnType) convertValue(v any) (any, error) {
	switch ct.kind {
	case kindInt16:
		n, err := asInt(v, math.MinInt16, math.MaxInt16)
		return int16(n), err
	case kindInt32:
		n, err := asInt(v, math.MinInt32, math.MaxInt32)
		return int32(n), err
	case kindInt64:
		return asInt(v, math.MinInt64, math.MaxInt64)
	case kindUint64Decimal:
		s := asText(v)
		u, ok := new(big.Int).SetString(s, 10)
		if !ok || u.Sign() < 0 || u.BitLen() > 64 {
			return nil, fmt.Errorf("%q is not a BIGINT UNSIGNED", s)
		}
		return stream.Decimal{Unscaled: u, Scale: 0}, nil
	case kindDecimal:
		d, err := stream.ParseDecimal(asText(v))
		if err != nil {
			return nil, err
		}
		return d.Rescale(int32(ct.Scale))
	case kindFloat32:
		switch f := v.(type) {
		case float32:
			return f, nil
		case float64:
			return float32(f), nil
		}
		f, err := strconv.ParseFloat(asText(v), 32)
		return float32(f), err
	case kindFloat64:
		switch f := v.(type) {
		case float64:
			return f, nil
		case float32:
			return float64(f), nil
		}
		return strconv.ParseFloat(asText(v), 64)
	case kindYear:
		n, err := asInt(v, 0, 9999)
		return int32(n), err
	case kindString, kindNative:
		return asText(v), nil
	case kindGeometry, kindPoint:
		return ct.spatialValue(v)
	case kindBytes:
		return asBytes(v), nil
	case kindBool:
		b := asBytes(v)
		if n, ok := v.(int64); ok {
			return n != 0, nil
		}
		return len(b) > 0 && b[len(b)-1]&1 == 1, nil
	case kindBits:
		b := asBytes(v)
		if n, ok := v.(int64); ok {
			b = big.NewInt(n).Bytes()
		}
		return bitsLittleEndian(b, ct.schema.Parameters["length"]), nil
	case kindDate:
		return parseDate(asText(v))
	case kindTime:
		return parseTimeMicros(asText(v))
	case kindDatetime:
		t, err := parseDatetime(asText(v))
		if err != nil {
			return nil, err
		}
		return t.UnixMicro(), nil
	case kindTimestamp:
		t, err := parseDatetime(asText(v))
		if err != nil {
			return nil, err
		}
		return formatZoned(t, ct.FSP), nil
	}
	return nil, fmt.Errorf("no conversion for kind %d", ct.kind)
}

func asText(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	return fmt.Sprint(v)
}

func asBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return bytes.Clone(x)
	case string:
		return []byte(x)
	}
	return []byte(asText(v))
}

func asInt(v any, lo, hi int64) (int64, error) {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d out of range [%d, %d]", x, lo, hi)
		}
		n = int64(x)
	default:
		var err error
		n, err = strconv.ParseInt(asText(v), 10, 64)
		if err != nil {
			return 0, err
		}
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}

// bitsLittleEndian turns MySQL's big-endian BIT bytes into Debezium's little-endian byte array of
// ceil(length/8) bytes.
func bitsLittleEndian(b []byte, length string) []byte {
	n, _ := strconv.Atoi(length)
	size := (n + 7) / 8
	out := make([]byte, size)
	for i := 0; i < size && i < len(b); i++ {
		out[i] = b[len(b)-1-i]
	}
	return out
}

// parseDate parses "YYYY-MM-DD" into midnight UTC; a zero date (year, month or day 0) is errZeroDate.
func parseDate(s string) (time.Time, error) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	y, err1 := strconv.Atoi(s[:4])
	m, err2 := strconv.Atoi(s[5:7])
	d, err3 := strconv.Atoi(s[8:10])
	if err := errors.Join(err1, err2, err3); err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	if y == 0 || m == 0 || d == 0 {
		return time.Time{}, errZeroDate
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

// parseDatetime parses "YYYY-MM-DD HH:MM:SS[.ffffff]" as UTC.
func parseDatetime(s string) (time.Time, error) {
	day, err := parseDate(s)
	if err != nil {
		return time.Time{}, err
	}
	if len(s) == 10 {
		return day, nil
	}
	if len(s) < 19 || s[10] != ' ' {
		return time.Time{}, fmt.Errorf("datetime %q is not YYYY-MM-DD HH:MM:SS", s)
	}
	micros, err := parseTimeMicros(s[11:])
	if err != nil {
		return time.Time{}, err
	}
	return day.Add(time.Duration(micros) * time.Microsecond), nil
}

// parseTimeMicros parses "[-]H...H:MM:SS[.ffffff]" (TIME's range is -838:59:59 to 838:59:59) into
// microseconds.
func parseTimeMicros(s string) (int64, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	hms, frac, _ := strings.Cut(s, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("time %q is not [-]HH:MM:SS[.ffffff]", orig)
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 64)
	m, err2 := strconv.ParseInt(parts[1], 10, 64)
	sec, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || len(frac) > 6 {
		return 0, fmt.Errorf("time %q is not [-]HH:MM:SS[.ffffff]", orig)
	}
	var us int64
	if frac != "" {
		f, err := strconv.ParseInt((frac + "000000")[:6], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("time %q: fraction: %w", orig, err)
		}
		us = f
	}
	total := ((h*60+m)*60+sec)*1_000_000 + us
	if neg {
		total = -total
	}
	return total, nil
}

// formatZoned formats t in UTC as RFC 3339 with exactly fsp fractional digits ("2024-01-02T03:04:05.120Z").
func formatZoned(t time.Time, fsp int) string {
	layout := "2006-01-02T15:04:05"
	if fsp > 0 {
		layout += "." + strings.Repeat("0", fsp)
	}
	return t.UTC().Format(layout + "Z")
}

// convertBinlog turns a value as go-mysql's binlog decoder returns it (with ParseTime and UseDecimal off and
// TimestampStringLocation UTC) into the same Go value convert gives for the snapshot's value of the same
// cell. The decoder returns integers as int8..int64 or uint8..uint64 by width and the TableMap's signedness,
// DECIMAL as a string, DATE/TIME/DATETIME/TIMESTAMP as strings, YEAR as int, ENUM as the 1-based index
// (int64), SET as a bitmask (int64), BIT as int64 (big-endian bits), BINARY without its trailing zero bytes,
// and MariaDB's JSON (LONGTEXT) as bytes.
func (ct *columnType) convertBinlog(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	unsigned := ct.Unsigned()
	switch x := v.(type) {
	case int8:
		v = widen(int64(x), unsigned, ct.intBits())
	case int16:
		v = widen(int64(x), unsigned, ct.intBits())
	case int32:
		v = widen(int64(x), unsigned, ct.intBits())
	case int64:
		if ct.kind != kindBits && ct.kind != kindBool && ct.DataType != "enum" && ct.DataType != "set" {
			v = widen(x, unsigned, ct.intBits())
		}
	case int:
		v = int64(x)
	case uint8:
		v = int64(x)
	case uint16:
		v = int64(x)
	case uint32:
		v = int64(x)
	}
	switch {
	case ct.DataType == "enum":
		n, ok := v.(int64)
		if !ok {
			break
		}
		if n == 0 {
			v = "" // the error value ''
		} else if int(n) <= len(ct.values) {
			v = ct.values[n-1]
		} else {
			return nil, fmt.Errorf("column %s (%s): enum index %d out of range", ct.Name, ct.ColumnType, n)
		}
	case ct.DataType == "set":
		n, ok := v.(int64)
		if !ok {
			break
		}
		var names []string
		for i, name := range ct.values {
			if uint64(n)&(1<<uint(i)) != 0 {
				names = append(names, name)
			}
		}
		v = strings.Join(names, ",")
	case ct.kind == kindBits:
		if n, ok := v.(int64); ok {
			var b [8]byte
			u := uint64(n)
			for i := 7; i >= 0; i-- {
				b[i] = byte(u)
				u >>= 8
			}
			v = b[:]
		}
	case ct.kind == kindNative:
		// The binlog carries the stored bytes (BINARY(16) or (4) to the TableMap); SELECT returns text.
		text, err := ct.nativeText(v)
		if err != nil {
			return nil, fmt.Errorf("column %s (%s): %w", ct.Name, ct.ColumnType, err)
		}
		v = text
	case ct.kind == kindBytes && ct.DataType == "binary":
		// The binlog drops BINARY(n)'s trailing zero bytes; SELECT returns all n.
		b := asBytes(v)
		if n := bitLength(ct.ColumnType); len(b) < n {
			b = append(b, make([]byte, n-len(b))...)
		}
		v = b
	}
	return ct.convert(v)
}

// intBits is the storage width of an integer column.
func (ct *columnType) intBits() uint {
	switch ct.DataType {
	case "tinyint":
		return 8
	case "smallint":
		return 16
	case "mediumint":
		return 24
	case "int", "integer":
		return 32
	}
	return 64
}

// widen returns a decoded integer of the given width as int64, or as uint64 when the column is unsigned
// and the decoder read it as signed (no sign flips whatever the TableMap's signedness said).
func widen(n int64, unsigned bool, bits uint) any {
	if !unsigned || n >= 0 {
		return n
	}
	if bits == 64 {
		return uint64(n)
	}
	return int64(uint64(n) & (1<<bits - 1))
}
