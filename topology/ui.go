package topology

import "net/http"

// uiRoutes registers the status page /ui. Placeholder until the status page lands.
func (p *pipelineRun) uiRoutes(mux *http.ServeMux) {}
