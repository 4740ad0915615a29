package esserver

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
)

// Aliases, as Elasticsearch's index aliases (no filters, no routing):
//
//	POST   /_aliases                        {"actions":[{"add":{...}},{"remove":{...}},{"remove_index":{...}}]}
//	PUT    /{index}/_alias/{name}           also POST, and _aliases; body {"is_write_index":bool} optional
//	DELETE /{index}/_alias/{name}           also _aliases; comma lists and wildcards in both parts
//	GET    /_alias, /_alias/{name}, /{index}/_alias[/{name}]
//	HEAD   /_alias/{name}, /{index}/_alias/{name}
//
// The actions of one POST /_aliases are validated together and applied under the server's write lock, in
// one translog record: a reader sees the aliases before all of them or after all of them, never half.
// Reads (search, count, get, _source, mapping, refresh) through an alias see every index it points to;
// writes through an alias go to its write index: the index marked is_write_index, else its only index. An
// alias of several indices without one fails the write with Elasticsearch's illegal_argument_exception.
// A single-document read (get) through an alias of several indices fails the same way.

// aliasProps is one alias on one index.
type aliasProps struct {
	IsWriteIndex *bool `json:"is_write_index,omitempty"`
}

// aliasTable maps alias -> index -> properties. The zero value is empty; Server.mu guards it.
type aliasTable map[string]map[string]aliasProps

// aliasesOf returns the aliases of the server, creating the table on first use. Callers hold s.mu.
func (s *Server) aliasesOf() aliasTable {
	if s.aliases == nil {
		s.aliases = aliasTable{}
	}
	return s.aliases
}

// aliasIndices returns the indices an alias points to, sorted by name; nil when name is no alias.
// Callers hold s.mu.
func (s *Server) aliasIndices(name string) []*index {
	members := s.aliases[name]
	if len(members) == 0 {
		return nil
	}
	out := make([]*index, 0, len(members))
	for _, n := range slices.Sorted(maps.Keys(members)) {
		if ix := s.indices[n]; ix != nil {
			out = append(out, ix)
		}
	}
	return out
}

// writeIndexOf returns the index a write through alias goes to, or Elasticsearch's error when it has none.
func (s *Server) writeIndexOf(alias string) (*index, *esError) {
	members := s.aliases[alias]
	var only string
	for n, p := range members {
		if p.IsWriteIndex != nil && *p.IsWriteIndex {
			return s.indices[n], nil
		}
		only = n
	}
	if len(members) == 1 {
		if p := members[only]; p.IsWriteIndex == nil {
			return s.indices[only], nil
		}
	}
	return nil, errIllegalArgument("no write index is defined for alias [%s]. The write index may be explicitly "+
		"disabled using is_write_index=false or the alias points to multiple indices without one being designated "+
		"as a write index", alias)
}

// writeTarget resolves the index a write op names: the index itself, the write index of an alias, or nil
// (with no error) when neither exists, so that the caller auto-creates it. Callers hold s.mu.
func (s *Server) writeTarget(name string) (*index, *esError) {
	if ix := s.indices[name]; ix != nil {
		return ix, nil
	}
	if _, ok := s.aliases[name]; ok {
		return s.writeIndexOf(name)
	}
	return nil, nil
}

// singleIndex resolves a name for a single-document read (get, _source): an index, or an alias of exactly
// one index. It returns nil and index_not_found_exception when neither exists. Callers hold s.mu.
func (s *Server) singleIndex(name string) (*index, *esError) {
	if ix := s.indices[name]; ix != nil {
		return ix, nil
	}
	ixs := s.aliasIndices(name)
	switch len(ixs) {
	case 0:
		return nil, errIndexNotFound(name)
	case 1:
		return ixs[0], nil
	}
	names := make([]string, len(ixs))
	for i, ix := range ixs {
		names[i] = ix.name
	}
	return nil, errIllegalArgument("alias [%s] has more than one index associated with it [%s], can't execute a single index op",
		name, strings.Join(names, ", "))
}

