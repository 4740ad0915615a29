package postgres

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Names of Debezium's semantic types, set as schema names on the Kafka Connect types that carry them.
const (
	MicroTimeName      = "io.debezium.time.MicroTime"      // int64 microseconds since midnight
	MicroTimestampName = "io.debezium.time.MicroTimestamp" // int64 microseconds since the epoch, no zone
	ZonedTimestampName = "io.debezium.time.ZonedTimestamp" // string, ISO 8601 in UTC ("...Z")
	ZonedTimeName      = "io.debezium.time.ZonedTime"      // string, ISO 8601 time with offset
	IntervalName       = "io.debezium.time.Interval"       // string, ISO 8601 duration (interval.handling.mode=string)
	JSONName           = "io.debezium.data.Json"           // string holding a JSON document
	UUIDName           = "io.debezium.data.Uuid"           // string
	XMLName            = "io.debezium.data.Xml"            // string

	// PrecisionParameter is the Decimal schema parameter holding the column's precision, as Debezium sets it.
	PrecisionParameter = "connect.decimal.precision"
	// UnavailableValue stands for an unchanged TOASTed value that PostgreSQL did not send (Debezium's
	// unavailable.value.placeholder); bytea columns get its bytes.
	UnavailableValue = "__debezium_unavailable_value"
)

// PostgreSQL type OIDs the mapping knows (pg_type.oid, stable across versions).
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidFloat4      = 700
	oidFloat8      = 701
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// kind is how a column's text values are converted.
type kind int8

const (
	kindString kind = iota
	kindBool
	kindInt16
	kindInt32
	kindInt64
	kindFloat32
	kindFloat64
	kindDecimal
	kindBytes
	kindDate
	kindTime
	kindTimestamp
	kindTimestamptz
	kindTimetz
)

// column is a column of a captured table: its name, type and how its values convert.
type column struct {
	Name    string
	TypeOID uint32
	TypMod  int32
	NotNull bool
	kind    kind
	scale   int
	schema  *stream.Schema // optional: before-images of REPLICA IDENTITY DEFAULT carry only key columns
}

// mapColumn sets c's kind and schema from its type OID and modifier. Types not listed map to their text
// form as a string (arrays, enums, ranges, geometric and network types, domains over them).
func mapColumn(c column) column {
	var s *stream.Schema
	switch c.TypeOID {
	case oidBool:
		c.kind, s = kindBool, stream.BooleanSchema()
	case oidInt2:
		c.kind, s = kindInt16, stream.Int16Schema()
	case oidInt4:
		c.kind, s = kindInt32, stream.Int32Schema()
	case oidInt8, oidOID:
		c.kind, s = kindInt64, stream.Int64Schema()
	case oidFloat4:
		c.kind, s = kindFloat32, stream.Float32Schema()
	case oidFloat8:
		c.kind, s = kindFloat64, stream.Float64Schema()
	case oidNumeric:
		if c.TypMod >= 4 {
			precision, scale := ((c.TypMod-4)>>16)&0xffff, (c.TypMod-4)&0xffff
			c.kind, c.scale = kindDecimal, int(scale)
			s = stream.DecimalSchema(int(scale)).WithParameter(PrecisionParameter, strconv.Itoa(int(precision)))
		} else {
			// Unconstrained NUMERIC has no fixed scale: its exact text (decimal.handling.mode=string).
			c.kind, s = kindString, stream.StringSchema()
		}
	case oidBytea:
		c.kind, s = kindBytes, stream.BytesSchema()
	case oidDate:
		c.kind, s = kindDate, stream.DateSchema()
	case oidTime:
		c.kind, s = kindTime, stream.Int64Schema().WithName(MicroTimeName)
	case oidTimestamp:
		c.kind, s = kindTimestamp, stream.Int64Schema().WithName(MicroTimestampName)
	case oidTimestamptz:
		c.kind, s = kindTimestamptz, stream.StringSchema().WithName(ZonedTimestampName)
	case oidTimetz:
		c.kind, s = kindTimetz, stream.StringSchema().WithName(ZonedTimeName)
	case oidInterval:
		c.kind, s = kindString, stream.StringSchema().WithName(IntervalName)
	case oidJSON, oidJSONB:
		c.kind, s = kindString, stream.StringSchema().WithName(JSONName)
	case oidUUID:
		c.kind, s = kindString, stream.StringSchema().WithName(UUIDName)
	case oidXML:
		c.kind, s = kindString, stream.StringSchema().WithName(XMLName)
	default:
		c.kind, s = kindString, stream.StringSchema()
	}
	c.schema = s.AsOptional()
	return c
}

