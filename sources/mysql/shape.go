package mysql

import "github.com/sluicehq/sluice/stream"

// Shape says what the source emits (sources.Shaper): structured values, Debezium change events whose
// fields are before, after, source, op and ts_ms, keyed by the row's primary key, so keys identify rows (a
// sink may use them as document ids). Records of the schema-change topic are structured too.
func (s *Source) Shape() stream.Shape {
	return stream.Shape{
		Value:        stream.StructuredValue,
		Fields:       []string{"before", "after", "source", "op", "ts_ms"},
		KeysIdentify: true,
		From:         "Debezium change events of MySQL rows",
	}
}