// dropIndexAliases removes a deleted index from every alias (an alias without indices ceases to exist).
// Callers hold s.mu for writing.
func (s *Server) dropIndexAliases(name string) {
	for a, members := range s.aliases {
		delete(members, name)
		if len(members) == 0 {
			delete(s.aliases, a)
		}
	}
}

// indexAliases returns the aliases of one index as GET /{index} and GET /_alias show them.
func (s *Server) indexAliases(name string) map[string]any {
	out := map[string]any{}
	for a, members := range s.aliases {
		if p, ok := members[name]; ok {
			v := map[string]any{}
			if p.IsWriteIndex != nil {
				v["is_write_index"] = *p.IsWriteIndex
			}
			out[a] = v
		}
	}
	return out
}

// aliasAction is one parsed action of POST /_aliases.
type aliasAction struct {
	kind         string // add, remove, remove_index
	indices      []string
	indexExprs   []string // indices as the request wrote them, for action_results
	aliases      []string
	isWriteIndex *bool
	mustExist    *bool
}

// aliasActionBody is the JSON of one action. Each of index, indices, alias and aliases takes a string or
// a list of strings, as Elasticsearch's parser does.
type aliasActionBody struct {
	Index        stringList `json:"index"`
	Indices      stringList `json:"indices"`
	Alias        stringList `json:"alias"`
	Aliases      stringList `json:"aliases"`
	IsWriteIndex *bool      `json:"is_write_index"`
	MustExist    *bool      `json:"must_exist"`
}

// stringList is a JSON string or array of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*l = many
	return nil
}

// aliasResult is the outcome of one action of POST /_aliases, for action_results.
type aliasResult struct {
	act    aliasAction
	status int
	err    *esError
}

func (r aliasResult) body() map[string]any {
	indices := r.act.indexExprs
	if indices == nil {
		indices = r.act.indices
	}
	out := map[string]any{"action": map[string]any{"type": r.act.kind, "indices": indices, "aliases": r.act.aliases},
		"status": r.status}
	if r.err != nil {
		out["error"] = r.err.body()
	}
	return out
}

