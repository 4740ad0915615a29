package topology

import (
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/stream"
)

// joinedValue is the value a join emits for a record value v joined with a row value rv (nil: no row).
//
// A struct record joined with a struct row (or with none) stays a struct, so that its schema and logical
// types (decimals, dates, Debezium timestamps) reach the rest of the flow and the sink: its schema is the
// record's, without a field named as if it had one, plus the field as holding the row's schema, optional
// (an optional struct without fields when there is no row). Any other combination (schemaless JSON objects)
// becomes a schemaless object, as it always was. The join's output topic carries the json-schema envelope.
func (r *joinRunner) joinedValue(v, rv any) (any, error) {
	st, isStruct := v.(*stream.Struct)
	row, rowIsStruct := rv.(*stream.Struct)
	if !isStruct || st == nil || (rv != nil && (!rowIsStruct || row == nil)) {
		joined, err := r.asObject(v)
		if err != nil {
			return nil, err
		}
		joined[r.spec.join.As()] = nil
		if rv != nil {
			if joined[r.spec.join.As()], err = r.asObject(rv); err != nil {
				return nil, fmt.Errorf("row: %w", err)
			}
		}
		return joined, nil
	}
	rowSchema := emptyRowSchema
	if row != nil {
		rowSchema = row.Schema()
	}
	schema, err := r.joinedSchemas.get(st.Schema(), rowSchema, r.spec.join.As())
	if err != nil {
		return nil, err
	}
	out, err := stream.NewStructValue(schema)
	if err != nil {
		return nil, err
	}
	for _, f := range schema.Fields[:len(schema.Fields)-1] {
		if err := out.Put(f.Name, st.Get(f.Name)); err != nil {
			return nil, err
		}
	}
	if row != nil {
		if err := out.Put(r.spec.join.As(), row); err != nil {
			return nil, fmt.Errorf("row: %w", err)
		}
	}
	return out, nil
}

// emptyRowSchema is the schema of the joined field when there is no row.
var emptyRowSchema = &stream.Schema{Type: stream.TypeStruct, Optional: true}

// joinedSchemaCache remembers the last joined schemas built, so that records of one shape share one
// schema instead of building it for every record. Safe for the processor's concurrent partitions.
type joinedSchemaCache struct {
	mu      sync.Mutex
	entries []joinedSchemaEntry
}

type joinedSchemaEntry struct {
	record, row, joined *stream.Schema
}

const joinedSchemaCacheSize = 8

func (c *joinedSchemaCache) get(record, row *stream.Schema, as string) (*stream.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if (e.record == record || e.record.Equal(record)) && (e.row == row || e.row.Equal(row)) {
			return e.joined, nil
		}
	}
	b := stream.NewStruct(record.Name).Version(record.Version).Doc(record.Doc)
	if record.Optional {
		b.Optional()
	}
	for _, f := range record.Fields {
		if f.Name != as {
			b.Field(f.Name, f.Schema)
		}
	}
	joined, err := b.Field(as, row.AsOptional()).Build()
	if err != nil {
		return nil, fmt.Errorf("joined schema: %w", err)
	}
	c.entries = append(c.entries, joinedSchemaEntry{record: record, row: row, joined: joined})
	if len(c.entries) > joinedSchemaCacheSize {
		c.entries = c.entries[1:]
	}
	return joined, nil
}
