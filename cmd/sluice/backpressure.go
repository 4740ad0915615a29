package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/sluicehq/sluice/internal/opsapi"
)

// printBackpressure ends `sluice status` with what the backpressure policies did: one row per replica and
// flow (edge kafka-sink) or source (edge source-kafka) with a policy other than BLOCK; nothing when there is
// none. The counts are the replica's since it started (the status API's replicas[].backpressure).
func printBackpressure(w io.Writer, st opsapi.Status) error {
	var t *table
	for _, r := range st.Replicas {
		for _, b := range r.Backpressure {
			if t == nil {
				fmt.Fprintln(w)
				t = newTable(w, "EDGE", "FLOW/SOURCE", "MODE", "REPLICA", "DROPPED", "COALESCED", "SPILLED", "PENDING", "SPILLED-PENDING")
			}
			name := b.Flow
			if b.Source != "" {
				name = b.Source
			}
			t.row(b.Edge, name, b.Mode, r.ID, strconv.FormatInt(b.Dropped, 10), strconv.FormatInt(b.Coalesced, 10),
				strconv.FormatInt(b.Spilled, 10), strconv.Itoa(b.Pending), strconv.Itoa(b.SpilledPending))
		}
	}
	if t == nil {
		return nil
	}
	return t.flush()
}
