package topology

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/opsapi"
)

// controlRoutes registers PUT /pipelines/{name}/pause|resume|stop, POST /pipelines/{name}/restart and
// GET/PATCH/DELETE /pipelines/{name}/offsets. Placeholder until the control work lands.
func (p *pipelineRun) controlRoutes(mux *http.ServeMux) {}

// targetState is the state this replica is asked to be in (opsapi.StateRunning, StatePaused or
// StateStopped). Placeholder until the control work lands.
func (p *pipelineRun) targetState() string { return opsapi.StateRunning }
