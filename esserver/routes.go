package esserver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// routes registers the supported REST endpoints. Anything else gets Elasticsearch's answers for an
// unknown endpoint or a wrong method.
func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.handleInfo)

	m.HandleFunc("PUT /{index}", s.handleCreateIndex)
	m.HandleFunc("GET /{index}", s.handleGetIndex)
	m.HandleFunc("DELETE /{index}", s.handleDeleteIndex)
	m.HandleFunc("GET /{index}/_mapping", s.handleGetMapping)
	m.HandleFunc("GET /_mapping", s.handleGetMapping)
	m.HandleFunc("PUT /{index}/_mapping", s.handlePutMapping)
	m.HandleFunc("POST /{index}/_mapping", s.handlePutMapping)

	m.HandleFunc("PUT /{index}/_doc/{id}", s.handleIndexDoc)
	m.HandleFunc("POST /{index}/_doc/{id}", s.handleIndexDoc)
	m.HandleFunc("POST /{index}/_doc", s.handleIndexDoc)
	m.HandleFunc("PUT /{index}/_create/{id}", s.handleCreateDoc)
	m.HandleFunc("POST /{index}/_create/{id}", s.handleCreateDoc)
	m.HandleFunc("GET /{index}/_doc/{id}", s.handleGetDoc)
	m.HandleFunc("GET /{index}/_source/{id}", s.handleGetSource)
	m.HandleFunc("DELETE /{index}/_doc/{id}", s.handleDeleteDoc)
	m.HandleFunc("POST /{index}/_update/{id}", s.handleUpdateDoc)

	for _, method := range []string{"POST", "PUT"} {
		m.HandleFunc(method+" /_bulk", s.handleBulk)
		m.HandleFunc(method+" /{index}/_bulk", s.handleBulk)
	}
	for _, method := range []string{"GET", "POST"} {
		m.HandleFunc(method+" /_search", s.handleSearch)
		m.HandleFunc(method+" /{index}/_search", s.handleSearch)
		m.HandleFunc(method+" /_count", s.handleCount)
		m.HandleFunc(method+" /{index}/_count", s.handleCount)
		m.HandleFunc(method+" /_refresh", s.handleRefresh)
		m.HandleFunc(method+" /{index}/_refresh", s.handleRefresh)
	}
	m.HandleFunc("GET /_cat/indices", s.handleCatIndices)
	m.HandleFunc("GET /_cat/indices/{index}", s.handleCatIndices)
	s.aliasRoutes(m) // aliases.go
	s.restRoutes(m)  // mget.go: _mget, _cluster/health, scroll
	m.HandleFunc("/", s.aliasByName(s.handleUnknown(m)))
	return m
}

// handleUnknown answers like Elasticsearch's RestController: 405 listing the allowed methods when the
// path exists, 400 "no handler found" otherwise.
func (s *Server) handleUnknown(m *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, method := range []string{"GET", "PUT", "POST", "DELETE", "HEAD"} {
			probe := r.Clone(r.Context())
			probe.Method = method
			if _, pattern := m.Handler(probe); pattern != "/" && pattern != "" {
				allowed = append(allowed, method)
			}
		}
		if len(allowed) > 0 && !slices.Contains(allowed, r.Method) {
			w.Header().Set("Allow", strings.Join(allowed, ","))
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{
				"error": fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]",
					r.URL.RequestURI(), r.Method, strings.Join(allowed, ", ")),
				"status": http.StatusMethodNotAllowed,
			})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":  fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.RequestURI(), r.Method),
			"status": http.StatusBadRequest,
		})
	}
}
