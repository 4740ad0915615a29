package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pglogrepl"

	"github.com/sluicehq/sluice/stream"
)

// Position is the position of a source's task, stored as JSON. During the snapshot:
//
//	{"phase":"snapshot","table":"public.orders","last_pk":["1024"],"start":"0/16B3748"}
//
// Table is the table being copied and LastPK the text form of the primary key of its last row copied, in
// key order; tables sorted before Table are done. Start is the
// slot's consistent point that the task's FIRST snapshot is consistent with: a snapshot resumed after a
// restart is a new one (the exported snapshot died with its connection), but streaming still starts at
// Start, so nothing committed in between is lost (rows changed meanwhile may arrive twice).
//
// While streaming:
//
//	{"phase":"stream","lsn":"0/16B3748","tx":"0/16B3800","skip":3}
//
// LSN is where streaming resumes: the end of the last transaction the task completed before the current
// one (or the snapshot's Start). Tx is the commit LSN of the transaction the record belongs to and Skip the
// number of that transaction's records emitted up to and including this one. Reopening starts the slot at
// LSN, skips transactions that commit before Tx and the first Skip records of Tx, so a restart in the
// middle of a large transaction neither loses nor repeats records.
type Position struct {
	Phase string `json:"phase"`

	Table  string   `json:"table,omitempty"`
	LastPK []string `json:"last_pk,omitempty"`
	Start  string   `json:"start,omitempty"`

	LSN  string `json:"lsn,omitempty"`
	Tx   string `json:"tx,omitempty"`
	Skip int    `json:"skip,omitempty"`
}

// Phases of Position.
const (
	PhaseSnapshot = "snapshot"
	PhaseStream   = "stream"
)

// position is a parsed Position.
type position struct {
	Position
	start, lsn, tx pglogrepl.LSN
}

func parsePosition(pos stream.Position) (*position, error) {
	if len(pos) == 0 {
		return nil, nil
	}
	var p position
	if err := json.Unmarshal(pos, &p.Position); err != nil {
		return nil, err
	}
	var err error
	switch p.Phase {
	case PhaseSnapshot:
		if p.Table == "" || p.Start == "" {
			return nil, fmt.Errorf("snapshot position without table or start")
		}
		if p.start, err = pglogrepl.ParseLSN(p.Start); err != nil {
			return nil, fmt.Errorf("start %q: %w", p.Start, err)
		}
	case PhaseStream:
		if p.lsn, err = pglogrepl.ParseLSN(p.LSN); err != nil {
			return nil, fmt.Errorf("lsn %q: %w", p.LSN, err)
		}
		if p.Tx != "" {
			if p.tx, err = pglogrepl.ParseLSN(p.Tx); err != nil {
				return nil, fmt.Errorf("tx %q: %w", p.Tx, err)
			}
		}
	default:
		return nil, fmt.Errorf("unknown phase %q (want %q or %q)", p.Phase, PhaseSnapshot, PhaseStream)
	}
	return &p, nil
}

func (p Position) marshal() (stream.Position, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("postgres source: position: %w", err)
	}
	return b, nil
}

func streamPosition(lsn, tx pglogrepl.LSN, skip int) Position {
	p := Position{Phase: PhaseStream, LSN: lsn.String(), Skip: skip}
	if tx != 0 {
		p.Tx = tx.String()
	}
	return p
}
