package topology

import "net/http"

// apiRoutes registers the operator API (see internal/opsapi for its JSON shapes and docs/api.md for the
// reference) beside /metrics, /healthz and /readyz: the read side (status.go: /, /pipelines,
// /pipelines/{name}, /pipelines/{name}/status), the control side (control.go: pause, resume, stop,
// restart, offsets) and the status page (ui.go: /ui).
func (p *pipelineRun) apiRoutes(mux *http.ServeMux) {
	p.statusRoutes(mux)
	p.controlRoutes(mux)
	p.rebuildRoutes(mux)  // rebuild.go
	p.redriveRoutes(mux)  // redrive.go
	p.rewindRoutes(mux)   // rewind.go
	p.snapshotRoutes(mux) // snapshot.go
	p.uiRoutes(mux)
}