// convert turns a value in PostgreSQL's text output (with the session settings of connConfig) into the
// value of c's schema.
func (c *column) convert(text string) (any, error) {
	switch c.kind {
	case kindBool:
		switch text {
		case "t", "true":
			return true, nil
		case "f", "false":
			return false, nil
		}
		return nil, fmt.Errorf("column %s: boolean %q", c.Name, text)
	case kindInt16:
		v, err := strconv.ParseInt(text, 10, 16)
		return int16(v), c.wrap(err)
	case kindInt32:
		v, err := strconv.ParseInt(text, 10, 32)
		return int32(v), c.wrap(err)
	case kindInt64:
		v, err := strconv.ParseInt(text, 10, 64)
		return v, c.wrap(err)
	case kindFloat32:
		v, err := strconv.ParseFloat(text, 32)
		return float32(v), c.wrap(err)
	case kindFloat64:
		v, err := strconv.ParseFloat(text, 64)
		return v, c.wrap(err)
	case kindDecimal:
		d, err := stream.ParseDecimal(text)
		if err != nil {
			return nil, fmt.Errorf("column %s: numeric %q is not a finite decimal: %w", c.Name, text, err)
		}
		return d, nil
	case kindBytes:
		if !strings.HasPrefix(text, `\x`) {
			return nil, fmt.Errorf("column %s: bytea %q is not in hex output", c.Name, truncate(text))
		}
		b, err := hex.DecodeString(text[2:])
		return b, c.wrap(err)
	case kindDate:
		t, err := time.ParseInLocation("2006-01-02", text, time.UTC)
		return t, c.wrap(err)
	case kindTime:
		return parseMicroTime(c.Name, text)
	case kindTimestamp:
		t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", text, time.UTC)
		if err != nil {
			return nil, c.wrap(err)
		}
		return t.UnixMicro(), nil
	case kindTimestamptz:
		t, err := time.Parse("2006-01-02 15:04:05.999999999Z07", text)
		if err != nil {
			if t, err = time.Parse("2006-01-02 15:04:05.999999999Z07:00", text); err != nil {
				return nil, c.wrap(err)
			}
		}
		return t.UTC().Format("2006-01-02T15:04:05.999999Z"), nil
	case kindTimetz:
		if strings.HasSuffix(text, "+00") {
			return strings.TrimSuffix(text, "+00") + "Z", nil
		}
		return text, nil
	}
	return text, nil
}

func (c *column) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("column %s: %w", c.Name, err)
}

// unavailable is the value of an unchanged TOASTed column that PostgreSQL did not send: the placeholder for
// strings and bytes, null for other types.
func (c *column) unavailable() any {
	switch c.kind {
	case kindString:
		return UnavailableValue
	case kindBytes:
		return []byte(UnavailableValue)
	}
	return nil
}

// parseMicroTime parses "HH:MM:SS[.ffffff]" (up to 24:00:00) into microseconds since midnight.
func parseMicroTime(name, text string) (int64, error) {
	hms, frac, _ := strings.Cut(text, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("column %s: time %q", name, text)
	}
	var v [3]int64
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("column %s: time %q", name, text)
		}
		v[i] = n
	}
	micros := ((v[0]*60+v[1])*60 + v[2]) * 1_000_000
	if frac != "" {
		frac = (frac + "000000")[:6]
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("column %s: time %q", name, text)
		}
		micros += n
	}
	return micros, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
