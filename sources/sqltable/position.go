package sqltable

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Position is where a task continues, as Kafka Connect's JDBC source offsets: the values of the mode's
// columns in the last row whose predecessors were all read. Written as JSON, for example
// {"timestamp":"2024-05-01T10:00:00.123456Z","incrementing":42}.
//
//   - incrementing: Incrementing is the last row's column value; reopened, the task reads rows with a
//     greater value.
//   - timestamp+incrementing: Timestamp and Incrementing of the last row; reopened, the task reads rows
//     with a later timestamp, or the same timestamp and a greater incrementing value.
//   - timestamp: Timestamp of the last row whose timestamp group (rows sharing its timestamp) was
//     complete; reopened, the task reads rows with a later timestamp. A record in the middle of a group
//     carries the previous group's timestamp, so a restart there reads the whole group again
//     (at-least-once, never a lost row).
//   - bulk: Row is how many rows of the current pass (in key order) were read; Done marks a pass's last
//     row: reopened there, the task starts the next pass after PollInterval (or ends, with StopAtEnd).
//
// Timestamps keep the database's full precision (microseconds) in UTC, not Connect's milliseconds, so
// that no row is skipped or repeated by rounding.
type Position struct {
	Timestamp    *time.Time `json:"timestamp,omitempty"`
	Incrementing *int64     `json:"incrementing,omitempty"`
	Row          int64      `json:"row,omitempty"`
	Done         bool       `json:"done,omitempty"`
}

func parsePosition(raw stream.Position) (Position, error) {
	var p Position
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("position %s is not a sqltable position: %w", raw, err)
	}
	if p.Timestamp != nil {
		t := p.Timestamp.UTC()
		p.Timestamp = &t
	}
	return p, nil
}

// encode writes p as json.Marshal would, without reflection (it runs once per record).
func (p Position) encode() stream.Position {
	b := make([]byte, 0, 80)
	b = append(b, '{')
	if p.Timestamp != nil {
		b = append(b, `"timestamp":"`...)
		b = p.Timestamp.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if p.Incrementing != nil {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"incrementing":`...)
		b = strconv.AppendInt(b, *p.Incrementing, 10)
	}
	if p.Row != 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"row":`...)
		b = strconv.AppendInt(b, p.Row, 10)
	}
	if p.Done {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"done":true`...)
	}
	return append(b, '}')
}
