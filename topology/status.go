package topology

import "net/http"

// statusRoutes registers GET /, /pipelines, /pipelines/{name} and /pipelines/{name}/status.
// Placeholder until the status work lands.
func (p *pipelineRun) statusRoutes(mux *http.ServeMux) {}
