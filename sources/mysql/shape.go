package mysql

import (
	"strings"

	"github.com/sluicehq/sluice/stream"
)

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

// TopicShape says what each topic of the source holds (sources.TopicShaper): the tables' topics
// ("<TopicPrefix>.<db>.<table>") the change events of Shape, the schema-change topic (TopicPrefix) one
// record per DDL statement (fields source, ts_ms, databaseName, schemaName, ddl, tableChanges; keyed by
// database, which identifies no record).
func (s *Source) TopicShape(topic string) (stream.Shape, bool) {
	switch {
	case topic == s.HeartbeatTopic(): // heartbeat.go
		return stream.Shape{
			Value:  stream.StructuredValue,
			Fields: []string{"ts_ms"},
			From:   "heartbeats of a MySQL source (key serverName, value ts_ms)",
		}, true
	case topic == s.cfg.TopicPrefix:
		return stream.Shape{
			Value:  stream.StructuredValue,
			Fields: []string{"source", "ts_ms", "databaseName", "schemaName", "ddl", "tableChanges"},
			From:   "schema changes of MySQL databases (one record per DDL statement)",
		}, true
	case strings.HasPrefix(topic, s.cfg.TopicPrefix+"."):
		return s.Shape(), true
	}
	return stream.Shape{}, false
}
