package stream

import (
	"math"
	"strconv"
	"time"
)

// Names of Kafka Connect's logical types. A schema is of a logical type when its Name is one of these and its
// Type is the logical type's underlying type (bytes for Decimal, int32 for Date and Time, int64 for
// Timestamp); otherwise the name is only a name.
const (
	DecimalName   = "org.apache.kafka.connect.data.Decimal"   // bytes carrying a Decimal
	DateName      = "org.apache.kafka.connect.data.Date"      // int32 days carrying a time.Time
	TimeName      = "org.apache.kafka.connect.data.Time"      // int32 milliseconds carrying a time.Time
	TimestampName = "org.apache.kafka.connect.data.Timestamp" // int64 milliseconds carrying a time.Time

	// DecimalScaleParameter is the Decimal schema parameter holding the scale, in decimal digits.
	DecimalScaleParameter = "scale"
)

const millisPerDay = 24 * 60 * 60 * 1000

// DecimalSchema returns a new required Decimal schema with the given scale: values are Decimal, written as
// the two's-complement big-endian bytes of the unscaled value, like Connect's Decimal.schema(scale).
func DecimalSchema(scale int) *Schema {
	return &Schema{Type: TypeBytes, Name: DecimalName, Version: 1,
		Parameters: map[string]string{DecimalScaleParameter: strconv.Itoa(scale)}}
}

// DateSchema returns a new required Date schema: values are time.Time at midnight UTC, written as the int32
// number of days since 1970-01-01.
func DateSchema() *Schema { return &Schema{Type: TypeInt32, Name: DateName, Version: 1} }

// TimeSchema returns a new required Time schema: values are time.Time on 1970-01-01 UTC, written as the
// int32 number of milliseconds since midnight.
func TimeSchema() *Schema { return &Schema{Type: TypeInt32, Name: TimeName, Version: 1} }

// TimestampSchema returns a new required Timestamp schema: values are time.Time, written as the int64 number
// of milliseconds since the Unix epoch (sub-millisecond precision is dropped).
func TimestampSchema() *Schema { return &Schema{Type: TypeInt64, Name: TimestampName, Version: 1} }

type logicalKind int8

const (
	notLogical logicalKind = iota
	logicalDecimal
	logicalDate
	logicalTime
	logicalTimestamp
)

func (s *Schema) logical() logicalKind {
	switch {
	case s.Name == DecimalName && s.Type == TypeBytes:
		return logicalDecimal
	case s.Name == DateName && s.Type == TypeInt32:
		return logicalDate
	case s.Name == TimeName && s.Type == TypeInt32:
		return logicalTime
	case s.Name == TimestampName && s.Type == TypeInt64:
		return logicalTimestamp
	}
	return notLogical
}

// decimalScale returns the scale of a Decimal schema.
func (s *Schema) decimalScale() (int32, error) {
	p, ok := s.Parameters[DecimalScaleParameter]
	if !ok {
		return 0, invalidSchemaf("Decimal schema has no %q parameter", DecimalScaleParameter)
	}
	scale, err := strconv.ParseInt(p, 10, 32)
	if err != nil || scale > maxDecimalScale || scale < -maxDecimalScale {
		return 0, invalidSchemaf("Decimal scale %q is not an integer in [-%d, %d]", p, maxDecimalScale, maxDecimalScale)
	}
	return int32(scale), nil
}

// dateDays converts a Date value to days since the epoch.
func dateDays(t time.Time) (int32, error) {
	u := t.UTC()
	if u.Hour() != 0 || u.Minute() != 0 || u.Second() != 0 || u.Nanosecond() != 0 {
		return 0, mismatchf("Date value %s is not at midnight UTC", t.Format(time.RFC3339Nano))
	}
	days := floorDiv(u.Unix(), 24*60*60)
	if days < math.MinInt32 || days > math.MaxInt32 {
		return 0, mismatchf("Date value %s is out of range", t.Format(time.RFC3339Nano))
	}
	return int32(days), nil
}

func dateFromDays(days int32) time.Time { return time.Unix(int64(days)*24*60*60, 0).UTC() }

// timeMillis converts a Time value to milliseconds since midnight.
func timeMillis(t time.Time) (int32, error) {
	ms := t.UnixMilli()
	if ms < 0 || ms >= millisPerDay {
		return 0, mismatchf("Time value %s is not on 1970-01-01 UTC", t.Format(time.RFC3339Nano))
	}
	return int32(ms), nil
}

func timeFromMillis(ms int32) (time.Time, error) {
	if ms < 0 || ms >= millisPerDay {
		return time.Time{}, mismatchf("Time value %d is not in [0, %d) milliseconds", ms, millisPerDay)
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

var (
	minTimestamp = time.UnixMilli(math.MinInt64)
	maxTimestamp = time.UnixMilli(math.MaxInt64)
)

// timestampMillis converts a Timestamp value to milliseconds since the epoch.
func timestampMillis(t time.Time) (int64, error) {
	if t.Before(minTimestamp) || t.After(maxTimestamp) {
		return 0, mismatchf("Timestamp value %s does not fit in int64 milliseconds", t.Format(time.RFC3339Nano))
	}
	return t.UnixMilli(), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
