package mysql

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/stream"
)

// Position is the position of a source's task, stored as JSON. During the snapshot:
//
//	{"phase":"snapshot","table":"shop.orders","last_pk":{"id":1024},"start":{"gtid":"0-1-42","file":"bin.000003","pos":1234}}
//
// Table is the table being copied and LastPK the primary key of its last row copied, by column name; tables
// sorted before Table are done. Done is set on the snapshot's very last row. Start is the binlog position of
// the task's FIRST snapshot: a snapshot resumed after a restart is a new one, but streaming still starts at
// Start, so that no change made in between is lost (changes to rows copied after the restart are then read
// twice: at-least-once, never less).
//
// While streaming:
//
//	{"phase":"stream","gtid":"0-1-41","file":"bin.000003","pos":1234,"events_skip":2,"rows_skip":17}
//
// GTID is the GTID position (MariaDB: domain-server-seq per domain) up to and including the last COMPLETED
// transaction; File and Pos are where the current transaction starts (its GTID event); EventsSkip is the
// number of rows events and DDL statements (a CREATE TABLE ... SELECT's, published as a schema-change
// record at its place) of that transaction already handled completely, RowsSkip the number of rows of the
// next rows event already emitted, and RowRecords the number of records of the row after those already
// emitted (a delete is two records: the delete and its tombstone). Reopening starts the binlog at the
// transaction's start (from GTID, or from File/Pos when the GTID position is empty) and skips exactly what
// was emitted, so a restart in the middle of a large transaction neither loses nor repeats rows (Debezium's
// DBZ-144 lesson). While an incremental snapshot runs, stream positions also carry its state,
// "incremental":{...} (see IncrementalPosition); the rows of a chunk have the position of its close
// watermark's rows event (EventsSkip past it) with the chunk's progress up to that row.
type Position struct {
	Phase string `json:"phase"`

	Table  string                     `json:"table,omitempty"`
	LastPK map[string]json.RawMessage `json:"last_pk,omitempty"`
	Done   bool                       `json:"done,omitempty"`
	Start  *BinlogPosition            `json:"start,omitempty"`
	// Rows and TableDone mark the snapshot of a table without key (keyless.go), which has no LastPK: Rows
	// is how many of Table's rows were copied, TableDone is set on its last row. Reopened at a position
	// without TableDone, such a table is copied again from its first row.
	Rows      int64 `json:"rows,omitempty"`
	TableDone bool  `json:"table_done,omitempty"`

	GTID       string `json:"gtid,omitempty"`
	File       string `json:"file,omitempty"`
	Pos        uint64 `json:"pos,omitempty"`
	EventsSkip int    `json:"events_skip,omitempty"`
	RowsSkip   int    `json:"rows_skip,omitempty"`
	RowRecords int    `json:"row_records,omitempty"`

	// Incremental is the incremental snapshot under way (see IncrementalPosition), carried by every record
	// read while one runs; nil: none.
	Incremental *IncrementalPosition `json:"incremental,omitempty"`
	// TS is the binlog time (unix seconds, the event header's) of the transaction the stream position is in,
	// or of the last event read before it (a heartbeat's); 0 when unknown. when_needed compares it with the
	// tables' UPDATE_TIME to re-snapshot only the tables that changed since (retention_resnapshot.go).
	TS int64 `json:"ts,omitempty"`
}

// Phases of Position.
const (
	PhaseSnapshot = "snapshot"
	PhaseStream   = "stream"
)

// BinlogPosition is a point in the binlog: a GTID position and the file and offset it corresponds to.
type BinlogPosition struct {
	GTID string `json:"gtid,omitempty"`
	File string `json:"file"`
	Pos  uint64 `json:"pos"`
}

func parsePosition(pos stream.Position) (*Position, error) {
	if len(pos) == 0 {
		return nil, nil
	}
	var p Position
	if err := json.Unmarshal(pos, &p); err != nil {
		return nil, err
	}
	switch p.Phase {
	case PhaseSnapshot:
		if p.Start == nil || p.Table == "" {
			return nil, fmt.Errorf("snapshot position without table or start")
		}
	case PhaseStream:
		if p.GTID == "" && p.File == "" {
			return nil, fmt.Errorf("stream position without gtid or file")
		}
	default:
		return nil, fmt.Errorf("unknown phase %q (want %q or %q)", p.Phase, PhaseSnapshot, PhaseStream)
	}
	return &p, nil
}

// pkJSON turns a primary-key value as the driver returned it into its JSON form in Position.
func pkJSON(ct *columnType, raw any) (json.RawMessage, error) {
	switch ct.kind {
	case kindInt16, kindInt32, kindInt64, kindYear, kindUint64Decimal, kindDecimal:
		return json.RawMessage(asText(raw)), nil
	case kindFloat32:
		f, _ := raw.(float32)
		return json.RawMessage(strconv.FormatFloat(float64(f), 'g', -1, 32)), nil
	case kindFloat64:
		f, _ := raw.(float64)
		return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64)), nil
	case kindBytes, kindBits, kindBool:
		return json.Marshal(asBytes(raw))
	default:
		return json.Marshal(asText(raw))
	}
}

// pkArg turns a primary-key value of Position into a query argument of the column's type, so that the
// server compares it as that type (never as a double).
func pkArg(ct *columnType, msg json.RawMessage) (any, error) {
	switch ct.kind {
	case kindInt16, kindInt32, kindInt64, kindYear:
		return strconv.ParseInt(string(msg), 10, 64)
	case kindUint64Decimal:
		return strconv.ParseUint(string(msg), 10, 64)
	case kindDecimal:
		// Compared through CAST(? AS DECIMAL(p,s)); see keysetPlaceholder.
		if _, err := stream.ParseDecimal(string(msg)); err != nil {
			return nil, err
		}
		return string(msg), nil
	case kindFloat32, kindFloat64:
		return strconv.ParseFloat(string(msg), 64)
	case kindBytes, kindBits, kindBool:
		var b []byte
		err := json.Unmarshal(msg, &b)
		return b, err
	default:
		var s string
		err := json.Unmarshal(msg, &s)
		return s, err
	}
}

// keysetPlaceholder is the placeholder of a primary-key argument: DECIMAL values are cast so that they are
// not compared as doubles.
func keysetPlaceholder(ct *columnType) string {
	if ct.kind == kindDecimal {
		return fmt.Sprintf("CAST(? AS DECIMAL(%d,%d))", ct.Precision, ct.Scale)
	}
	return "?"
}
