package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// bulkItemOption reads the action-line options op_type ("create" turns an index action into a create,
// answered under "create") and require_alias (the target must be an existing alias).
func bulkItemOption(op *writeOp, k string, v json.RawMessage, line int) *esError {
	switch k {
	case "op_type":
		s, e := stringParam(v, k, line)
		if e != nil {
			return e
		}
		switch s {
		case "create":
			if op.Action == "index" {
				op.Action = "create"
			}
		case "index":
		default:
			return errIllegalArgument("opType must be 'create' or 'index', found: [%s]", s)
		}
	case "_source":
		op.sourceSpec = append(json.RawMessage(nil), v...)
	case "require_alias":
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			s, e := stringParam(v, k, line)
			if e != nil {
				return e
			}
			b = s == "true"
		}
		op.requireAlias, op.requireAliasSet = b, true
	}
	return nil
}

// applyBulkDefaults applies the request's ?require_alias to the items that did not set it themselves.
func applyBulkDefaults(r *http.Request, ops []*writeOp) {
	if r.URL.Query().Get("require_alias") != "true" {
		return
	}
	for _, op := range ops {
		if !op.requireAliasSet {
			op.requireAlias = true
		}
	}
}

// checkRequireAlias is the item failure Elasticsearch gives a write with require_alias to a name that is
// not an alias. The caller holds s.mu.
func (s *Server) checkRequireAlias(name string) *esError {
	if len(s.aliasIndices(name)) > 0 {
		return nil
	}
	return newError(http.StatusNotFound, "index_not_found_exception",
		fmt.Sprintf("no such index [%s] and [require_alias] request flag is [true] and [%s] is not an alias", name, name)).
		with("resource.type", "index_or_alias").with("resource.id", name).with("index_uuid", "_na_").with("index", name)
}
