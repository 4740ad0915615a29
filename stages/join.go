package stages

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// ErrNeedsTopology is returned by the Process method of a stateful stage, which runs only inside a topology
// (it keeps its state in goka tables).
var ErrNeedsTopology = errors.New("stateful stage runs only inside a topology")

// TableRef is a table a topology declares (topology.Table implements it): the latest row per key of a topic.
type TableRef interface {
	TableName() string
}

// Join enriches each record with the row of a table that one of its fields refers to: the record's value
// gets the row's value as field As (null when there is no such row). It is stateful: the topology runs it
// in a goka group of its own, with the group's loop topic as the repartition topic that brings each record
// and the row it refers to onto one partition, and its state in the group table, so it survives restarts
// and moves with its partitions between replicas.
//
// A lookup join (LookupJoin) uses the row as it is when the record arrives. A foreign-key join
// (JoinForeignKey) also sends every referring record again, newly joined, whenever the row changes, which is
// what keeps a denormalised document right when the referenced entity changes. A record whose foreign key
// changes leaves its old row; a deleted record (tombstone or delete event) leaves as a tombstone.
//
// The record value must be a struct or a JSON object; the joined value is a schemaless JSON object.
type Join struct {
	name   string
	table  TableRef
	field  string
	as     string
	reemit bool
}

// LookupJoin makes a lookup join on field (a dot-separated path in the record value) into table, adding the
// row as field as.
func LookupJoin(name string, table TableRef, field, as string) (*Join, error) {
	return newJoin(name, table, field, as, false)
}

// JoinForeignKey makes a foreign-key join: like LookupJoin, and referring records are joined and sent again
// whenever the row they refer to changes.
func JoinForeignKey(name string, table TableRef, field, as string) (*Join, error) {
	return newJoin(name, table, field, as, true)
}

func newJoin(name string, table TableRef, field, as string, reemit bool) (*Join, error) {
	switch {
	case name == "":
		return nil, ErrNoName
	case table == nil:
		return nil, fmt.Errorf("join %q: table is nil", name)
	case strings.TrimSpace(field) == "":
		return nil, fmt.Errorf("join %q: field is empty", name)
	case strings.TrimSpace(as) == "":
		return nil, fmt.Errorf("join %q: as is empty", name)
	}
	return &Join{name: name, table: table, field: field, as: as, reemit: reemit}, nil
}

// Name identifies the join.
func (j *Join) Name() string { return j.name }

// Table is the joined table.
func (j *Join) Table() TableRef { return j.table }

// Field is the path of the foreign key in the record value.
func (j *Join) Field() string { return j.field }

// As is the field of the joined value that holds the row.
func (j *Join) As() string { return j.as }

// ForeignKey reports whether referring records are sent again when the row changes.
func (j *Join) ForeignKey() bool { return j.reemit }

// Process fails: a join runs only inside a topology.
func (j *Join) Process(context.Context, stream.Record) ([]stream.Record, error) {
	return nil, fmt.Errorf("join %q: %w", j.name, ErrNeedsTopology)
}
