package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scroll: POST /{index}/_search?scroll=1m starts a scroll, POST|GET /_search/scroll continues it and
// DELETE /_search/scroll clears it, as Elasticsearch's scroll API. A scroll is a point-in-time copy: the
// matching hits are rendered when it starts (sources as of the last refresh), so later writes do not
// change its pages. It holds at most max_result_window (10,000) hits in total; each call renews its
// keep-alive, and an expired or unknown scroll_id answers 404 search_context_missing_exception.

// scrollStore holds the open scroll contexts of a server. Its zero value is ready.
type scrollStore struct {
	mu   sync.Mutex
	ctxs map[string]*scrollContext
}

type scrollContext struct {
	hits     []json.RawMessage
	next     int
	size     int
	expires  time.Time
	total    json.RawMessage
	maxScore json.RawMessage
	shards   json.RawMessage
}

func (st *scrollStore) put(c *scrollContext) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ctxs == nil {
		st.ctxs = map[string]*scrollContext{}
	}
	st.pruneLocked(time.Now())
	id := newUUID()
	st.ctxs[id] = c
	return id
}

func (st *scrollStore) get(id string) *scrollContext {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pruneLocked(time.Now())
	return st.ctxs[id]
}

func (st *scrollStore) pruneLocked(now time.Time) {
	for id, c := range st.ctxs {
		if now.After(c.expires) {
			delete(st.ctxs, id)
		}
	}
}

// parseKeepAlive reads a time value such as 1m, 30s, 500ms, 2h, 1d.
func parseKeepAlive(v string) (time.Duration, *esError) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second},
		{"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			if f, err := strconv.ParseFloat(n, 64); err == nil && f >= 0 {
				return time.Duration(f * float64(u.d)), nil
			}
		}
	}
	return 0, newError(http.StatusBadRequest, "parse_exception",
		fmt.Sprintf("failed to parse setting [scroll] with value [%s] as a time value: unit is missing or unrecognized", v))
}

// captureWriter records a handler's response.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) WriteHeader(status int)      { c.status = status }
func (c *captureWriter) Write(b []byte) (int, error) { return c.body.Write(b) }

// handleScrollStart runs the search with every hit up to max_result_window, keeps them, and answers the
// first page with its _scroll_id.
func (s *Server) handleScrollStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	keep, e := parseKeepAlive(q.Get("scroll"))
	if e != nil {
		writeError(w, e)
		return
	}
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	size := 10
	var sized struct {
		Size *int `json:"size"`
		From *int `json:"from"`
	}
	_ = json.Unmarshal(body, &sized)
	if sized.Size != nil {
		size = *sized.Size
	}
	if q.Has("size") {
		n, err := strconv.Atoi(q.Get("size"))
		if err != nil {
			writeError(w, errIllegalArgument("Failed to parse int parameter [size] with value [%s]", q.Get("size")))
			return
		}
		size = n
	}
	var problems []string
	if q.Get("request_cache") == "true" {
		problems = append(problems, "[request_cache] cannot be used in a scroll context")
	}
	if (sized.From != nil && *sized.From > 0) || (q.Has("from") && q.Get("from") != "0") {
		problems = append(problems, "using [from] is not allowed in a scroll context")
	}
	if size == 0 {
		problems = append(problems, "[size] cannot be [0] in a scroll context")
	}
	if len(problems) > 0 {
		writeError(w, errValidation(problems...))
		return
	}
	q.Del("scroll")
	q.Set("from", "0")
	q.Set("size", strconv.Itoa(maxResultWindow))
	inner := r.Clone(r.Context())
	inner.URL.RawQuery = q.Encode()
	inner.Body = readCloser(body)
	cw := &captureWriter{header: http.Header{}, status: http.StatusOK}
	s.handleSearch(cw, inner)
	if cw.status != http.StatusOK {
		w.Header().Set("Content-Length", strconv.Itoa(cw.body.Len()))
		w.WriteHeader(cw.status)
		_, _ = w.Write(cw.body.Bytes())
		return
	}
	var resp map[string]json.RawMessage
	var hits struct {
		Total    json.RawMessage   `json:"total"`
		MaxScore json.RawMessage   `json:"max_score"`
		Hits     []json.RawMessage `json:"hits"`
	}
	if err := json.Unmarshal(cw.body.Bytes(), &resp); err != nil || json.Unmarshal(resp["hits"], &hits) != nil {
		writeError(w, newError(http.StatusInternalServerError, "exception", "scroll: unreadable search response"))
		return
	}
	c := &scrollContext{hits: hits.Hits, size: size, expires: time.Now().Add(keep), total: hits.Total,
		maxScore: hits.MaxScore, shards: resp["_shards"]}
	id := s.scrolls.put(c)
	s.writeScrollPage(w, id, c, resp["took"])
}

