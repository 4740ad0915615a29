package esserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// sourceFilter is Elasticsearch's _source filtering (FetchSourceContext): the source can be left out
// entirely, or cut down to the fields matching includes and not matching excludes. Patterns are full
// dotted paths with * wildcards; including an object includes everything under it, and an include of a
// path inside an object keeps only that part of the object (XContentMapValues.filter).
type sourceFilter struct {
	disabled           bool
	includes, excludes []string
}

// apply returns the filtered source and whether a _source is shown at all. Without includes or excludes
// the stored bytes are returned unchanged.
func (f *sourceFilter) apply(src json.RawMessage) (json.RawMessage, bool) {
	if f == nil {
		return src, true
	}
	if f.disabled {
		return nil, false
	}
	if len(f.includes) == 0 && len(f.excludes) == 0 {
		return src, true
	}
	v, err := decodeOrdered(src)
	if err != nil {
		return src, true
	}
	o, ok := v.(*orderedObject)
	if !ok {
		return src, true
	}
	out, _ := json.Marshal(f.filterObject(o, "", false))
	return out, true
}

func (f *sourceFilter) filterObject(o *orderedObject, prefix string, included bool) *orderedObject {
	out := &orderedObject{vals: map[string]any{}}
	for _, k := range o.keys {
		p := prefix + k
		if matchesAny(f.excludes, p) {
			continue
		}
		full := included || len(f.includes) == 0 || matchesAny(f.includes, p)
		v := f.filterValue(o.vals[k], p, full)
		if v == nil {
			continue
		}
		out.keys = append(out.keys, k)
		out.vals[k] = v
	}
	return out
}

// filterValue filters one value at path p; nil drops it. full means an include already covers p.
func (f *sourceFilter) filterValue(v any, p string, full bool) any {
	switch t := v.(type) {
	case *orderedObject:
		if !full && !f.mayIncludeUnder(p) {
			return nil
		}
		sub := f.filterObject(t, p+".", full)
		if !full && len(sub.keys) == 0 {
			return nil
		}
		return sub
	case json.RawMessage:
		if b := bytes.TrimSpace(t); len(b) > 0 && b[0] == '[' {
			var items []json.RawMessage
			if json.Unmarshal(b, &items) == nil {
				var kept []any
				for _, it := range items {
					iv, err := decodeOrdered(it)
					if err != nil {
						continue
					}
					if fv := f.filterValue(iv, p, full); fv != nil {
						kept = append(kept, fv)
					}
				}
				if !full && len(kept) == 0 {
					return nil
				}
				if kept == nil {
					kept = []any{}
				}
				return kept
			}
		}
		if !full {
			return nil
		}
		return t
	}
	if !full {
		return nil
	}
	return v
}

// mayIncludeUnder reports whether some include pattern can match a path below p.
func (f *sourceFilter) mayIncludeUnder(p string) bool {
	for _, inc := range f.includes {
		if strings.HasPrefix(inc, p+".") || strings.Contains(inc, "*") {
			return true
		}
	}
	return false
}

func matchesAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if globMatch(pat, p) {
			return true
		}
	}
	return false
}