func parseAliasActions(body []byte) ([]aliasAction, *esError) {
	var req struct {
		Actions []map[string]json.RawMessage `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[1:1] [aliases] failed to parse field [actions]: "+err.Error())
	}
	if len(req.Actions) == 0 {
		return nil, errValidation("no actions specified")
	}
	var out []aliasAction
	for _, a := range req.Actions {
		if len(a) != 1 {
			return nil, errIllegalArgument("an alias action must have exactly one of add, remove, remove_index")
		}
		for kind, raw := range a {
			if kind != "add" && kind != "remove" && kind != "remove_index" {
				return nil, errIllegalArgument("Unsupported action [%s]", kind)
			}
			if e := refuseUnsupported(raw); e != nil {
				return nil, e
			}
			var b aliasActionBody
			if err := json.Unmarshal(raw, &b); err != nil {
				return nil, newError(http.StatusBadRequest, "x_content_parse_exception", "[1:1] ["+kind+"] failed to parse: "+err.Error())
			}
			act := aliasAction{kind: kind, isWriteIndex: b.IsWriteIndex, mustExist: b.MustExist,
				indices: append(append([]string(nil), b.Index...), b.Indices...), aliases: append(append([]string(nil), b.Alias...), b.Aliases...)}
			act.indexExprs = act.indices
			if b.MustExist != nil && kind != "remove" {
				return nil, errIllegalArgument("[must_exist] is unsupported for [%s]", kind)
			}
			if len(act.indices) == 0 {
				return nil, errValidation("One of [index] or [indices] is required")
			}
			if kind != "remove_index" && len(act.aliases) == 0 {
				return nil, errValidation("One of [alias] or [aliases] is required")
			}
			out = append(out, act)
		}
	}
	return out, nil
}

// applyAliasActions is applyAliasResults for callers that only add aliases (index creation).
func (s *Server) applyAliasActions(actions []aliasAction, logBuf *[]byte) *esError {
	_, e := s.applyAliasResults(actions, logBuf)
	return e
}

// applyAliasResults validates actions against a copy of the table and, only if none fails the request,
// installs the copy, deletes the indices of remove_index actions and logs the new table. A remove that
// finds no alias fails the request with must_exist: true; without must_exist (or false) it is reported in
// its result (404) and the other actions apply, as Elasticsearch 8.14+ does. An alias may take the name of
// an index that a remove_index action of the same request deletes. Callers hold s.mu for writing.
func (s *Server) applyAliasResults(actions []aliasAction, logBuf *[]byte) ([]aliasResult, *esError) {
	next := aliasTable{}
	for a, members := range s.aliases {
		next[a] = maps.Clone(members)
	}
	removed := map[string]bool{} // indices of remove_index actions
	for _, act := range actions {
		if act.kind == "remove_index" {
			for _, n := range act.indices {
				removed[n] = true
			}
		}
	}
	results := make([]aliasResult, 0, len(actions))
	var dropIndices []string
	for _, act := range actions {
		res := aliasResult{act: act, status: http.StatusOK}
		var names []string
		for _, expr := range act.indices {
			if strings.ContainsAny(expr, "*?") {
				for n := range s.indices {
					if ok, _ := path.Match(expr, n); ok && (act.kind == "remove_index" || !removed[n]) {
						names = append(names, n)
					}
				}
				continue
			}
			if removed[expr] && act.kind != "remove_index" {
				// Elasticsearch deletes the indices of remove_index actions first, then applies the others.
				return nil, errIndexNotFound(expr)
			}
			if s.indices[expr] == nil {
				if _, isAlias := s.aliases[expr]; isAlias && act.kind == "remove_index" {
					return nil, errIllegalArgument("The provided expression [%s] matches an alias, specify the corresponding concrete indices instead.", expr)
				}
				return nil, errIndexNotFound(expr)
			}
			names = append(names, expr)
		}
		slices.Sort(names)
		switch act.kind {
		case "remove_index":
			dropIndices = append(dropIndices, names...)
		case "add":
			for _, alias := range act.aliases {
				if e := validateAliasName(alias); e != nil {
					return nil, e
				}
				if s.indices[alias] != nil && !removed[alias] {
					return nil, newError(http.StatusBadRequest, "invalid_alias_name_exception",
						fmt.Sprintf("Invalid alias name [%s]: an index or data stream exists with the same name as the alias", alias)).
						with("index_uuid", "_na_").with("index", alias)
				}
				if next[alias] == nil {
					next[alias] = map[string]aliasProps{}
				}
				for _, n := range names {
					next[alias][n] = aliasProps{IsWriteIndex: act.isWriteIndex}
				}
			}
		case "remove":
			for _, alias := range act.aliases {
				removed := false // shadows the indices of remove_index actions: here, whether an alias was removed
				for a, members := range next {
					if ok, _ := path.Match(alias, a); !ok {
						continue
					}
					for _, n := range names {
						if _, on := members[n]; on {
							delete(members, n)
							removed = true
						}
					}
					if len(members) == 0 {
						delete(next, a)
					}
				}
				switch {
				case removed:
				case act.mustExist != nil && *act.mustExist:
					return nil, errAliasesMissing(alias)
				default:
					res.status, res.err = http.StatusNotFound, errAliasesMissing(alias)
				}
			}
		}
		results = append(results, res)
	}
	for _, n := range dropIndices {
		for a, members := range next {
			delete(members, n)
			if len(members) == 0 {
				delete(next, a)
			}
		}
	}
	for a, members := range next {
		var writers []string
		for n, p := range members {
			if p.IsWriteIndex != nil && *p.IsWriteIndex {
				writers = append(writers, n)
			}
		}
		if len(writers) > 1 {
			slices.Sort(writers)
			return nil, newError(http.StatusInternalServerError, "illegal_state_exception", // as Elasticsearch answers it
				fmt.Sprintf("alias [%s] has more than one write index [%s]", a, strings.Join(writers, ",")))
		}
	}
	s.aliases = next
	for _, n := range dropIndices {
		if ix := s.indices[n]; ix != nil {
			close(ix.refreshed)
			ix.closeSearch()
			delete(s.indices, n)
			*logBuf = appendRecord(*logBuf, &logRecord{Op: "delete_index", Index: n})
		}
	}
	s.logAliases(logBuf)
	return results, nil
}

// logAliases appends the whole alias table to the translog: recovery replays the last one.
func (s *Server) logAliases(logBuf *[]byte) {
	table, _ := json.Marshal(s.aliasesOf())
	*logBuf = appendRecord(*logBuf, &logRecord{Op: "aliases", Aliases: table})
}

// recoverAliases installs a logged alias table, dropping indices that no longer exist.
func (s *Server) recoverAliases(raw json.RawMessage) error {
	var t aliasTable
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("esserver: translog aliases: %w", err)
	}
	s.aliases = t
	return nil
}

// aliasSnapshot is the translog record of the alias table for a compacted log; nil when there are none.
func (s *Server) aliasSnapshot() *logRecord {
	for a, members := range s.aliases {
		for n := range members {
			if s.indices[n] == nil {
				delete(members, n)
			}
		}
		if len(members) == 0 {
			delete(s.aliases, a)
		}
	}
	if len(s.aliases) == 0 {
		return nil
	}
	table, _ := json.Marshal(s.aliases)
	return &logRecord{Op: "aliases", Aliases: table}
}

// validateAliasName applies the rules of index names except lower case, as Elasticsearch's
// validateIndexOrAliasName, and words the refusal as InvalidAliasNameException does.
func validateAliasName(name string) *esError {
	if e := validateIndexName(strings.ToLower(name)); e != nil {
		why := strings.TrimPrefix(e.Reason, "Invalid index name ["+strings.ToLower(name)+"], ")
		return newError(http.StatusBadRequest, "invalid_alias_name_exception",
			fmt.Sprintf("Invalid alias name [%s]: %s", name, why)).with("index_uuid", "_na_").with("index", name)
	}
	return nil
}

// refuseUnsupported answers the alias properties esserver does not implement (filters, routing) with a
// 400 instead of ignoring them: a filtered alias that does not filter would show documents it must hide.
func refuseUnsupported(raw []byte) *esError {
	var props map[string]json.RawMessage
	if json.Unmarshal(raw, &props) != nil {
		return nil
	}
	for _, k := range []string{"filter", "routing", "index_routing", "search_routing", "is_hidden"} {
		if _, ok := props[k]; ok {
			return errIllegalArgument("esserver does not support alias property [%s] (aliases here have no filter, routing or hidden flag)", k)
		}
	}
	return nil
}

func errAliasesMissing(names ...string) *esError {
	return newError(http.StatusNotFound, "aliases_not_found_exception",
		fmt.Sprintf("aliases [%s] missing", strings.Join(names, ","))).
		with("resource.type", "aliases").with("resource.id", strings.Join(names, ","))
}

// aliasRoutes registers the alias endpoints.
func (s *Server) aliasRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /_aliases", s.handleAliases)
	for _, method := range []string{"PUT", "POST"} {
		m.HandleFunc(method+" /{index}/_alias/{name}", s.handlePutAlias)
		m.HandleFunc(method+" /{index}/_aliases/{name}", s.handlePutAlias)
	}
	m.HandleFunc("DELETE /{index}/_alias/{name}", s.handleDeleteAlias)
	m.HandleFunc("DELETE /{index}/_aliases/{name}", s.handleDeleteAlias)
	m.HandleFunc("GET /_alias", s.handleGetAlias)
	// GET /_alias/{name} would conflict with GET /{index}/_mapping and the like in http.ServeMux: the
	// catch-all handler passes it on (aliasByName).
	m.HandleFunc("GET /{index}/_alias", s.handleGetAlias)
	m.HandleFunc("GET /{index}/_alias/{name}", s.handleGetAlias)
}

// aliasByName serves GET and HEAD /_alias/{name} and passes every other request to next.
func (s *Server) aliasByName(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/_alias/")
		if ok && name != "" && !strings.Contains(name, "/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			r.SetPathValue("name", name)
			s.handleGetAlias(w, r)
			return
		}
		next(w, r)
	}
}

// handleAliases is POST /_aliases: every action or none.
func (s *Server) handleAliases(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	actions, e := parseAliasActions(body)
	if e != nil {
		writeError(w, e)
		return
	}
	s.writeAliases(w, actions)
}

func (s *Server) writeAliases(w http.ResponseWriter, actions []aliasAction) {
	var logBuf []byte
	s.mu.Lock()
	results, e := s.applyAliasResults(actions, &logBuf)
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
	out := map[string]any{"acknowledged": true, "errors": false}
	for _, r := range results {
		if r.err != nil {
			out["errors"] = true
		}
	}
	if out["errors"] == true { // action_results only when an action failed, as Elasticsearch 8.14+
		list := make([]any, len(results))
		for i, r := range results {
			list[i] = r.body()
		}
		out["action_results"] = list
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePutAlias is PUT /{index}/_alias/{name}, an add action.
func (s *Server) handlePutAlias(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var opts struct {
		IsWriteIndex *bool `json:"is_write_index"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &opts); err != nil {
			writeError(w, newError(http.StatusBadRequest, "x_content_parse_exception", "[1:1] "+err.Error()))
			return
		}
		if e := refuseUnsupported(body); e != nil {
			writeError(w, e)
			return
		}
	}
	s.writeAliases(w, []aliasAction{{kind: "add", indices: strings.Split(r.PathValue("index"), ","),
		aliases: strings.Split(r.PathValue("name"), ","), isWriteIndex: opts.IsWriteIndex}})
}