func (s *Server) writeScrollPage(w http.ResponseWriter, id string, c *scrollContext, took json.RawMessage) {
	end := min(c.next+c.size, len(c.hits))
	page := c.hits[c.next:end]
	c.next = end
	if page == nil {
		page = []json.RawMessage{}
	}
	if took == nil {
		took = json.RawMessage("0")
	}
	hits := map[string]any{"max_score": c.maxScore, "hits": page}
	if c.total != nil {
		hits["total"] = c.total
	}
	writeJSON(w, http.StatusOK, map[string]any{"_scroll_id": id, "took": took, "timed_out": false,
		"_shards": c.shards, "hits": hits})
}

// scrollRequest reads scroll_id from the body ({"scroll_id": "x"} or ["x","y"]), the path or the URL.
func scrollRequest(r *http.Request) (ids []string, keep string, e *esError) {
	body, e := readBody(r)
	if e != nil {
		return nil, "", e
	}
	var req struct {
		ScrollID json.RawMessage `json:"scroll_id"`
		Scroll   string          `json:"scroll"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, "", newError(http.StatusBadRequest, "x_content_parse_exception", "[1:1] "+err.Error())
		}
	}
	// Body parameters override the path and the query string, as in Elasticsearch.
	if v := r.URL.Query().Get("scroll_id"); v != "" {
		ids = splitList(v)
	}
	if v := r.PathValue("scroll_id"); v != "" {
		ids = splitList(v)
	}
	var one string
	var many []string
	switch {
	case json.Unmarshal(req.ScrollID, &one) == nil:
		ids = splitList(one)
	case json.Unmarshal(req.ScrollID, &many) == nil:
		ids = many
	}
	keep = r.URL.Query().Get("scroll")
	if req.Scroll != "" {
		keep = req.Scroll
	}
	return ids, keep, nil
}

func errScrollMissing(id string) *esError {
	return newError(http.StatusNotFound, "search_phase_execution_exception", "all shards failed").
		with("phase", "query").with("grouped", true).
		withCause(newError(http.StatusNotFound, "search_context_missing_exception",
			fmt.Sprintf("No search context found for id [%s]", id)))
}

// handleScroll continues a scroll: the next page of its hits, and a renewed keep-alive.
func (s *Server) handleScroll(w http.ResponseWriter, r *http.Request) {
	ids, keep, e := scrollRequest(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if len(ids) != 1 {
		writeError(w, errValidation("scrollId is missing"))
		return
	}
	c := s.scrolls.get(ids[0])
	if c == nil {
		writeError(w, errScrollMissing(ids[0]))
		return
	}
	if keep != "" {
		d, e := parseKeepAlive(keep)
		if e != nil {
			writeError(w, e)
			return
		}
		s.scrolls.mu.Lock()
		c.expires = time.Now().Add(d)
		s.scrolls.mu.Unlock()
	}
	s.scrolls.mu.Lock()
	defer s.scrolls.mu.Unlock()
	s.writeScrollPage(w, ids[0], c, nil)
}

// handleClearScroll frees scroll contexts: the given ids, or every one with "_all". Like Elasticsearch it
// answers 404 when none of the given ids was open.
func (s *Server) handleClearScroll(w http.ResponseWriter, r *http.Request) {
	ids, _, e := scrollRequest(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if len(ids) == 0 {
		writeError(w, errValidation("no scroll ids specified"))
		return
	}
	st := &s.scrolls
	st.mu.Lock()
	freed := 0
	for _, id := range ids {
		if id == "_all" {
			freed += len(st.ctxs)
			clear(st.ctxs)
			continue
		}
		if _, ok := st.ctxs[id]; ok {
			delete(st.ctxs, id)
			freed++
		}
	}
	st.mu.Unlock()
	status := http.StatusOK
	if freed == 0 {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]any{"succeeded": true, "num_freed": freed})
}

func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