// globMatch matches a simple * wildcard pattern (Regex.simpleMatch): * matches any run of characters.
func globMatch(pat, s string) bool {
	if !strings.Contains(pat, "*") {
		return pat == s
	}
	parts := strings.Split(pat, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// parseSourceSpec reads a _source value of a request body: true, false, "field", ["a","b"], or
// {"includes"/"include": ..., "excludes"/"exclude": ...}. A nil filter means "the whole source".
func parseSourceSpec(raw json.RawMessage) (*sourceFilter, *esError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "true" {
		return nil, nil
	}
	if string(raw) == "false" {
		return &sourceFilter{disabled: true}, nil
	}
	list := func(v json.RawMessage) ([]string, bool) {
		var one string
		if json.Unmarshal(v, &one) == nil {
			return []string{one}, true
		}
		var many []string
		if json.Unmarshal(v, &many) == nil {
			return many, true
		}
		return nil, false
	}
	if l, ok := list(raw); ok {
		return &sourceFilter{includes: l}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, errParsing("[_source] Expected one of [VALUE_BOOLEAN, VALUE_STRING, START_ARRAY, START_OBJECT] but found [%s]", tokenName(raw))
	}
	f := &sourceFilter{}
	for k, v := range obj {
		l, ok := list(v)
		if !ok {
			return nil, errParsing("Unknown key for a %s in [%s].", tokenName(v), k)
		}
		switch k {
		case "includes", "include":
			f.includes = l
		case "excludes", "exclude":
			f.excludes = l
		default:
			return nil, errParsing("Unknown key for a %s in [%s].", tokenName(v), k)
		}
	}
	return f, nil
}

// sourceFilterFromQuery applies the URL parameters _source (true, false or a field list),
// _source_includes and _source_excludes on top of base, as RestActions/FetchSourceContext.parseFromRestRequest.
func sourceFilterFromQuery(q url.Values, base *sourceFilter) *sourceFilter {
	f := base
	if q.Has("_source") {
		switch v := q.Get("_source"); v {
		case "true", "":
			f = &sourceFilter{}
		case "false":
			f = &sourceFilter{disabled: true}
		default:
			f = &sourceFilter{includes: splitList(v)}
		}
	}
	if q.Has("_source_includes") || q.Has("_source_excludes") {
		nf := &sourceFilter{}
		if f != nil && !f.disabled {
			*nf = *f
		}
		if q.Has("_source_includes") {
			nf.includes = splitList(q.Get("_source_includes"))
		}
		if q.Has("_source_excludes") {
			nf.excludes = splitList(q.Get("_source_excludes"))
		}
		f = nf
	}
	return f
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// searchSourceFilter is the _source filter of a search: the body's _source, overridden by URL parameters.
// A body asking for stored_fields without "_source" among them and without a _source of its own gets no
// _source, as in Elasticsearch.
func searchSourceFilter(r *http.Request, bodySource json.RawMessage, body []byte) (*sourceFilter, *esError) {
	f, e := parseSourceSpec(bodySource)
	if e != nil {
		return nil, e
	}
	var sf struct {
		StoredFields json.RawMessage `json:"stored_fields"`
	}
	if len(bodySource) == 0 && json.Unmarshal(body, &sf) == nil && len(sf.StoredFields) > 0 {
		var names []string
		if json.Unmarshal(sf.StoredFields, &names) != nil {
			var one string
			_ = json.Unmarshal(sf.StoredFields, &one)
			names = []string{one}
		}
		hasSource := false
		for _, n := range names {
			hasSource = hasSource || n == "_source"
		}
		if !hasSource {
			f = &sourceFilter{disabled: true}
		}
	}
	return sourceFilterFromQuery(r.URL.Query(), f), nil
}

// checkRestTotalHits refuses rest_total_hits_as_int with a track_total_hits limit, as Elasticsearch does:
// the 6.x number shape cannot say "at least".
func checkRestTotalHits(r *http.Request, trackTotalHits json.RawMessage) *esError {
	if !restTotalHitsAsInt(r) {
		return nil
	}
	switch v := strings.TrimSpace(string(trackTotalHits)); v {
	case "", "true", "false", "-1":
		return nil
	default:
		return errIllegalArgument("[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got %s", v)
	}
}

// restTotalHits is hits.total under rest_total_hits_as_int: the exact count, or -1 when
// track_total_hits is false.
func restTotalHits(trackLimit int, total uint64) any {
	if trackLimit == 0 {
		return -1
	}
	return total
}

// restTotalHitsAsInt reports ?rest_total_hits_as_int=true: hits.total is then the exact count as a
// number, the 6.x response shape.
func restTotalHitsAsInt(r *http.Request) bool {
	v, ok := r.URL.Query()["rest_total_hits_as_int"]
	return ok && (v[0] == "" || v[0] == "true")
}

// searchBodyKeys are the top-level keys of a search body Elasticsearch's SearchSourceBuilder knows;
// esserver accepts (and may ignore) them all and refuses any other, as Elasticsearch does.
var searchBodyKeys = map[string]bool{
	"query": true, "from": true, "size": true, "sort": true, "track_total_hits": true, "_source": true,
	"search_after": true, "aggs": true, "aggregations": true, "stored_fields": true, "docvalue_fields": true,
	"fields": true, "highlight": true, "timeout": true, "terminate_after": true, "min_score": true,
	"track_scores": true, "version": true, "seq_no_primary_term": true, "explain": true, "post_filter": true,
	"collapse": true, "pit": true, "runtime_mappings": true, "suggest": true, "indices_boost": true,
	"rescore": true, "script_fields": true, "stats": true, "profile": true, "knn": true, "slice": true,
	"ext": true, "retriever": true, "rank": true,
}

// validateSearchParams applies the request checks Elasticsearch makes before searching or counting:
// unknown top-level body keys (a query written without "query"), and a negative terminate_after.
func validateSearchParams(r *http.Request, body []byte) *esError {
	if v := r.URL.Query().Get("terminate_after"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return errIllegalArgument("terminateAfter must be > 0")
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil // reported by the decoder
	}
	isCount := strings.HasSuffix(r.URL.Path, "/_count")
	for k, v := range obj {
		if isCount && k != "query" {
			return errParsing("request does not support [%s]", k)
		}
		if !searchBodyKeys[k] {
			return errParsing("Unknown key for a %s in [%s].", tokenName(v), k)
		}
	}
	return nil
}
