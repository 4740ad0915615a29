package sqltable

import (
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// Shape says what the source emits (sources.Shaper): structured values, the rows themselves (fields are
// the columns, known only once the catalog is read at start-up), keyed by the primary key or KeyColumns,
// so keys identify rows (a sink may use them as document ids). A Query without KeyColumns has no keys: they
// identify nothing then. A table found at start-up to have no primary key gets nil keys too (with a
// warning), which the shape cannot know in advance.
func (s *Source) Shape() stream.Shape {
	return stream.Shape{
		Value:        stream.StructuredValue,
		KeysIdentify: s.cfg.Query == "" || len(s.cfg.KeyColumns) > 0,
		From:         "rows of SQL tables",
	}
}

// TopicShape says what each topic of the source holds (sources.TopicShaper): the rows of Shape, in the
// tables' topics ("<TopicPrefix>.<table>") or, with Query, TopicPrefix.
func (s *Source) TopicShape(topic string) (stream.Shape, bool) {
	if (s.cfg.Query != "" && topic == s.cfg.TopicPrefix) || (s.cfg.Query == "" && strings.HasPrefix(topic, s.cfg.TopicPrefix+".")) {
		return s.Shape(), true
	}
	return stream.Shape{}, false
}
