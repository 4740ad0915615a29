package esserver

import (
	"fmt"
	"net/http"
	"strings"
)

// catIndexColumns are the default columns of GET /_cat/indices in Elasticsearch 8.
var catIndexColumns = []string{"health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted",
	"store.size", "pri.store.size", "dataset.size"}

// handleCatIndices is GET /_cat/indices[/{index}]: aligned text (with ?v for a header, ?h= to pick
// columns) or, with ?format=json, an array of objects whose values are all strings.
func (s *Server) handleCatIndices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.RLock()
	ixs, e := s.resolve(r.PathValue("index"))
	var rows []map[string]string
	for _, ix := range ixs {
		size := humanBytes(ix.storeSize())
		rows = append(rows, map[string]string{
			"health": "green", "status": "open", "index": ix.name, "uuid": ix.uuid, "pri": "1", "rep": "0",
			"docs.count": fmt.Sprint(ix.liveCount()), "docs.deleted": "0",
			"store.size": size, "pri.store.size": size, "dataset.size": size,
		})
	}
	s.mu.RUnlock()
	if e != nil {
		writeError(w, e)
		return
	}
	cols := catIndexColumns
	if h := q.Get("h"); h != "" {
		cols = strings.Split(h, ",")
	}
	if q.Get("format") == "json" {
		out := make([]map[string]string, 0, len(rows))
		for _, row := range rows {
			o := map[string]string{}
			for _, c := range cols {
				o[c] = row[c]
			}
			out = append(out, o)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	table := [][]string{}
	if q.Has("v") {
		table = append(table, cols)
	}
	for _, row := range rows {
		line := make([]string, len(cols))
		for i, c := range cols {
			line[i] = row[c]
		}
		table = append(table, line)
	}
	widths := make([]int, len(cols))
	for _, line := range table {
		for i, v := range line {
			widths[i] = max(widths[i], len(v))
		}
	}
	var b strings.Builder
	for _, line := range table {
		for i, v := range line {
			if i > 0 {
				b.WriteByte(' ')
			}
			if i == len(line)-1 {
				b.WriteString(v)
			} else {
				b.WriteString(v + strings.Repeat(" ", widths[i]-len(v)))
			}
		}
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}

// humanBytes formats a size like Elasticsearch's ByteSizeValue ("225b", "5.1kb", "1.2mb").
func humanBytes(n int) string {
	units := []string{"b", "kb", "mb", "gb", "tb"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%db", n)
	}
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0") + units[i]
}
