package esserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// refreshBeforeGet honours the get API's ?refresh=true: the index (or the alias's index) is refreshed
// before the document is read.
func (s *Server) refreshBeforeGet(r *http.Request, name string) {
	if v, ok := r.URL.Query()["refresh"]; !ok || (v[0] != "" && v[0] != "true") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix, _ := s.singleIndex(name); ix != nil {
		_ = ix.refresh(time.Now())
	}
}

// getEntry returns the document for a get: the realtime entry, or with ?realtime=false only what the
// last refresh made visible (as a search would see it). The caller holds s.mu.
func getEntry(r *http.Request, ix *index, id string) *docEntry {
	d := ix.docs[id]
	if r.URL.Query().Get("realtime") == "false" {
		sd := ix.searchable[id]
		if sd == nil {
			return nil
		}
		if d == nil || !d.live() || string(d.source) != string(sd.source) {
			// Refreshed state differs from realtime: show the refreshed source.
			cp := &docEntry{source: sd.source, parsed: sd.parsed}
			if d != nil {
				cp.version, cp.seqNo = d.version, d.seqNo
			}
			return cp
		}
	}
	return d
}

// checkGetVersion applies a get's ?version (with ?version_type internal, external or external_gte): the
// document's version must equal it, otherwise 409 version_conflict_engine_exception, as Elasticsearch's
// VersionType.isVersionConflictForReads (which compares for equality for every type).
func checkGetVersion(q url.Values, ix *index, id string, d *docEntry) *esError {
	if !q.Has("version") {
		return nil
	}
	want, err := strconv.ParseInt(q.Get("version"), 10, 64)
	if err != nil {
		return errIllegalArgument("Failed to parse long parameter [version] with value [%s]", q.Get("version"))
	}
	vt := q.Get("version_type")
	conflict := false
	switch vt {
	case "", "internal", "external", "external_gte":
		conflict = d.version != want // reads compare for equality whatever the version type
	default:
		return errIllegalArgument("No version type match [%s]", vt)
	}
	if conflict {
		return errVersionConflict(ix, id, "current version ["+strconv.FormatInt(d.version, 10)+
			"] is different than the one provided ["+strconv.FormatInt(want, 10)+"]")
	}
	return nil
}

// addUpdateGet adds the "get" object of an update response when the request asked for the source
// (?_source, ?_source_includes, ?_source_excludes, or the body's "_source"): the document as the update
// left it, filtered.
func (s *Server) addUpdateGet(r *http.Request, op *writeOp, body map[string]any) {
	if op.Action != "update" {
		return
	}
	s.addGet(op, updateSourceFilter(r, nil, op.Update), body)
}

// addBulkUpdateGet does the same for a bulk update item: its source line's "_source", else its action
// line's, else the request's parameters.
func (s *Server) addBulkUpdateGet(r *http.Request, op *writeOp, res writeResult, item map[string]any) {
	if op.Action != "update" || res.Err != nil {
		return
	}
	s.addGet(op, updateSourceFilter(r, op.sourceSpec, op.Update), item)
}

// updateSourceFilter picks an update's _source request; nil means no "get" in the response.
func updateSourceFilter(r *http.Request, actionLine json.RawMessage, u *updateRequest) *sourceFilter {
	spec := actionLine
	if u != nil && len(u.Source) > 0 {
		spec = u.Source
	}
	if len(spec) > 0 {
		f, e := parseSourceSpec(spec)
		if e != nil {
			return nil
		}
		if f == nil {
			return &sourceFilter{} // _source: true
		}
		return f
	}
	q := r.URL.Query()
	if !(q.Has("_source") || q.Has("_source_includes") || q.Has("_source_excludes")) {
		return nil
	}
	return sourceFilterFromQuery(q, &sourceFilter{})
}

func (s *Server) addGet(op *writeOp, f *sourceFilter, body map[string]any) {
	if f == nil || f.disabled {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix, _ := s.singleIndex(op.Index)
	if ix == nil {
		return
	}
	d := ix.docs[op.ID]
	if !d.live() {
		return
	}
	get := map[string]any{"_seq_no": d.seqNo, "_primary_term": 1, "found": true}
	if src, ok := f.apply(d.source); ok {
		get["_source"] = json.RawMessage(src)
	}
	body["get"] = get
}

// updateFields are the fields of an update request body (UpdateRequest's parser).
var updateFields = []string{"doc", "upsert", "doc_as_upsert", "detect_noop", "script", "scripted_upsert", "_source"}

// checkUpdateFields refuses an unknown field of an update body as Elasticsearch's ObjectParser does,
// suggesting a known field that is one or two edits away.
func checkUpdateFields(body []byte) *esError {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil // reported by the decoder
	}
	for k := range obj {
		known := false
		for _, f := range updateFields {
			known = known || f == k
		}
		if known {
			continue
		}
		reason := "[UpdateRequest] unknown field [" + k + "]"
		for _, f := range updateFields {
			if editDistance(k, f) <= 2 {
				reason += " did you mean [" + f + "]?"
				break
			}
		}
		return newError(http.StatusBadRequest, "x_content_parse_exception", "[1:2] "+reason)
	}
	return nil
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// storedFields answers a get's ?stored_fields: the values of the listed fields whose mapping has
// "store": true, as Elasticsearch returns them under "fields" (always arrays). Fields that are not
// stored are left out, as in Elasticsearch.
func storedFields(q url.Values, ix *index, d *docEntry) map[string]any {
	if !q.Has("stored_fields") || d.parsed == nil {
		return nil
	}
	out := map[string]any{}
	for _, name := range splitList(q.Get("stored_fields")) {
		fm := ix.mapping.lookupPath(name)
		if fm == nil || string(fm.Extra["store"]) != "true" {
			continue
		}
		var vals []any
		for _, v := range d.parsed.Values {
			if v.Path != name {
				continue
			}
			switch v.Family {
			case "integer":
				vals = append(vals, int64(v.Num))
			case "float":
				vals = append(vals, v.Num)
			case "boolean":
				vals = append(vals, v.Bool)
			case "date":
				vals = append(vals, v.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
			default:
				vals = append(vals, v.Str)
			}
		}
		if len(vals) > 0 {
			out[name] = vals
		}
	}
	return out
}

// getShowsSource reports whether a get returns _source: always, except when stored_fields are asked
// for without any _source parameter (Elasticsearch then returns only the stored fields).
func getShowsSource(q url.Values) bool {
	return !q.Has("stored_fields") || q.Has("_source") || q.Has("_source_includes") || q.Has("_source_excludes")
}
