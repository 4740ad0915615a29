package sqltable

import (
	"bytes"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// kind is how a column's driver values convert to the data model.
type kind int8

const (
	kindInt8 kind = iota
	kindInt16
	kindInt32
	kindInt64
	kindUint64Decimal
	kindDecimal
	kindNumericString // PostgreSQL NUMERIC without a declared scale: the exact digits as a string
	kindFloat32
	kindFloat64
	kindBool
	kindBit1 // MySQL BIT(1)
	kindString
	kindBytes
	kindDate
	kindTime
	kindTimestamp
)

// column is a result column with its schema and conversion.
type column struct {
	name     string
	dbType   string // the driver's DatabaseTypeName, upper case ("INT", "UNSIGNED BIGINT", "TIMESTAMPTZ")
	kind     kind
	scale    int
	schema   *stream.Schema
	nullable bool
}

// mapColumn maps a result column to Kafka Connect's types as its JDBC source does (numeric.mapping=none:
// DECIMAL/NUMERIC stay exact Decimals), from the drivers' type names. nullable comes from the catalog when
// the column is a table's (the drivers do not all know it); an unknown type is an error naming the column.
func mapColumn(ct *sql.ColumnType, nullable bool) (column, error) {
	c := column{name: ct.Name(), dbType: strings.ToUpper(ct.DatabaseTypeName()), nullable: nullable}
	var s *stream.Schema
	switch c.dbType {
	case "TINYINT":
		c.kind, s = kindInt8, stream.Int8Schema()
	case "UNSIGNED TINYINT", "SMALLINT", "INT2", "SMALLSERIAL":
		c.kind, s = kindInt16, stream.Int16Schema()
	case "UNSIGNED SMALLINT", "MEDIUMINT", "UNSIGNED MEDIUMINT", "INT", "INT4", "SERIAL", "YEAR":
		c.kind, s = kindInt32, stream.Int32Schema()
	case "UNSIGNED INT", "BIGINT", "INT8", "BIGSERIAL":
		c.kind, s = kindInt64, stream.Int64Schema()
	case "UNSIGNED BIGINT":
		c.kind, s = kindUint64Decimal, stream.DecimalSchema(0)
	case "DECIMAL", "NUMERIC":
		precision, scale, ok := ct.DecimalSize()
		if !ok || precision <= 0 || precision > 1000 || scale < 0 || scale > precision {
			// PostgreSQL's unconstrained NUMERIC has no scale for a Decimal schema.
			c.kind, s = kindNumericString, stream.StringSchema()
			break
		}
		c.kind, c.scale = kindDecimal, int(scale)
		s = stream.DecimalSchema(int(scale)).WithParameter("connect.decimal.precision", strconv.FormatInt(precision, 10))
	case "FLOAT", "FLOAT4", "REAL":
		c.kind, s = kindFloat32, stream.Float32Schema()
	case "DOUBLE", "FLOAT8", "DOUBLE PRECISION":
		c.kind, s = kindFloat64, stream.Float64Schema()
	case "BOOL", "BOOLEAN":
		c.kind, s = kindBool, stream.BooleanSchema()
	case "BIT":
		if n, ok := ct.Length(); !ok || n <= 1 {
			c.kind, s = kindBit1, stream.BooleanSchema()
		} else {
			c.kind, s = kindBytes, stream.BytesSchema()
		}
	case "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET", "JSON", "JSONB",
		"BPCHAR", "NAME", "UUID", "XML", "CITEXT", "INET", "CIDR", "MACADDR":
		c.kind, s = kindString, stream.StringSchema()
	case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BYTEA", "GEOMETRY":
		c.kind, s = kindBytes, stream.BytesSchema()
	case "DATE":
		c.kind, s = kindDate, stream.DateSchema()
	case "TIME":
		c.kind, s = kindTime, stream.TimeSchema()
	case "DATETIME", "TIMESTAMP", "TIMESTAMPTZ":
		c.kind, s = kindTimestamp, stream.TimestampSchema()
	default:
		return c, fmt.Errorf("column %s: type %s is not supported", c.name, c.dbType)
	}
	if nullable {
		s = s.AsOptional()
	}
	c.schema = s
	return c, nil
}

// convert turns a driver value (go-sql-driver/mysql with parseTime, or pgx's database/sql driver) into the
// column's Go value of the data model.
func (c *column) convert(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	out, err := c.convertValue(v)
	if err != nil {
		return nil, fmt.Errorf("column %s (%s): %w", c.name, c.dbType, err)
	}
	return out, nil
}

func (c *column) convertValue(v any) (any, error) {
	switch c.kind {
	case kindInt8:
		n, err := asInt(v, math.MinInt8, math.MaxInt8)
		return int8(n), err
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
		if !ok || u.Sign() < 0 {
			return nil, fmt.Errorf("%q is not an unsigned integer", s)
		}
		return stream.Decimal{Unscaled: u, Scale: 0}, nil
	case kindDecimal:
		d, err := stream.ParseDecimal(asText(v))
		if err != nil {
			return nil, err
		}
		return d.Rescale(int32(c.scale))
	case kindNumericString, kindString:
		return asText(v), nil
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
	case kindBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case int64:
			return b != 0, nil
		}
		return strconv.ParseBool(asText(v))
	case kindBit1:
		if n, ok := v.(int64); ok {
			return n != 0, nil
		}
		b := asBytes(v)
		return len(b) > 0 && b[len(b)-1]&1 == 1, nil
	case kindBytes:
		return asBytes(v), nil
	case kindDate:
		t, err := asTime(v)
		if err != nil {
			return nil, err
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	case kindTime:
		return parseTimeOfDay(asText(v))
	case kindTimestamp:
		return asTime(v)
	}
	return nil, fmt.Errorf("no conversion for kind %d", c.kind)
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
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
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
		if n, err = strconv.ParseInt(asText(v), 10, 64); err != nil {
			return 0, err
		}
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}

// asTime returns a DATE/DATETIME/TIMESTAMP driver value in UTC (MySQL's session time zone and PostgreSQL's
// TimeZone are UTC, so a zone-less DATETIME or timestamp reads as UTC).
func asTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	}
	s := asText(v)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time", s)
}

// parseTimeOfDay parses "HH:MM:SS[.ffffff]" into Connect's Time value (1970-01-01, millisecond precision).
// MySQL TIME values outside a day (negative, 24h or more) are an error: Connect's Time cannot hold them.
func parseTimeOfDay(s string) (time.Time, error) {
	hms, frac, _ := strings.Cut(s, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("time %q is not HH:MM:SS[.ffffff]", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 23 {
		return time.Time{}, fmt.Errorf("time %q is not a time of day", s)
	}
	var ms int
	if frac != "" {
		ms, _ = strconv.Atoi((frac + "000")[:3])
	}
	return time.Date(1970, 1, 1, h, m, sec, ms*int(time.Millisecond), time.UTC), nil
}
