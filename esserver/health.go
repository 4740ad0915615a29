package esserver

import (
	"net/http"
	"strings"
)

// handleClusterHealth is GET /_cluster/health[/{index}]. esserver is one node with one primary shard per
// index and no replicas, so every index is green and the wait_for_* conditions (status green or yellow,
// active shards, no relocating/initializing shards, nodes) hold at once. ?level=indices adds per-index
// health, ?level=shards per-shard health too. Health of an index that does not exist is red and
// timed_out, with 408, as Elasticsearch answers once its wait times out (esserver answers at once).
func (s *Server) handleClusterHealth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch q.Get("wait_for_status") {
	case "", "green", "yellow", "red":
	default:
		writeError(w, errIllegalArgument("unknown cluster health status [%s]", q.Get("wait_for_status")))
		return
	}
	switch lvl := q.Get("level"); lvl {
	case "", "cluster", "indices", "shards":
	default:
		writeError(w, errIllegalArgument("level must be one of [cluster, indices, shards] but was [%s]", lvl))
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	expr := r.PathValue("index")
	ixs, e := s.resolve(expr)
	if e != nil && strings.TrimSpace(expr) != "" {
		writeJSON(w, http.StatusRequestTimeout, healthBody(nil, "red", true, ""))
		return
	}
	writeJSON(w, http.StatusOK, healthBody(ixs, "green", false, q.Get("level")))
}

func healthBody(ixs []*index, status string, timedOut bool, level string) map[string]any {
	n := len(ixs)
	out := map[string]any{
		"cluster_name": "esserver", "status": status, "timed_out": timedOut,
		"number_of_nodes": 1, "number_of_data_nodes": 1,
		"active_primary_shards": n, "active_shards": n, "relocating_shards": 0, "initializing_shards": 0,
		"unassigned_shards": 0, "unassigned_primary_shards": 0, "delayed_unassigned_shards": 0,
		"number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
		"active_shards_percent_as_number": 100.0,
	}
	if level == "indices" || level == "shards" {
		indices := map[string]any{}
		for _, ix := range ixs {
			h := map[string]any{"status": "green", "number_of_shards": 1, "number_of_replicas": 0,
				"active_primary_shards": 1, "active_shards": 1, "relocating_shards": 0, "initializing_shards": 0,
				"unassigned_shards": 0, "unassigned_primary_shards": 0}
			if level == "shards" {
				h["shards"] = map[string]any{"0": map[string]any{"status": "green", "primary_active": true,
					"active_shards": 1, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0,
					"unassigned_primary_shards": 0}}
			}
			indices[ix.name] = h
		}
		out["indices"] = indices
	}
	return out
}
