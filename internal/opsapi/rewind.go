package opsapi

import (
	"context"
	"net/http"
	"net/url"
)

// RewindRequest is the body of POST /pipelines/{name}/flows/{flow}/rewind: exactly one of ToTimestamp,
// ToOffset and To says where the flow's consumer group goes.
type RewindRequest struct {
	// ToTimestamp (RFC 3339): per partition, the earliest offset whose record timestamp is at or after it;
	// the partition's end when it has no such record.
	ToTimestamp string `json:"to_timestamp,omitempty"`
	// ToOffset: this offset on every partition, within the partition's earliest and end offsets.
	ToOffset *int64 `json:"to_offset,omitempty"`
	// To is "earliest" or "latest".
	To string `json:"to,omitempty"`
	// DryRun answers what would change and commits nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// RewindResult is the answer of a rewind: per partition of the flow's input topic, the group's committed
// offset before (null: none) and the one set (or that would be set, on a dry run).
type RewindResult struct {
	Pipeline   string            `json:"pipeline"`
	Flow       string            `json:"flow"`
	Group      string            `json:"group"`
	Topic      string            `json:"topic"`
	Target     string            `json:"target"` // "timestamp 2026-11-27T22:00:00Z", "offset 42", "earliest", "latest"
	DryRun     bool              `json:"dry_run"`
	Partitions []RewindPartition `json:"partitions"`
	// Records is how many records the flow reads again (or skips, when negative) at the new offsets.
	Records int64 `json:"records"`
}

// RewindPartition is one partition of a rewind.
type RewindPartition struct {
	Partition int32  `json:"partition"`
	Old       *int64 `json:"old_offset"` // the committed offset before; null when the group had none
	New       int64  `json:"new_offset"`
	End       int64  `json:"end_offset"` // the partition's end offset when the rewind read it
}

// RewindPath is "/pipelines/{name}/flows/{flow}/rewind", escaped.
func RewindPath(name, flow string) string {
	return PipelinePath(name, "flows/"+url.PathEscape(flow)+"/rewind")
}

// Rewind is POST /pipelines/{name}/flows/{flow}/rewind: it sets the flow's consumer group to the requested
// offsets while every replica is STOPPED (409 otherwise) and returns what changed.
func (c *Client) Rewind(ctx context.Context, name, flow string, req RewindRequest) (RewindResult, error) {
	var out RewindResult
	err := c.do(ctx, http.MethodPost, RewindPath(name, flow), nil, req, &out)
	return out, err
}
