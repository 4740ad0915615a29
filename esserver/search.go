package esserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// maxResultWindow is index.max_result_window's default.
const maxResultWindow = 10000

type searchRequest struct {
	Query          json.RawMessage `json:"query"`
	From           *int            `json:"from"`
	Size           *int            `json:"size"`
	Sort           json.RawMessage `json:"sort"`
	TrackTotalHits json.RawMessage `json:"track_total_hits"`
	Source         json.RawMessage `json:"_source"`
	SearchAfter    []any           `json:"search_after"`
	Aggs           json.RawMessage `json:"aggs"`         // aggs.go
	Aggregations   json.RawMessage `json:"aggregations"` // aggs.go
}

// sortKey is one resolved sort criterion.
type sortKey struct {
	field  string // "_score", "_id" or a field path
	desc   bool
	family string // the field's type family
	typ    string // the field's mapping type (date_nanos sorts in nanoseconds)
	format string // the field's date format, for search_after values given as dates
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("scroll") {
		s.handleScrollStart(w, r) // scroll.go
		return
	}
	start := time.Now()
	req, body, e := readSearchRequest(r)
	if e != nil {
		writeError(w, e)
		return
	}
	from, size := 0, 10
	if req.From != nil {
		from = *req.From
	}
	if req.Size != nil {
		size = *req.Size
	}
	if from < 0 || size < 0 {
		writeError(w, errIllegalArgument("[from] parameter cannot be negative"))
		return
	}
	if from+size > maxResultWindow {
		writeError(w, errIllegalArgument("Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. "+
			"See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the "+
			"[index.max_result_window] index level setting.", maxResultWindow, from+size))
		return
	}
	trackLimit, e := parseTrackTotalHits(req.TrackTotalHits)
	if e != nil {
		writeError(w, e)
		return
	}
	if e := checkRestTotalHits(r, req.TrackTotalHits); e != nil { // sourcefilter.go
		writeError(w, e)
		return
	}
	srcFilter, e := searchSourceFilter(r, req.Source, body) // sourcefilter.go
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ixs, qc, q, e := s.compileFor(r, req, body)
	if e != nil {
		writeError(w, e)
		return
	}
	keys, e := parseSort(req.Sort, qc)
	if e != nil {
		writeError(w, e)
		return
	}
	aggs, e := parseAggs(qc, req.Aggs, req.Aggregations) // aggs.go
	if e != nil {
		writeError(w, e)
		return
	}
	after, e := searchAfter(req, keys, from)
	if e != nil {
		writeError(w, e)
		return
	}
	hitsOut := []any{}
	total := uint64(0)
	var maxScore any
	scored := len(keys) == 0
	for _, k := range keys {
		scored = scored || k.field == "_score"
	}
	if len(ixs) > 0 {
		res, err := bleveSearch(r.Context(), ixs, q, from, size, keys, after)
		if err != nil {
			writeError(w, newError(http.StatusBadRequest, "search_phase_execution_exception", err.Error()))
			return
		}
		total = res.Total
		byName := map[string]*index{}
		for _, ix := range ixs {
			byName[ix.name] = ix
		}
		for _, h := range res.Hits {
			ix := byName[h.Index]
			if ix == nil && len(ixs) == 1 {
				ix = ixs[0]
			}
			sd := ix.searchable[h.ID]
			if sd == nil {
				continue
			}
			hit := map[string]any{"_index": ix.name, "_id": h.ID, "_score": nil}
			if scored {
				hit["_score"] = h.Score
			}
			if src, ok := srcFilter.apply(sd.source); ok {
				hit["_source"] = src
			}
			if len(keys) > 0 {
				hit["sort"] = sortValues(keys, h, sd)
			}
			hitsOut = append(hitsOut, hit)
		}
		if scored && res.Total > 0 {
			maxScore = res.MaxScore
		}
	}
	hits := map[string]any{"max_score": maxScore, "hits": hitsOut}
	if restTotalHitsAsInt(r) {
		hits["total"] = restTotalHits(trackLimit, total) // rest_total_hits_as_int (sourcefilter.go)
	} else if trackLimit != 0 {
		rel, value := "eq", total
		if trackLimit > 0 && total > uint64(trackLimit) {
			rel, value = "gte", uint64(trackLimit)
		}
		hits["total"] = map[string]any{"value": value, "relation": rel}
	}
	resp := map[string]any{
		"took": time.Since(start).Milliseconds(), "timed_out": false,
		"_shards": map[string]int{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0},
		"hits":    hits,
	}
	if aggs != nil {
		if resp["aggregations"], e = aggregate(r.Context(), ixs, q, aggs); e != nil {
			writeError(w, e)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleCount(w http.ResponseWriter, r *http.Request) {
	req, body, e := readSearchRequest(r)
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ixs, _, q, e := s.compileFor(r, req, body)
	if e != nil {
		writeError(w, e)
		return
	}
	count := uint64(0)
	if len(ixs) > 0 {
		res, err := bleveSearch(r.Context(), ixs, q, 0, 0, nil, nil)
		if err != nil {
			writeError(w, newError(http.StatusBadRequest, "search_phase_execution_exception", err.Error()))
			return
		}
		count = res.Total
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": count,
		"_shards": map[string]int{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0}})
}

// readSearchRequest reads the body and the URL parameters that override it (from, size, sort,
// track_total_hits, q).
func readSearchRequest(r *http.Request) (*searchRequest, []byte, *esError) {
	body, e := readBody(r)
	if e != nil {
		return nil, nil, e
	}
	req := &searchRequest{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, req); err != nil {
			return nil, nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[1:1] "+err.Error())
		}
	}
	if e := validateSearchParams(r, body); e != nil { // sourcefilter.go
		return nil, nil, e
	}
	qs := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  **int
	}{{"from", &req.From}, {"size", &req.Size}} {
		if qs.Has(p.name) {
			n, err := strconv.Atoi(qs.Get(p.name))
			if err != nil {
				return nil, nil, errIllegalArgument("Failed to parse int parameter [%s] with value [%s]", p.name, qs.Get(p.name))
			}
			*p.dst = &n
		}
	}
	if qs.Has("track_total_hits") {
		req.TrackTotalHits = json.RawMessage(qs.Get("track_total_hits"))
	}
	if qs.Has("sort") {
		var parts []string
		for _, s := range strings.Split(qs.Get("sort"), ",") {
			f, o, _ := strings.Cut(s, ":")
			if o == "" {
				o = "asc"
			}
			parts = append(parts, fmt.Sprintf(`{%q:%q}`, f, o))
		}
		req.Sort = json.RawMessage("[" + strings.Join(parts, ",") + "]")
	}
	if q := qs.Get("q"); q != "" {
		// The simplest URI searches: "*" and "field:value".
		if f, v, ok := strings.Cut(q, ":"); ok {
			b, _ := json.Marshal(map[string]any{"match": map[string]string{f: v}})
			req.Query = b
		} else if q == "*" {
			req.Query = json.RawMessage(`{"match_all":{}}`)
		} else {
			return nil, nil, errIllegalArgument("esserver supports only q=* and q=field:value URI searches")
		}
	}
	return req, body, nil
}

