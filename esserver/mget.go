package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// handleMget is the multi-get API (GET|POST /_mget, /{index}/_mget): {"docs":[{"_index","_id","_source"}]}
// or, with an index in the path, {"ids":[...]}. Each document is read like a realtime get (or with
// ?realtime=false like a search, ?refresh=true after a refresh); a missing document answers found:false
// and a missing index an error object in its slot, never a failed request. URL _source,
// _source_includes and _source_excludes are defaults that a document's own _source overrides.
func (s *Server) handleMget(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	defaultIndex := r.PathValue("index")
	var req struct {
		Docs []map[string]json.RawMessage `json:"docs"`
		IDs  []json.RawMessage            `json:"ids"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", "[1:1] "+err.Error()))
			return
		}
	}
	type item struct {
		index, id string
		filter    *sourceFilter
	}
	base := sourceFilterFromQuery(r.URL.Query(), nil)
	var items []item
	var problems []string
	for i, d := range req.Docs {
		it := item{index: defaultIndex, filter: base}
		if v, ok := d["_index"]; ok {
			it.index, _ = stringParam(v, "_index", 1)
		}
		if v, ok := d["_id"]; ok {
			it.id, _ = stringParam(v, "_id", 1)
		}
		if v, ok := d["_source"]; ok {
			f, e := parseSourceSpec(v)
			if e != nil {
				writeError(w, e)
				return
			}
			it.filter = f
		}
		if it.index == "" {
			problems = append(problems, fmt.Sprintf("index is missing for doc %d", i))
		}
		if it.id == "" {
			problems = append(problems, fmt.Sprintf("id is missing for doc %d", i))
		}
		items = append(items, it)
	}
	for _, raw := range req.IDs {
		id, _ := stringParam(raw, "ids", 1)
		if defaultIndex == "" {
			problems = append(problems, fmt.Sprintf("index is missing for doc %d", len(items)))
		}
		items = append(items, item{index: defaultIndex, id: id, filter: base})
	}
	if len(items) == 0 {
		problems = append(problems, "no documents to get")
	}
	if len(problems) > 0 {
		writeError(w, errValidation(problems...))
		return
	}
	for _, it := range items {
		s.refreshBeforeGet(r, it.index)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	docs := make([]any, 0, len(items))
	for _, it := range items {
		ix, notFound := s.singleIndex(it.index)
		if ix == nil {
			docs = append(docs, map[string]any{"_index": it.index, "_id": it.id, "error": notFound.response()["error"]})
			continue
		}
		d := getEntry(r, ix, it.id)
		if !d.live() {
			docs = append(docs, map[string]any{"_index": ix.name, "_id": it.id, "found": false})
			continue
		}
		out := map[string]any{"_index": ix.name, "_id": it.id, "_version": d.version, "_seq_no": d.seqNo,
			"_primary_term": 1, "found": true}
		if src, ok := it.filter.apply(d.source); ok {
			out["_source"] = json.RawMessage(src)
		}
		docs = append(docs, out)
	}
	writeJSON(w, http.StatusOK, map[string]any{"docs": docs})
}

// restRoutes registers the endpoints added for Elasticsearch's YAML REST tests: _mget, _cluster/health
// and the scroll API.
func (s *Server) restRoutes(m *http.ServeMux) {
	for _, method := range []string{"GET", "POST"} {
		m.HandleFunc(method+" /_mget", s.handleMget)
		m.HandleFunc(method+" /{index}/_mget", s.handleMget)
		m.HandleFunc(method+" /_search/scroll", s.handleScroll)
		m.HandleFunc(method+" /_search/scroll/{scroll_id}", s.handleScroll)
	}
	m.HandleFunc("DELETE /_search/scroll", s.handleClearScroll)
	m.HandleFunc("DELETE /_search/scroll/{scroll_id}", s.handleClearScroll)
	m.HandleFunc("GET /_cluster/health", s.handleClusterHealth)
	m.HandleFunc("GET /_cluster/health/{index}", s.handleClusterHealth)
}
