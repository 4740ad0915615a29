package opsapi

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// RebuildRequest is the body of POST /pipelines/{name}/flows/{flow}/rebuild.
type RebuildRequest struct {
	// Index names the new index; "" lets the sink name it (orders-000002 after orders-000001).
	Index string `json:"index,omitempty"`
	// DropOld deletes the old index once the alias points to the new one and the rebuild finished.
	DropOld bool `json:"drop_old,omitempty"`
}

// The states of a rebuild, in order; it ends DONE or FAILED.
const (
	RebuildCopying   = "COPYING"   // the copy of the flow fills the new index; the alias is on the old one
	RebuildSwapped   = "SWAPPED"   // the alias points to the new index; the copy runs past the offsets of the swap
	RebuildFinishing = "FINISHING" // the copy stopped; its group and, if asked, the old index are deleted
	RebuildDone      = "DONE"
	RebuildFailed    = "FAILED"
)

// RebuildStatus is the answer of POST (202) and GET /pipelines/{name}/flows/{flow}/rebuild: the last
// rebuild of the flow that the answering replica ran.
type RebuildStatus struct {
	Pipeline string `json:"pipeline"`
	Flow     string `json:"flow"`
	Replica  string `json:"replica"` // the replica that runs the rebuild's copy of the flow
	Alias    string `json:"alias"`
	OldIndex string `json:"old_index"`
	NewIndex string `json:"new_index"`
	DropOld  bool   `json:"drop_old"`
	Group    string `json:"group"` // the consumer group of the copy
	State    string `json:"state"`
	// Records is how many records the copy wrote into the new index; Lag how many records of the flow's
	// topic it has still to read to reach its goal (the live flow's committed offsets before the swap, the
	// topic's end offsets as of the swap after it).
	Records  int64     `json:"records"`
	Lag      int64     `json:"lag"`
	Started  time.Time `json:"started"`
	Swapped  time.Time `json:"swapped,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// RebuildPath is "/pipelines/{name}/flows/{flow}/rebuild", escaped.
func RebuildPath(name, flow string) string {
	return PipelinePath(name, "flows/"+url.PathEscape(flow)+"/rebuild")
}

// Rebuild is POST /pipelines/{name}/flows/{flow}/rebuild: it starts a rebuild of the flow's index on the
// replica that answers and returns its status (202).
func (c *Client) Rebuild(ctx context.Context, name, flow string, req RebuildRequest) (RebuildStatus, error) {
	var out RebuildStatus
	err := c.do(ctx, http.MethodPost, RebuildPath(name, flow), nil, req, &out)
	return out, err
}

// RebuildStatus is GET /pipelines/{name}/flows/{flow}/rebuild: the flow's last rebuild on that replica.
func (c *Client) RebuildStatus(ctx context.Context, name, flow string) (RebuildStatus, error) {
	var out RebuildStatus
	err := c.do(ctx, http.MethodGet, RebuildPath(name, flow), nil, nil, &out)
	return out, err
}