// compileFor resolves the request's index expression and compiles its query against those indices'
// mappings. The caller holds s.mu.
func (s *Server) compileFor(r *http.Request, req *searchRequest, body []byte) ([]*index, *queryCompiler, query.Query, *esError) {
	ixs, e := s.resolve(r.PathValue("index"))
	if e != nil {
		return nil, nil, nil, e
	}
	qc := &queryCompiler{body: body}
	for _, ix := range ixs {
		qc.mappings = append(qc.mappings, ix.mapping)
	}
	q, e := compileTop(qc, req.Query)
	if e != nil {
		return nil, nil, nil, e
	}
	return ixs, qc, q, nil
}

func compileTop(qc *queryCompiler, raw json.RawMessage) (query.Query, *esError) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return query.NewMatchAllQuery(), nil
	}
	return qc.compile(raw)
}

// parseTrackTotalHits returns 0 for false, -1 for true (exact), or the counting limit (default 10,000).
func parseTrackTotalHits(raw json.RawMessage) (int, *esError) {
	s := strings.TrimSpace(string(raw))
	switch s {
	case "":
		return maxResultWindow, nil
	case "true":
		return -1, nil
	case "false":
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errIllegalArgument("[track_total_hits] parameter must be positive or equals to -1, got %s", s)
	}
	return n, nil
}