// handleDeleteAlias is DELETE /{index}/_alias/{name}, a remove action that must find the alias.
func (s *Server) handleDeleteAlias(w http.ResponseWriter, r *http.Request) {
	mustExist := true
	s.writeAliases(w, []aliasAction{{kind: "remove", indices: strings.Split(r.PathValue("index"), ","),
		aliases: strings.Split(r.PathValue("name"), ","), mustExist: &mustExist}})
}

// handleGetAlias answers GET /_alias[/{name}] and /{index}/_alias[/{name}] (and HEAD for existence):
// {"index":{"aliases":{"name":{}}}}. Without a name every index of the expression is listed, with or
// without aliases; with one, only indices having a matching alias, and 404 {"error":"alias [x] missing"}
// when none matches.
func (s *Server) handleGetAlias(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ixs []*index
	if expr := r.PathValue("index"); expr != "" {
		var e *esError
		if ixs, e = s.resolve(expr); e != nil {
			if r.Method == http.MethodHead {
				w.WriteHeader(e.Status)
				return
			}
			writeError(w, e)
			return
		}
	} else {
		for _, n := range slices.Sorted(maps.Keys(s.indices)) {
			if !strings.HasPrefix(n, ".") {
				ixs = append(ixs, s.indices[n])
			}
		}
	}
	patterns := strings.Split(r.PathValue("name"), ",")
	named := r.PathValue("name") != "" && r.PathValue("name") != "_all" && r.PathValue("name") != "*"
	out := map[string]any{}
	found := map[string]bool{}
	for _, ix := range ixs {
		aliases := s.indexAliases(ix.name)
		if named {
			for a := range aliases {
				match := false
				for _, p := range patterns {
					if ok, _ := path.Match(p, a); ok {
						match, found[p] = true, true
					}
				}
				if !match {
					delete(aliases, a)
				}
			}
			if len(aliases) == 0 {
				continue
			}
		}
		out[ix.name] = map[string]any{"aliases": aliases}
	}
	if named {
		var missing []string
		for _, p := range patterns {
			if !found[p] && !strings.ContainsAny(p, "*?") {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 || len(out) == 0 {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			if len(missing) == 0 {
				missing = patterns
			}
			word := "alias"
			if len(missing) > 1 {
				word = "aliases"
			}
			body := map[string]any{"error": fmt.Sprintf("%s [%s] missing", word, strings.Join(missing, ",")), "status": http.StatusNotFound}
			for k, v := range out {
				body[k] = v
			}
			writeJSON(w, http.StatusNotFound, body)
			return
		}
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
