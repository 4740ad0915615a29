package esserver

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// Version is the Elasticsearch version esserver reports in GET /.
const Version = "8.19.0"

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         "esserver",
		"cluster_name": "esserver",
		"cluster_uuid": s.clusterID,
		"version": map[string]any{
			"number":                              Version,
			"build_flavor":                        "default",
			"build_type":                          "tar",
			"build_hash":                          "esserver",
			"build_date":                          "2025-07-24T00:00:00.000000000Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.12.2",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

func (s *Server) handleCreateIndex(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var req struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", err.Error()))
			return
		}
	}
	if e := validateCreateIndexBody(body); e != nil { // indexsettings.go
		writeError(w, e)
		return
	}
	m, e := parseMappings(req.Mappings)
	if e != nil {
		writeError(w, e)
		return
	}
	var logBuf []byte
	s.mu.Lock()
	_, e = s.createIndex(name, m, time.Now(), &logBuf)
	if e == nil {
		if e = s.createIndexAliases(name, body, &logBuf); e != nil { // indexsettings.go
			s.dropCreatedIndex(name)
			logBuf = nil
		}
	}
	durable := s.commit(logBuf)
	s.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	if err := durable(); err != nil {
		writeError(w, newError(http.StatusInternalServerError, "exception", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name})
}

// handleGetIndex answers GET (index definition) and HEAD (existence) of /{index}.
func (s *Server) handleGetIndex(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ixs, e := s.resolve(r.PathValue("index"))
	if e != nil {
		if r.Method == http.MethodHead {
			w.WriteHeader(e.Status)
			return
		}
		writeError(w, e)
		return
	}
	if r.Method == http.MethodHead {
		if len(ixs) == 0 {
			w.WriteHeader(http.StatusNotFound) // exists needs at least one index
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{
			"aliases":  s.indexAliases(ix.name),
			"mappings": ix.mapping,
			"settings": map[string]any{"index": map[string]any{
				"creation_date":      fmt.Sprint(ix.created.UnixMilli()),
				"number_of_shards":   "1",
				"number_of_replicas": "0",
				"uuid":               ix.uuid,
				"version":            map[string]any{"created": "8536000"},
				"provided_name":      ix.name,
			}},
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeleteIndex(w http.ResponseWriter, r *http.Request) {
	var logBuf []byte
	s.mu.Lock()
	var names []string
	for _, name := range strings.Split(r.PathValue("index"), ",") {
		if strings.ContainsAny(name, "*?") || name == "_all" {
			s.mu.Unlock()
			writeError(w, errIllegalArgument("Wildcard expressions or all indices are not allowed"))
			return
		}
		if s.indices[name] == nil {
			s.mu.Unlock()
			writeError(w, errIndexNotFound(name))
			return
		}
		names = append(names, name)
	}
	for _, name := range names {
		close(s.indices[name].refreshed) // release refresh=wait_for writers of the deleted index
		s.indices[name].closeSearch()
		delete(s.indices, name)
		logBuf = appendRecord(logBuf, &logRecord{Op: "delete_index", Index: name})
	}
	if len(s.aliases) > 0 { // aliases.go: an index leaves its aliases
		for _, name := range names {
			s.dropIndexAliases(name)
		}
		s.logAliases(&logBuf)
	}
	durable := s.commit(logBuf)
	s.mu.Unlock()
	if err := durable(); err != nil {
		writeError(w, newError(http.StatusInternalServerError, "exception", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) handleGetMapping(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ixs, e := s.resolveWithOptions(r, r.PathValue("index")) // ignore_unavailable, allow_no_indices
	if e != nil {
		writeError(w, e)
		return
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"mappings": ix.mapping}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, e := s.resolve(r.PathValue("index"))
	if e != nil {
		writeError(w, e)
		return
	}
	now := time.Now()
	for _, ix := range ixs {
		if err := ix.refresh(now); err != nil {
			writeError(w, newError(http.StatusInternalServerError, "refresh_failed_engine_exception", err.Error()))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"_shards": shardsHeader(len(ixs))})
}

func shardsHeader(n int) map[string]int {
	return map[string]int{"total": n, "successful": n, "failed": 0}
}

// resolve expands an index expression: "" / "_all" / "*" for all indices, comma-separated names and
// wildcard patterns. A concrete name that does not exist is index_not_found_exception (a pattern
// matching nothing is not, as with Elasticsearch's allow_no_indices default). Callers hold s.mu.
func (s *Server) resolve(expr string) ([]*index, *esError) {
	if expr == "" || expr == "_all" {
		expr = "*"
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(expr, ",") {
		if strings.ContainsAny(part, "*?") {
			for name := range s.indices {
				if ok, _ := path.Match(part, name); ok && !strings.HasPrefix(name, ".") {
					seen[name] = true
				}
			}
			continue
		}
		if s.indices[part] == nil {
			ixs := s.aliasIndices(part) // aliases.go: an alias reads every index it points to
			if len(ixs) == 0 {
				return nil, errIndexNotFound(part)
			}
			for _, ix := range ixs {
				seen[ix.name] = true
			}
			continue
		}
		seen[part] = true
	}
	var out []*index
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, s.indices[name])
	}
	return out, nil
}

// handlePutMapping adds fields to the mapping of one or more indices (PUT /{index}/_mapping with
// {"properties": {...}}): new fields are added, existing ones must keep their type (see merge).
func (s *Server) handlePutMapping(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	update, e := parseMappings(body)
	if e != nil {
		writeError(w, e)
		return
	}
	var logBuf []byte
	s.mu.Lock()
	ixs, e := s.resolve(r.PathValue("index"))
	if e == nil {
		merged := make([]*fieldMapping, len(ixs))
		for i, ix := range ixs {
			merged[i] = ix.mapping.clone()
			if e = merged[i].merge("", update); e != nil {
				break
			}
		}
		if e == nil {
			for i, ix := range ixs {
				ix.mapping = merged[i]
				mj, _ := json.Marshal(ix.mapping)
				logBuf = appendRecord(logBuf, &logRecord{Op: "mapping", Index: ix.name, Mapping: mj})
			}
		}
	}
	durable := s.commit(logBuf)
	s.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	if err := durable(); err != nil {
		writeError(w, newError(http.StatusInternalServerError, "exception", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}