// parseSort reads the sort forms: "f", {"f":"desc"}, {"f":{"order":"desc"}}, or an array of them.
func parseSort(raw json.RawMessage, qc *queryCompiler) ([]sortKey, *esError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	var list []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errParsing("[sort] %v", err)
		}
	} else {
		list = []json.RawMessage{raw}
	}
	var keys []sortKey
	for _, item := range list {
		var name string
		order := ""
		if err := json.Unmarshal(item, &name); err != nil {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(item, &obj); err != nil || len(obj) != 1 {
				return nil, errParsing("[sort] malformed sort format")
			}
			for k, v := range obj {
				name = k
				if json.Unmarshal(v, &order) != nil {
					var o struct {
						Order string `json:"order"`
					}
					_ = json.Unmarshal(v, &o)
					order = o.Order
				}
			}
		}
		if order == "" {
			order = "asc"
			if name == "_score" {
				order = "desc"
			}
		}
		if order != "asc" && order != "desc" {
			return nil, errIllegalArgument("Unknown SortOrder [%s]", order)
		}
		if name == "_shard_doc" {
			return nil, errIllegalArgument("[_shard_doc] sort field cannot be used without [point in time]")
		}
		if name != "_score" && name != "_id" && name != "_doc" {
			fm := qc.field(name)
			if fm == nil {
				return nil, queryShardError(fmt.Sprintf("No mapping found for [%s] in order to sort on", name))
			}
			if fm.family() == "text" {
				return nil, errIllegalArgument("Text fields are not optimised for operations that require per-document field data "+
					"like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. "+
					"Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. "+
					"Note that this can use significant memory.", name)
			}
		}
		key := sortKey{field: name, desc: order == "desc"}
		if fm := qc.field(name); fm != nil {
			key.family, key.typ, key.format = fm.family(), fm.Type, fm.Format
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// searchAfter checks the request's search_after (pagination after the last hit's sort values, as
// Elasticsearch's) and returns its values as bleve takes them. Only _id and keyword sorts take it here.
func searchAfter(req *searchRequest, keys []sortKey, from int) ([]string, *esError) {
	if len(req.SearchAfter) == 0 {
		return nil, nil
	}
	if from != 0 {
		return nil, errIllegalArgument("[from] parameter must be set to 0 when [search_after] is used")
	}
	if len(req.SearchAfter) != len(keys) {
		return nil, errIllegalArgument("search_after has %d value(s) but sort has %d.", len(req.SearchAfter), len(keys))
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		v, e := searchAfterValue(k, req.SearchAfter[i]) // searchafter.go
		if e != nil {
			return nil, e
		}
		out[i] = v
	}
	return out, nil
}

func bleveSearch(ctx context.Context, ixs []*index, q query.Query, from, size int, keys []sortKey, after []string) (*bleve.SearchResult, error) {
	req := bleve.NewSearchRequestOptions(q, size, from, false)
	if after != nil {
		req.SearchAfter = after
	}
	if len(keys) > 0 {
		var order search.SortOrder
		for _, k := range keys {
			switch k.field {
			case "_score":
				order = append(order, &search.SortScore{Desc: k.desc})
			case "_id":
				order = append(order, &search.SortDocID{Desc: k.desc})
			case "_doc":
				order = append(order, &search.SortDocID{Desc: k.desc})
			default:
				sf := &search.SortField{Field: k.field, Desc: k.desc, Missing: search.SortFieldMissingLast, Mode: search.SortFieldMin}
				if k.desc {
					sf.Mode = search.SortFieldMax
				}
				for _, ix := range ixs {
					if fm := ix.mapping.lookupPath(k.field); fm != nil {
						switch fm.family() {
						case "integer", "float":
							sf.Type = search.SortFieldAsNumber
						case "date":
							sf.Type = search.SortFieldAsDate
						case "keyword":
							sf.Type = search.SortFieldAsString
						}
						break
					}
				}
				order = append(order, sf)
			}
		}
		req.SortByCustom(order)
	}
	if len(ixs) == 1 {
		return ixs[0].bleve.SearchInContext(ctx, req)
	}
	alias := bleve.NewIndexAlias()
	for _, ix := range ixs {
		alias.Add(ix.bleve)
	}
	return alias.SearchInContext(ctx, req)
}

// sortValues renders a hit's "sort" array from the document's own values.
func sortValues(keys []sortKey, h *search.DocumentMatch, sd *searchDoc) []any {
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		switch k.field {
		case "_score":
			out = append(out, h.Score)
			continue
		case "_id", "_doc":
			out = append(out, h.ID)
			continue
		}
		var best *indexedValue
		for i := range sd.parsed.Values {
			v := &sd.parsed.Values[i]
			if v.Path != k.field {
				continue
			}
			if best == nil || (lessValue(*v, *best) != k.desc) {
				best = v
			}
		}
		if best == nil {
			out = append(out, missingSortValue(k))
			continue
		}
		if k.typ == "date_nanos" {
			out = append(out, best.Time.UnixNano()) // Elasticsearch sorts date_nanos in nanoseconds
			continue
		}
		out = append(out, best.sortValue())
	}
	return out
}

func lessValue(a, b indexedValue) bool {
	switch a.Family {
	case "integer", "float":
		return a.Num < b.Num
	case "date":
		return a.Time.Before(b.Time)
	case "boolean":
		return !a.Bool && b.Bool
	}
	return a.Str < b.Str
}

// missingSortValue is what Elasticsearch shows for a document without the sort field (missing: _last):
// the extreme value of the field's numeric type, or null for strings.
func missingSortValue(k sortKey) any {
	switch k.family {
	case "keyword":
		return nil
	case "float":
		if k.desc {
			return -math.MaxFloat64
		}
		return math.MaxFloat64
	}
	if k.desc {
		return int64(math.MinInt64)
	}
	return int64(math.MaxInt64)
}
