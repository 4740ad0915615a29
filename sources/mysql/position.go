package mysql

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/stream"
)

// Position is a task's position, stored as JSON, e.g.
//
//	{"snapshot":{"last_pk":{"id":1024},"done":false},"gtid":"0-1-42","file":"bin.000003","pos":1234}
//
// GTID, File and Pos are the binlog position of the task's first snapshot: binlog streaming (to come) starts
// there, so that changes to rows copied before a restart are not lost. Snapshot.LastPK is the primary key of
// the last row copied, by column name; Snapshot.Done is set on the last row of the table.
type Position struct {
	Snapshot *SnapshotPosition `json:"snapshot,omitempty"`
	GTID     string            `json:"gtid,omitempty"`
	File     string            `json:"file,omitempty"`
	Pos      uint64            `json:"pos,omitempty"`
}

// SnapshotPosition is how far a table's snapshot got.
type SnapshotPosition struct {
	// LastPK maps each primary-key column to its value in the last row copied: a JSON number for numeric
	// columns, base64 for binary ones, a string otherwise. Absent before the first row.
	LastPK map[string]json.RawMessage `json:"last_pk,omitempty"`
	// Done is true once the whole table has been copied.
	Done bool `json:"done"`
}

func parsePosition(pos stream.Position) (Position, error) {
	var p Position
	if len(pos) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(pos, &p); err != nil {
		return p, err
	}
	return p, nil
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
