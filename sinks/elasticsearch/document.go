package elasticsearch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// VersionHeader (stream.VersionHeader), when a record carries it (a decimal int64), is the document's
// external version. Sources that know a monotonic position set it: sources/mysql sets it on every record
// from the binlog position of the change (snapshot rows: the snapshot's position), and a topology's join
// passes on the greater version of its two sides. Otherwise the record's Kafka offset is the version, which
// only grows for a key, since a key stays on one partition. Source versions are far larger than offsets
// (sources/mysql's are the GTID sequence number times 2^24), so an index written with offset versions is
// upgraded in place by the first sourced change of each document; the other way (going back to offsets) needs a rebuild into a new
// index (sluice rebuild), since every offset write would be refused as older.
const VersionHeader = stream.VersionHeader

// action is one bulk operation derived from a record.
type action struct {
	record  int // index of the record in the batch
	op      string
	index   string
	id      string
	version int64
	body    []byte // nil for deletes
}

// documentID makes the document id from a record key with stream.KeyString: strings as they are, numbers
// in decimal, a struct key's fields joined by "+".
func documentID(key any) (string, error) {
	id, err := stream.KeyString(key)
	if err != nil {
		return "", fmt.Errorf("record key cannot be a document id: %w", err)
	}
	return id, nil
}

// documentVersion is the record's external version: VersionHeader, or its Kafka offset.
func documentVersion(r *stream.Record) (int64, error) {
	if h, ok := r.Header(VersionHeader); ok {
		v, err := strconv.ParseInt(string(h), 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("header %s=%q is not a non-negative integer", VersionHeader, h)
		}
		return v, nil
	}
	return r.Offset, nil
}

// documentBody serialises the record's value as a JSON object: structured values through the "json"
// codec, strings and byte strings taken as JSON text.
func documentBody(codec stream.Codec, r *stream.Record) ([]byte, error) {
	var body []byte
	switch v := r.Value.(type) {
	case string:
		body = []byte(v)
	case []byte:
		body = v
	default:
		b, err := codec.Encode(r.ValueSchema, v)
		if err != nil {
			return nil, fmt.Errorf("encode value as JSON: %w", err)
		}
		body = b
	}
	trimmed := strings.TrimSpace(string(body))
	if !strings.HasPrefix(trimmed, "{") || !json.Valid(body) {
		return nil, fmt.Errorf("value is not a JSON object: %.80q", trimmed)
	}
	return body, nil
}

// valueStruct returns the record's value and its schema when the sink writes it by its schema: a struct
// value (with Record.ValueSchema, or its own schema) and IgnoreSchema off. Otherwise st is nil.
func (s *Sink) valueStruct(r *stream.Record) (schema *stream.Schema, st *stream.Struct) {
	if s.cfg.IgnoreSchema {
		return nil, nil
	}
	st, ok := r.Value.(*stream.Struct)
	if !ok || st == nil {
		return nil, nil
	}
	schema = r.ValueSchema
	if schema == nil || schema.Type != stream.TypeStruct {
		schema = st.Schema()
	}
	return schema, st
}
