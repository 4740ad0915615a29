package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/sources"
)

// snapshotRoutes registers POST /pipelines/{name}/sources/{source}/snapshots: an incremental snapshot on
// demand, for a source that implements sources.Snapshotter.
func (p *pipelineRun) snapshotRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /pipelines/{name}/sources/{source}/snapshots", p.serveSnapshot)
}

// snapshotTimeout bounds a snapshot request's call into the source (one insert into its signal table).
const snapshotTimeout = 30 * time.Second

func (p *pipelineRun) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	if !p.knownPipeline(w, r) {
		return
	}
	name := r.PathValue("source")
	var node *SourceNode
	for _, s := range p.t.sources {
		if s.name == name {
			node = s
		}
	}
	if node == nil {
		writeOpsError(w, http.StatusNotFound, "snapshot: pipeline %s has no source %q", p.t.name, name)
		return
	}
	snap, ok := node.src.(sources.Snapshotter)
	if !ok {
		writeOpsError(w, http.StatusConflict, "snapshot: source %s of pipeline %s cannot take snapshots on demand (its connector does not implement them)", name, p.t.name)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeOpsError(w, http.StatusBadRequest, "snapshot: reading the request: %v", err)
		return
	}
	var req opsapi.SnapshotRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeOpsError(w, http.StatusBadRequest, `snapshot of source %s: body: %v; want {"tables": ["db.table", ...], "conditions": {"db.table": "id > 100"}}`, name, err)
		return
	}
	if len(req.Tables) == 0 {
		writeOpsError(w, http.StatusBadRequest, `snapshot of source %s: field tables is empty: name at least one table`, name)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), snapshotTimeout)
	defer cancel()
	if err := snap.Snapshot(ctx, sources.SnapshotRequest{Tables: req.Tables, Conditions: req.Conditions}); err != nil {
		status := http.StatusServiceUnavailable
		switch {
		case errors.Is(err, sources.ErrSnapshotUnsupported):
			status = http.StatusConflict
		case errors.Is(err, sources.ErrSnapshotRequest):
			status = http.StatusBadRequest
		}
		writeOpsError(w, status, "snapshot of source %s: %v", name, err)
		return
	}
	writeJSON(w, http.StatusAccepted, opsapi.SnapshotResult{Pipeline: p.t.name, Source: name, Tables: req.Tables, Conditions: req.Conditions,
		Message: fmt.Sprintf("source %s copies %s again while it streams; its task logs the progress", name, strings.Join(req.Tables, ", "))})
}
