package opsapi

import (
	"context"
	"net/http"
	"net/url"
)

// SnapshotRequest is the body of POST /pipelines/{name}/sources/{source}/snapshots: the tables to copy
// again while the source keeps streaming (an incremental snapshot), with an optional SQL condition per
// table.
type SnapshotRequest struct {
	Tables     []string          `json:"tables"`
	Conditions map[string]string `json:"conditions,omitempty"`
}

// SnapshotResult is the answer of a snapshot request (202): the request is recorded; the copy runs in the
// source's task, which logs its progress.
type SnapshotResult struct {
	Pipeline   string            `json:"pipeline"`
	Source     string            `json:"source"`
	Tables     []string          `json:"tables"`
	Conditions map[string]string `json:"conditions,omitempty"`
	Message    string            `json:"message"`
}

// SnapshotPath is "/pipelines/{name}/sources/{source}/snapshots", escaped.
func SnapshotPath(name, source string) string {
	return PipelinePath(name, "sources/"+url.PathEscape(source)+"/snapshots")
}

// Snapshot is POST /pipelines/{name}/sources/{source}/snapshots: it asks the source for an incremental
// snapshot of req.Tables (400 for a bad request, 404 for an unknown source, 409 when the source cannot take
// snapshots on demand).
func (c *Client) Snapshot(ctx context.Context, name, source string, req SnapshotRequest) (SnapshotResult, error) {
	var out SnapshotResult
	err := c.do(ctx, http.MethodPost, SnapshotPath(name, source), nil, req, &out)
	return out, err
}
