package elasticsearch

import (
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/stream"
)

// DecimalMapping chooses how Decimal fields (org.apache.kafka.connect.data.Decimal) are mapped and written.
type DecimalMapping string

const (
	// DecimalExact (the default) maps a Decimal whose precision is known (the connect.decimal.precision
	// parameter, as Debezium sets it) and at most 15 digits as scaled_float with scaling_factor 10^scale,
	// written as a JSON number with the schema's digits; any other Decimal as keyword, written as a string.
	// Elasticsearch parses a scaled_float through a double before scaling it to a long, and a double holds
	// every decimal of up to 15 significant digits exactly, so both the index and _source keep the digits.
	DecimalExact DecimalMapping = "exact"
	// DecimalKeyword maps every Decimal as keyword, written as a string with the schema's scale ("42.00"):
	// exact and sortable as text, not as a number.
	DecimalKeyword DecimalMapping = "keyword"
	// DecimalDouble maps every Decimal as double, as Kafka Connect's sink does, written as a JSON number
	// with the schema's digits: _source keeps them, the index and aggregations see a double.
	DecimalDouble DecimalMapping = "double"
)

// Names of Debezium's semantic types that the sink maps; their values are written converted (see the
// package documentation).
const (
	debeziumDate           = "io.debezium.time.Date"           // int32 days since the epoch
	debeziumTimestamp      = "io.debezium.time.Timestamp"      // int64 milliseconds since the epoch
	debeziumMicroTimestamp = "io.debezium.time.MicroTimestamp" // int64 microseconds since the epoch
	debeziumNanoTimestamp  = "io.debezium.time.NanoTimestamp"  // int64 nanoseconds since the epoch
	debeziumZonedTimestamp = "io.debezium.time.ZonedTimestamp" // string, ISO-8601 with offset
	debeziumVariableScale  = "io.debezium.data.VariableScaleDecimal"

	// decimalPrecisionParameter is the Decimal schema parameter Debezium sets to the column's precision.
	decimalPrecisionParameter = "connect.decimal.precision"
	// maxScaledFloatPrecision is the most decimal digits a double (and so a scaled_float) holds exactly.
	maxScaledFloatPrecision = 15
)

// fieldKind is how a schema's values are mapped and written.
type fieldKind int8

const (
	kindPlain            fieldKind = iota // by the schema's type
	kindDecimalNumber                     // Decimal written as a JSON number
	kindDecimalKeyword                    // Decimal written as a string
	kindVariableDecimal                   // Debezium's VariableScaleDecimal struct, written as a string
	kindConnectDate                       // time.Time at midnight UTC -> "2006-01-02"
	kindConnectTime                       // time.Time on 1970-01-01 -> "1970-01-01T15:04:05.000Z"
	kindConnectTimestamp                  // time.Time -> RFC 3339 in UTC
	kindDebeziumDate                      // int32 days -> "2006-01-02"
	kindEpochMillis                       // int64 ms -> RFC 3339 in UTC
	kindEpochMicros                       // int64 µs -> RFC 3339 in UTC, microseconds kept
	kindEpochNanos                        // int64 ns -> RFC 3339 in UTC, nanoseconds kept
	kindZonedTimestamp                    // ISO-8601 string, written as it is
)

// kindOf classifies a schema. Names only count on the type that carries them, as in Connect.
func kindOf(s *stream.Schema, decimals DecimalMapping) fieldKind {
	switch {
	case s.Name == stream.DecimalName && s.Type == stream.TypeBytes:
		if decimalMappingType(s, decimals) == "keyword" {
			return kindDecimalKeyword
		}
		return kindDecimalNumber
	case s.Name == debeziumVariableScale && s.Type == stream.TypeStruct:
		return kindVariableDecimal
	case s.Name == stream.DateName && s.Type == stream.TypeInt32:
		return kindConnectDate
	case s.Name == stream.TimeName && s.Type == stream.TypeInt32:
		return kindConnectTime
	case s.Name == stream.TimestampName && s.Type == stream.TypeInt64:
		return kindConnectTimestamp
	case s.Name == debeziumDate && s.Type == stream.TypeInt32:
		return kindDebeziumDate
	case s.Name == debeziumTimestamp && s.Type == stream.TypeInt64:
		return kindEpochMillis
	case s.Name == debeziumMicroTimestamp && s.Type == stream.TypeInt64:
		return kindEpochMicros
	case s.Name == debeziumNanoTimestamp && s.Type == stream.TypeInt64:
		return kindEpochNanos
	case s.Name == debeziumZonedTimestamp && s.Type == stream.TypeString:
		return kindZonedTimestamp
	}
	return kindPlain
}

// decimalMappingType is the Elasticsearch type of a Decimal schema under the DecimalMapping choice:
// "scaled_float", "keyword" or "double".
func decimalMappingType(s *stream.Schema, decimals DecimalMapping) string {
	switch decimals {
	case DecimalKeyword:
		return "keyword"
	case DecimalDouble:
		return "double"
	}
	precision, err := strconv.Atoi(s.Parameters[decimalPrecisionParameter])
	if err != nil || precision <= 0 || precision > maxScaledFloatPrecision {
		return "keyword"
	}
	if _, err := decimalScale(s); err != nil {
		return "keyword"
	}
	return "scaled_float"
}

