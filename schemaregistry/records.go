package schemaregistry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/sluicehq/sluice/stream"
)

// The log's records. Every record has a key of its own ({"op":...,"attempt":<random>}), so compaction of
// the topic never removes or reorders one: the log keeps every write in the order replicas first saw it,
// and replaying it always yields the same ids and versions. (The topic is compacted so that no retention
// time ever deletes a schema.) Record values are JSON:
//
//	register: {"subject":"orders-value","schemaType":"AVRO","schema":"<normalized text>"}
//	delete:   {"subject":"orders-value","version":2,"permanent":false}   (version 0: the whole subject; -1: latest)
//	config:   {"subject":"orders-value","compatibility":"FULL"}          ("" subject: global; "" level: remove)
const (
	opRegister = "register"
	opDelete   = "delete"
	opConfig   = "config"
)

type recordKey struct {
	Op      string `json:"op"`
	Attempt string `json:"attempt"`
}

type recordValue struct {
	Subject       string `json:"subject"`
	SchemaType    string `json:"schemaType,omitempty"`
	Schema        string `json:"schema,omitempty"`
	Version       int    `json:"version,omitempty"`
	Permanent     bool   `json:"permanent,omitempty"`
	Compatibility string `json:"compatibility,omitempty"`
}

// outcome is what applying one record gave: the answer to the replica that appended it.
type outcome struct {
	id, version int
	versions    []int  // delete of a subject
	level       string // config: the level before
	err         error
}

func newAttempt() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// apply applies one record to st, parsing schemas with parse (parseSchema or a cache of it), and returns its attempt id and outcome; ok is false for a record that is
// not the registry's (it is skipped, as every replica skips it).
func (st *state) apply(key, value []byte, parse func(stream.RegisteredSchema) (parsedSchema, error)) (attempt string, out outcome, ok bool) {
	var k recordKey
	var v recordValue
	if json.Unmarshal(key, &k) != nil || json.Unmarshal(value, &v) != nil {
		return "", outcome{}, false
	}
	switch k.Op {
	case opRegister:
		p, err := parse(streamSchema(v.SchemaType, v.Schema))
		if err != nil {
			return k.Attempt, outcome{err: err}, true
		}
		out.id, out.version, out.err = st.register(v.Subject, p)
	case opDelete:
		if v.Version == 0 {
			out.versions, out.err = st.deleteSubject(v.Subject, v.Permanent)
		} else {
			out.version, out.err = st.deleteVersion(v.Subject, v.Version, v.Permanent)
		}
	case opConfig:
		level := ""
		if v.Compatibility != "" {
			var err error
			if level, err = ParseCompatibility(v.Compatibility); err != nil {
				return k.Attempt, outcome{err: err}, true
			}
		}
		out.level, out.err = st.setLevel(v.Subject, level)
	default:
		return "", outcome{}, false
	}
	return k.Attempt, out, true
}
