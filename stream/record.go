// Package stream holds Sluice's core types: the Record that flows through a pipeline, the typed data model
// (Schema, Struct and the Go types that carry values of each schema type) and the codecs that turn keys and
// values into bytes on Kafka and back.
//
// stream depends on the standard library only, so every other package (stages, sources, sinks, topology)
// can share these types without dragging in an engine.
package stream

import (
	"encoding/json"
	"time"
)

// Operation says what a change event means. Records that are not change events (a line of a file, a message
// from a queue) carry OpNone.
type Operation int8

const (
	// OpNone marks a record that is not a change event.
	OpNone Operation = iota
	// OpCreate is an inserted row (Debezium "c").
	OpCreate
	// OpUpdate is an updated row (Debezium "u").
	OpUpdate
	// OpDelete is a deleted row (Debezium "d").
	OpDelete
	// OpRead is a row read by a snapshot (Debezium "r").
	OpRead
)

// String returns Debezium's one-letter code for op ("c", "u", "d", "r"), or "" for OpNone.
func (op Operation) String() string {
	switch op {
	case OpCreate:
		return "c"
	case OpUpdate:
		return "u"
	case OpDelete:
		return "d"
	case OpRead:
		return "r"
	}
	return ""
}

// Header is one Kafka record header. Keys may repeat, as in Kafka.
type Header struct {
	Key   string
	Value []byte
}

// VersionHeader is the header of a record's version: a decimal int64 that only grows for a key along its
// source (a CDC source sets it from the binlog position of the change). Sinks that keep the newest version
// of each document (sinks/elasticsearch) use it instead of the Kafka offset, so a replay or a stale producer
// never makes a document older; a join's output carries the greater version of its two sides.
const VersionHeader = "sluice.version"

// Position is a source's own description of where a record came from (a byte offset, a primary-key cursor,
// a binlog GTID set), as JSON so that operators can read and edit it. The engine stores the Position of the
// highest contiguous record Kafka acknowledged, and hands it back to the source when its task reopens.
// A nil Position means "from the beginning".
type Position = json.RawMessage

// Record is the unit that flows through a pipeline, in the shape of Kafka Connect's ConnectRecord.
//
// Key and Value hold values of the data model (see Schema for which Go type carries each schema type).
// KeySchema and ValueSchema describe them; a nil schema means the value is schemaless, as with Kafka
// Connect's schemas.enable=false.
//
// Inside a source, Position says where the record came from; after Kafka, Topic, Partition and Offset say
// where it was read from.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64

	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any

	Headers   []Header
	Timestamp time.Time
	Operation Operation

	// Position is set by sources and is not written to Kafka.
	Position Position
}

// Header returns the value of the last header named key, and whether there was one.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// Tombstone reports whether r has no value, which on a compacted topic deletes its key.
func (r *Record) Tombstone() bool { return r.Value == nil }
