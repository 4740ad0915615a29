package topology

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/opsapi"
)

// statusRoutes registers GET /, /pipelines, /pipelines/{name} and /pipelines/{name}/status.
// Placeholder until the status work lands.
func (p *pipelineRun) statusRoutes(mux *http.ServeMux) {}

// liveReplicas returns the status every live replica of this pipeline published last, this one's
// included. Placeholder until the status work lands.
func (p *pipelineRun) liveReplicas() []opsapi.ReplicaStatus { return nil }
