package stages

import (
	"fmt"
	"strings"
)

// Join describes how a flow joins a table: each record is enriched with the row of the table that one of its
// fields refers to, the record's value getting the row's value as field As (null when there is no such row).
// A Join is not a Stage: it is a stateful step of a flow, declared with the table it joins by
// topology.Flow.Join, which runs it in a goka group of its own, with the group's loop topic as the
// repartition topic that brings each record and the row it refers to onto one partition, and its state in
// the group table, so it survives restarts and moves with its partitions between replicas.
//
// A lookup join (LookupJoin) uses the row as it is when the record arrives. A foreign-key join
// (JoinForeignKey) also sends every referring record again, newly joined, whenever the row changes, which is
// what keeps a denormalised document right when the referenced entity changes. A record whose foreign key
// changes leaves its old row; a deleted record (tombstone or delete event) leaves as a tombstone.
//
// The record value must be a struct or a JSON object; a value that is neither fails the record in the join
// (to the flow's dead-letter topic when it has one). A struct joined with a struct row (or with none) stays
// a struct, the row an optional struct field, so its schema reaches the sink; anything else is joined as a
// schemaless JSON object.
type Join struct {
	name   string
	field  string
	as     string
	reemit bool
}

// LookupJoin describes a lookup join on field (a dot-separated path in the record value), adding the row
// it refers to as field as. The table is given where the flow declares the join (topology.Flow.Join).
func LookupJoin(name string, field, as string) (*Join, error) {
	return newJoin(name, field, as, false)
}

// JoinForeignKey makes a foreign-key join: like LookupJoin, and referring records are joined and sent again
// whenever the row they refer to changes.
func JoinForeignKey(name string, field, as string) (*Join, error) {
	return newJoin(name, field, as, true)
}

func newJoin(name string, field, as string, reemit bool) (*Join, error) {
	switch {
	case name == "":
		return nil, ErrNoName
	case strings.TrimSpace(field) == "":
		return nil, fmt.Errorf("join %q: field is empty", name)
	case strings.TrimSpace(as) == "":
		return nil, fmt.Errorf("join %q: as is empty", name)
	}
	return &Join{name: name, field: field, as: as, reemit: reemit}, nil
}

// Name identifies the join.
func (j *Join) Name() string { return j.name }

// Field is the path of the foreign key in the record value.
func (j *Join) Field() string { return j.field }

// As is the field of the joined value that holds the row.
func (j *Join) As() string { return j.as }

// ForeignKey reports whether referring records are sent again when the row changes.
func (j *Join) ForeignKey() bool { return j.reemit }
