package esserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// opFromQuery builds a write op from a single-document request's path and query parameters.
func opFromQuery(r *http.Request, action string) (*writeOp, *esError) {
	q := r.URL.Query()
	op := &writeOp{Action: action, Index: r.PathValue("index"), ID: r.PathValue("id"), VersionType: q.Get("version_type")}
	if action == "index" && q.Get("op_type") == "create" {
		op.Action = "create"
	}
	for _, p := range []struct {
		name string
		dst  *int64
		has  *bool
	}{{"version", &op.Version, &op.HasVersion}, {"if_seq_no", &op.IfSeqNo, &op.HasIfSeqNo},
		{"if_primary_term", &op.IfPrimaryTerm, &op.HasIfTerm}} {
		if !q.Has(p.name) {
			continue
		}
		v, err := strconv.ParseInt(q.Get(p.name), 10, 64)
		if err != nil {
			return nil, errIllegalArgument("Failed to parse long parameter [%s] with value [%s]", p.name, q.Get(p.name))
		}
		*p.dst, *p.has = v, true
	}
	return op, nil
}

// runSingle executes one document write and answers with its result.
func (s *Server) runSingle(w http.ResponseWriter, r *http.Request, op *writeOp) {
	refresh, e := refreshPolicy(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if problems := op.validate(); len(problems) > 0 {
		writeError(w, errValidation(problems...))
		return
	}
	results, err := s.execute(r.Context(), []*writeOp{op}, refresh)
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, "exception", err.Error()))
		return
	}
	res := results[0]
	if res.Err != nil {
		writeError(w, res.Err)
		return
	}
	body := res.body()
	if refresh == "true" && res.Result != "noop" {
		body["forced_refresh"] = true
	}
	s.addUpdateGet(r, op, body) // update's ?_source: the document after the update (getopts.go)
	writeJSON(w, res.Status, body)
}

func (s *Server) readSource(w http.ResponseWriter, r *http.Request, op *writeOp) bool {
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return false
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		writeError(w, errValidation("source is missing", "content type is missing"))
		return false
	}
	op.Source = body
	return true
}

// handleIndexDoc is the index API: PUT/POST /{index}/_doc/{id} and POST /{index}/_doc (generated id).
func (s *Server) handleIndexDoc(w http.ResponseWriter, r *http.Request) {
	op, e := opFromQuery(r, "index")
	if e != nil {
		writeError(w, e)
		return
	}
	if op.ID == "" {
		op.autoID = true
		if op.Action == "index" {
			op.Action = "create" // an auto-generated id is always a create
		}
	}
	if s.readSource(w, r, op) {
		s.runSingle(w, r, op)
	}
}

// handleCreateDoc is PUT/POST /{index}/_create/{id}: index only if the id does not exist.
func (s *Server) handleCreateDoc(w http.ResponseWriter, r *http.Request) {
	op, e := opFromQuery(r, "create")
	if e != nil {
		writeError(w, e)
		return
	}
	if s.readSource(w, r, op) {
		s.runSingle(w, r, op)
	}
}

func (s *Server) handleDeleteDoc(w http.ResponseWriter, r *http.Request) {
	op, e := opFromQuery(r, "delete")
	if e != nil {
		writeError(w, e)
		return
	}
	s.runSingle(w, r, op)
}

func (s *Server) handleUpdateDoc(w http.ResponseWriter, r *http.Request) {
	op, e := opFromQuery(r, "update")
	if e != nil {
		writeError(w, e)
		return
	}
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if e := checkUpdateFields(body); e != nil { // getopts.go: "did you mean"
		writeError(w, e)
		return
	}
	var u updateRequest
	if err := json.Unmarshal(body, &u); err != nil {
		writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", "[1:1] "+err.Error()))
		return
	}
	op.Update = &u
	s.runSingle(w, r, op)
}

// handleGetDoc is the realtime get API (GET, and HEAD for existence): it sees every acknowledged write,
// refreshed or not.
func (s *Server) handleGetDoc(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("index"), r.PathValue("id")
	s.refreshBeforeGet(r, name) // ?refresh=true (getopts.go)
	s.mu.RLock()
	ix, notFound := s.singleIndex(name) // an index or an alias of one (aliases.go)
	var d *docEntry
	if ix != nil {
		d = getEntry(r, ix, id) // realtime, or ?realtime=false (getopts.go)
		name = ix.name
	}
	s.mu.RUnlock()
	if ix == nil {
		if r.Method == http.MethodHead {
			w.WriteHeader(notFound.Status)
			return
		}
		writeError(w, notFound)
		return
	}
	if !d.live() {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"_index": name, "_id": id, "found": false})
		return
	}
	if e := checkGetVersion(r.URL.Query(), ix, id, d); e != nil { // ?version, ?version_type (getopts.go)
		if r.Method == http.MethodHead {
			w.WriteHeader(e.Status)
			return
		}
		writeError(w, e)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	out, _ := json.Marshal(map[string]any{"_index": name, "_id": id, "_version": d.version, "_seq_no": d.seqNo,
		"_primary_term": 1, "found": true})
	// Unfiltered, the source is returned byte for byte as it was indexed, as Elasticsearch does.
	if src, ok := sourceFilterFromQuery(r.URL.Query(), nil).apply(d.source); ok && getShowsSource(r.URL.Query()) {
		out = append(append(append(out[:len(out)-1], `,"_source":`...), src...), '}')
	}
	if fields := storedFields(r.URL.Query(), ix, d); len(fields) > 0 { // ?stored_fields (getopts.go)
		fj, _ := json.Marshal(fields)
		out = append(append(append(out[:len(out)-1], `,"fields":`...), fj...), '}')
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// handleGetSource is GET /{index}/_source/{id}: the bare source.
func (s *Server) handleGetSource(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("index"), r.PathValue("id")
	s.mu.RLock()
	ix, notFound := s.singleIndex(name) // an index or an alias of one (aliases.go)
	var d *docEntry
	if ix != nil {
		d = ix.docs[id]
		name = ix.name
	}
	s.mu.RUnlock()
	switch {
	case ix == nil:
		writeError(w, notFound)
	case !d.live():
		writeError(w, newError(http.StatusNotFound, "resource_not_found_exception",
			"Document not found ["+name+"]/["+id+"]"))
	default:
		src, _ := sourceFilterFromQuery(r.URL.Query(), nil).apply(d.source)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(src)
	}
}