func decimalScale(s *stream.Schema) (int32, error) {
	p, ok := s.Parameters[stream.DecimalScaleParameter]
	if !ok {
		return 0, fmt.Errorf("the Decimal schema has no %q parameter", stream.DecimalScaleParameter)
	}
	scale, err := strconv.ParseInt(p, 10, 32)
	if err != nil || scale < -300 || scale > 300 {
		return 0, fmt.Errorf("the Decimal schema's scale %q is not an integer in [-300, 300]", p)
	}
	return int32(scale), nil
}

// deriveMapping is the index mapping for documents of a struct schema: {"properties": {...}}, one entry
// per field that has a mapping (see fieldMapping).
func deriveMapping(s *stream.Schema, decimals DecimalMapping) map[string]any {
	props := map[string]any{}
	for _, f := range s.Fields {
		if m := fieldMapping(f.Schema, decimals); m != nil {
			props[f.Name] = m
		}
	}
	return map[string]any{"properties": props}
}

// fieldMapping is the mapping of one field, after the table in the package documentation; nil for a
// schema without one (an array of arrays of nothing, say), which dynamic mapping then handles.
func fieldMapping(s *stream.Schema, decimals DecimalMapping) map[string]any {
	if s == nil {
		return nil
	}
	switch kindOf(s, decimals) {
	case kindDecimalNumber, kindDecimalKeyword:
		typ := decimalMappingType(s, decimals)
		m := map[string]any{"type": typ}
		if typ == "scaled_float" {
			scale, _ := decimalScale(s) // checked by decimalMappingType
			m["scaling_factor"] = pow10(scale)
		}
		return m
	case kindVariableDecimal:
		return map[string]any{"type": "keyword"}
	case kindConnectDate, kindConnectTime, kindConnectTimestamp, kindDebeziumDate, kindEpochMillis,
		kindEpochMicros, kindEpochNanos, kindZonedTimestamp:
		return map[string]any{"type": "date"}
	}
	switch s.Type {
	case stream.TypeInt8:
		return map[string]any{"type": "byte"}
	case stream.TypeInt16:
		return map[string]any{"type": "short"}
	case stream.TypeInt32:
		return map[string]any{"type": "integer"}
	case stream.TypeInt64:
		return map[string]any{"type": "long"}
	case stream.TypeFloat32:
		return map[string]any{"type": "float"}
	case stream.TypeFloat64:
		return map[string]any{"type": "double"}
	case stream.TypeBoolean:
		return map[string]any{"type": "boolean"}
	case stream.TypeString:
		return map[string]any{"type": "text",
			"fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}
	case stream.TypeBytes:
		return map[string]any{"type": "binary"}
	case stream.TypeArray:
		return fieldMapping(s.Items, decimals)
	case stream.TypeMap:
		return map[string]any{"type": "object"}
	case stream.TypeStruct:
		props := map[string]any{}
		for _, f := range s.Fields {
			if m := fieldMapping(f.Schema, decimals); m != nil {
				props[f.Name] = m
			}
		}
		return map[string]any{"properties": props}
	}
	return nil
}

// pow10 is 10^scale as a JSON number: an integer for scale >= 0, a fraction otherwise.
func pow10(scale int32) any {
	if scale >= 0 && scale <= 18 {
		n := int64(1)
		for range scale {
			n *= 10
		}
		return n
	}
	f := 1.0
	for range max(scale, -scale) {
		f *= 10
	}
	if scale < 0 {
		return 1 / f
	}
	return f
}

// mappingConflict is a field whose type in an existing index differs from the type derived from the schema.
type mappingConflict struct {
	Field, Existing, Wanted string
}

// diffMapping compares a derived mapping (an object: {"properties":...}) with an index's existing one and
// returns the fields the index lacks (as properties to add with PUT _mapping, nil if none) and the fields
// whose type differs. A scaled_float with another scaling_factor differs; sub-fields and other parameters
// are not compared.
func diffMapping(derived, existing map[string]any) (add map[string]any, conflicts []mappingConflict) {
	add = map[string]any{}
	diffProperties("", props(derived), props(existing), add, &conflicts)
	if len(add) == 0 {
		add = nil
	}
	return add, conflicts
}

func props(m map[string]any) map[string]any {
	p, _ := m["properties"].(map[string]any)
	return p
}

func diffProperties(prefix string, derived, existing, add map[string]any, conflicts *[]mappingConflict) {
	for name, d := range derived {
		dm, _ := d.(map[string]any)
		em, ok := existing[name].(map[string]any)
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if !ok {
			add[name] = dm
			continue
		}
		dt, et := typeName(dm), typeName(em)
		if dt == "object" && et == "object" {
			sub := map[string]any{}
			diffProperties(path, props(dm), props(em), sub, conflicts)
			if len(sub) > 0 {
				add[name] = map[string]any{"properties": sub}
			}
			continue
		}
		if dt != et || (dt == "scaled_float" && fmt.Sprint(dm["scaling_factor"]) != fmt.Sprint(em["scaling_factor"])) {
			*conflicts = append(*conflicts, mappingConflict{Field: path, Existing: describeType(em), Wanted: describeType(dm)})
		}
	}
}

// typeName is a mapping entry's type; an entry without one (properties only) is an object.
func typeName(m map[string]any) string {
	if t, ok := m["type"].(string); ok {
		if t == "nested" {
			return "object"
		}
		return t
	}
	return "object"
}

func describeType(m map[string]any) string {
	t := typeName(m)
	if t == "scaled_float" {
		return fmt.Sprintf("scaled_float (scaling_factor %v)", m["scaling_factor"])
	}
	return t
}
