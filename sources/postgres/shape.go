package postgres

import (
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// Shape says what the source emits (sources.Shaper): structured values, Debezium change events whose
// fields are before, after, source, op and ts_ms, keyed by the row's primary key, so keys identify rows (a
// sink may use them as document ids).
func (s *Source) Shape() stream.Shape {
	return stream.Shape{
		Value:        stream.StructuredValue,
		Fields:       []string{"before", "after", "source", "op", "ts_ms"},
		KeysIdentify: true,
		From:         "Debezium change events of PostgreSQL rows",
	}
}

// TopicShape says what each topic of the source holds (sources.TopicShaper): the tables' topics
// ("<TopicPrefix>.<schema>.<table>") the change events of Shape.
func (s *Source) TopicShape(topic string) (stream.Shape, bool) {
	if strings.HasPrefix(topic, s.cfg.TopicPrefix+".") {
		return s.Shape(), true
	}
	return stream.Shape{}, false
}
