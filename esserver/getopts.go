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
// (?_source, ?_source_includes, ?_source_excludes): the document as the update left it, filtered.
func (s *Server) addUpdateGet(r *http.Request, op *writeOp, body map[string]any) {
	q := r.URL.Query()
	if op.Action != "update" || !(q.Has("_source") || q.Has("_source_includes") || q.Has("_source_excludes")) {
		return
	}
	if q.Get("_source") == "false" {
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
	if src, ok := sourceFilterFromQuery(q, nil).apply(d.source); ok {
		get["_source"] = json.RawMessage(src)
	}
	body["get"] = get
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
