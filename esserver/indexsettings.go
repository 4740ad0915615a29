package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// flattenSettings turns index settings, nested or dotted ({"index":{"soft_deletes":{"enabled":false}}},
// "soft_deletes.enabled": false), into dotted keys without the "index." prefix.
func flattenSettings(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[strings.TrimPrefix(prefix, "index.")] = v
		return
	}
	for k, x := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		flattenSettings(key, x, out)
	}
}

// validateCreateIndexBody makes the checks Elasticsearch makes on a create-index body that esserver's
// mapping parser does not: soft deletes cannot be disabled (8.x), and a field name cannot be empty.
func validateCreateIndexBody(body []byte) *esError {
	var req struct {
		Settings map[string]any  `json:"settings"`
		Mappings json.RawMessage `json:"mappings"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil // the caller reports malformed bodies
	}
	flat := map[string]any{}
	flattenSettings("", req.Settings, flat)
	if v, ok := flat["soft_deletes.enabled"]; ok && fmt.Sprint(v) == "false" {
		return errIllegalArgument("Creating indices with soft-deletes disabled is no longer supported. " +
			"Please do not specify a value for setting [index.soft_deletes.enabled].")
	}
	if len(req.Mappings) > 0 {
		var m any
		if json.Unmarshal(req.Mappings, &m) == nil && hasEmptyFieldName(m) {
			return newError(http.StatusBadRequest, "mapper_parsing_exception",
				"Failed to parse mapping: field name cannot be an empty string").
				withCause(errIllegalArgument("field name cannot be an empty string"))
		}
	}
	return nil
}

func hasEmptyFieldName(m any) bool {
	obj, ok := m.(map[string]any)
	if !ok {
		return false
	}
	props, _ := obj["properties"].(map[string]any)
	for k, v := range props {
		if strings.TrimSpace(k) == "" || hasEmptyFieldName(v) {
			return true
		}
	}
	return false
}

// createIndexAliases adds the aliases of a create-index body ({"aliases":{"name":{"is_write_index":true}}})
// to the new index, through the alias table's own validation. Alias filters and routing are refused: the
// server's aliases have neither. The caller holds s.mu for writing.
func (s *Server) createIndexAliases(name string, body []byte, logBuf *[]byte) *esError {
	var req struct {
		Aliases map[string]map[string]json.RawMessage `json:"aliases"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Aliases) == 0 {
		return nil
	}
	names := make([]string, 0, len(req.Aliases))
	for a := range req.Aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	var actions []aliasAction
	for _, a := range names {
		act := aliasAction{kind: "add", indices: []string{name}, aliases: []string{a}}
		for k, v := range req.Aliases[a] {
			switch k {
			case "is_write_index":
				var b bool
				if err := json.Unmarshal(v, &b); err != nil {
					var str string
					_ = json.Unmarshal(v, &str)
					b = str == "true"
				}
				act.isWriteIndex = &b
			default:
				return errIllegalArgument("alias [%s]: [%s] is not supported by esserver (aliases have no filter or routing)", a, k)
			}
		}
		actions = append(actions, act)
	}
	return s.applyAliasActions(actions, logBuf)
}

// dropCreatedIndex undoes createIndex when the rest of a create-index request fails. The caller holds
// s.mu for writing and discards the translog records it collected.
func (s *Server) dropCreatedIndex(name string) {
	if ix := s.indices[name]; ix != nil {
		ix.closeSearch()
		delete(s.indices, name)
	}
}

// resolveWithOptions resolves an index expression with the request's ignore_unavailable (missing
// concrete names are left out instead of failing) and allow_no_indices (false: resolving to no index
// fails with index_not_found_exception), as Elasticsearch's IndicesOptions. Callers hold s.mu.
func (s *Server) resolveWithOptions(r *http.Request, expr string) ([]*index, *esError) {
	q := r.URL.Query()
	if q.Get("ignore_unavailable") != "true" && q.Get("allow_no_indices") != "false" {
		return s.resolve(expr)
	}
	var out []*index
	var firstMissing *esError
	seen := map[string]bool{}
	for _, part := range strings.Split(expr, ",") {
		ixs, e := s.resolve(part)
		if e != nil {
			if q.Get("ignore_unavailable") != "true" {
				return nil, e
			}
			if firstMissing == nil {
				firstMissing = e
			}
			continue
		}
		for _, ix := range ixs {
			if !seen[ix.name] {
				seen[ix.name] = true
				out = append(out, ix)
			}
		}
	}
	if len(out) == 0 && q.Get("allow_no_indices") == "false" {
		if firstMissing != nil {
			return nil, firstMissing
		}
		return nil, errIndexNotFound(expr)
	}
	return out, nil
}
