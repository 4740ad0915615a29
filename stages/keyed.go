package stages

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Keyed is a stateful step that keeps state per record key (stream.KeyString of the key). It is not a Stage:
// a flow declares it with topology.Flow.Keyed, and the topology runs it in a goka group of its own: records are re-keyed through the group's loop topic, so state and records
// of one key meet on one partition whatever stages ran before, and the state lives in the group table,
// recovered from Kafka after a restart and moved with its partition between replicas.
//
// The topology applies each input record to the state once, even when a crash makes Kafka deliver it again
// (it keeps the last applied input position with each key's state; see the topology package), so a Keyed
// step need not be idempotent itself. Its outputs are written with their own Key and KeySchema (normally
// r's, the input record's original key); a replay may repeat a key's latest output, which a sink that
// upserts by key absorbs.
type Keyed interface {
	// Name identifies the step in metrics, logs, errors and the names of its goka group and topics.
	Name() string
	// Apply folds r into the key's state (nil for a key not seen yet) and returns the new state (nil
	// forgets the key) and the records to emit, keyed like r. The state bytes are the step's own: the
	// topology stores them as they are, next to its own bookkeeping. An error (or a panic) leaves the
	// state as it was and sets r aside: to the flow's dead-letter topic when it has one, otherwise it stops
	// the pipeline naming the flow, the step and r's input position.
	Apply(state []byte, r stream.Record) (newState []byte, out []stream.Record, err error)
}

// keyedStage gives the built-in Keyed steps their name.
type keyedStage struct{ name string }

func (k keyedStage) Name() string { return k.name }

// Dedupe drops a record whose key and content (value and operation) equal those of the previous record of
// its key, when it comes less than window after it by record timestamp (window 0: any time later). Change
// events replayed after a crash, or a source that sends the same row twice, then reach the sink once.
func Dedupe(name string, window time.Duration) (Keyed, error) {
	if name == "" {
		return nil, ErrNoName
	}
	if window < 0 {
		return nil, fmt.Errorf("dedupe %q: window must not be negative, got %v", name, window)
	}
	return &dedupe{keyedStage{name}, window}, nil
}

type dedupe struct {
	keyedStage
	window time.Duration
}

type dedupeState struct {
	Hash []byte    `json:"hash"`
	Seen time.Time `json:"seen"`
}

var dedupeCodec, _ = stream.LookupCodec("json-schema")

func (d *dedupe) Apply(state []byte, r stream.Record) ([]byte, []stream.Record, error) {
	content, err := dedupeCodec.Encode(r.ValueSchema, r.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("dedupe %q: %w", d.name, err)
	}
	sum := sha256.Sum256(append([]byte{byte(r.Operation)}, content...))
	var prev dedupeState
	if state != nil {
		if err := json.Unmarshal(state, &prev); err != nil {
			return nil, nil, fmt.Errorf("dedupe %q: state: %w", d.name, err)
		}
		if string(prev.Hash) == string(sum[:]) && (d.window == 0 || r.Timestamp.Sub(prev.Seen) < d.window) {
			return state, nil, nil // a duplicate: keep the first sighting as the window's start
		}
	}
	next, _ := json.Marshal(dedupeState{Hash: sum[:], Seen: r.Timestamp})
	return next, []stream.Record{r}, nil
}

// Aggregate folds the records of each key into a value of type A and emits the new aggregate, as the
// record's value and with the record's key, after every record. add receives the previous aggregate (the zero A for a new key). The
// aggregate is stored as JSON, so A must survive a JSON round trip; emitted values are schemaless JSON
// objects when A is a struct (see MapValue), A itself otherwise.
func Aggregate[A any](name string, add func(acc A, r stream.Record) (A, error)) (Keyed, error) {
	if name == "" {
		return nil, ErrNoName
	}
	if add == nil {
		return nil, fmt.Errorf("aggregate %q: add is nil", name)
	}
	return &aggregate[A]{keyedStage{name}, add}, nil
}

type aggregate[A any] struct {
	keyedStage
	add func(A, stream.Record) (A, error)
}

func (a *aggregate[A]) Apply(state []byte, r stream.Record) ([]byte, []stream.Record, error) {
	var acc A
	if state != nil {
		if err := json.Unmarshal(state, &acc); err != nil {
			return nil, nil, fmt.Errorf("aggregate %q: state: %w", a.name, err)
		}
	}
	acc, err := a.add(acc, r)
	if err != nil {
		return nil, nil, err
	}
	next, err := json.Marshal(acc)
	if err != nil {
		return nil, nil, fmt.Errorf("aggregate %q: %w", a.name, err)
	}
	out := r
	out.Operation = stream.OpNone
	if err := setValue(&out, acc); err != nil {
		return nil, nil, err
	}
	return next, []stream.Record{out}, nil
}

// Count emits, for every record, how many records its key has had so far (deletes and tombstones
// included), as the value {"key": <the record's key>, "count": N}, keyed by the record's key. When the key
// has a schema, the value is a struct with that schema for "key" and an int64 "count"; otherwise it is a
// schemaless object. The state per key is {"count": N}.
func Count(name string) (Keyed, error) {
	if name == "" {
		return nil, ErrNoName
	}
	return &count{keyedStage{name}}, nil
}

type count struct{ keyedStage }

type countValue struct {
	Count int64 `json:"count"`
}

func (c *count) Apply(state []byte, r stream.Record) ([]byte, []stream.Record, error) {
	var acc countValue
	if state != nil {
		if err := json.Unmarshal(state, &acc); err != nil {
			return nil, nil, fmt.Errorf("count %q: state: %w", c.name, err)
		}
	}
	acc.Count++
	next, err := json.Marshal(acc)
	if err != nil {
		return nil, nil, fmt.Errorf("count %q: %w", c.name, err)
	}
	out := r
	out.Operation = stream.OpNone
	out.Value, out.ValueSchema = map[string]any{"key": r.Key, "count": acc.Count}, nil
	if r.KeySchema != nil {
		schema, err := stream.NewStruct("").Field("key", r.KeySchema).Field("count", stream.Int64Schema()).Build()
		if err != nil {
			return nil, nil, fmt.Errorf("count %q: key schema: %w", c.name, err)
		}
		v, _ := stream.NewStructValue(schema)
		if err := v.Put("key", r.Key); err != nil {
			return nil, nil, fmt.Errorf("count %q: key: %w", c.name, err)
		}
		if err := v.Put("count", acc.Count); err != nil {
			return nil, nil, fmt.Errorf("count %q: %w", c.name, err)
		}
		out.Value, out.ValueSchema = v, schema
	}
	return next, []stream.Record{out}, nil
}
