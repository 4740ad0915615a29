package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// bulkParams are the action/metadata fields esserver reads from a bulk action line.
var bulkParams = map[string]bool{
	"_index": true, "_id": true, "version": true, "version_type": true, "if_seq_no": true,
	"if_primary_term": true, "routing": true, "pipeline": true, "require_alias": true,
	"retry_on_conflict": true, "_source": true, "dynamic_templates": true, "require_data_stream": true,
	"list_executed_pipelines": true, "op_type": true,
}

// handleBulk is the bulk API: NDJSON action lines, each followed by a source line for index, create and
// update. Items run in order; a failing item does not stop the others; one translog fsync covers them all.
func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	refresh, e := refreshPolicy(r)
	if e != nil {
		writeError(w, e)
		return
	}
	body, e := readBody(r)
	if e != nil {
		writeError(w, e)
		return
	}
	ops, e := parseBulk(body, r.PathValue("index"))
	if e != nil {
		writeError(w, e)
		return
	}
	applyBulkDefaults(r, ops) // bulkitems.go
	var problems []string
	for _, op := range ops {
		if op.itemError == nil {
			problems = append(problems, op.validate()...)
		}
	}
	if len(ops) == 0 {
		problems = append(problems, "no requests added")
	}
	if len(problems) > 0 {
		writeError(w, errValidation(problems...))
		return
	}
	rejected := make([]bool, len(ops))
	var run []*writeOp
	for i, op := range ops {
		if s.rejectItem() {
			rejected[i] = true
			continue
		}
		run = append(run, op)
	}
	results, err := s.execute(r.Context(), run, refresh)
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, "exception", err.Error()))
		return
	}
	items := make([]any, len(ops))
	hasErrors := false
	next := 0
	for i, op := range ops {
		var item map[string]any
		if rejected[i] {
			rej := errRejected("bulk item [" + op.Action + " " + op.Index + "/" + op.ID + "]")
			item = map[string]any{"_index": op.Index, "_id": op.ID, "status": rej.Status, "error": rej.body()}
			hasErrors = true
		} else {
			res := results[next]
			next++
			item = res.body()
			item["status"] = res.Status
			s.addBulkUpdateGet(r, op, res, item) // getopts.go
			if res.Err != nil {
				hasErrors = true
			}
		}
		items[i] = map[string]any{op.Action: item}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"took": time.Since(start).Milliseconds(), "errors": hasErrors, "items": items,
	})
}

// parseBulk splits a bulk body into ops, failing the whole request on a malformed line as
// Elasticsearch's BulkRequestParser does.
func parseBulk(body []byte, defaultIndex string) ([]*writeOp, *esError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errValidation("no requests added")
	}
	if body[len(body)-1] != '\n' {
		return nil, errIllegalArgument("The bulk request must be terminated by a newline [\\n]")
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	var ops []*writeOp
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		lineNo := i + 1
		var action map[string]json.RawMessage
		if err := json.Unmarshal(line, &action); err != nil {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]",
				lineNo, tokenName(line))
		}
		if len(action) == 0 {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected FIELD_NAME but found [END_OBJECT]", lineNo)
		}
		if len(action) != 1 {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected a simple value for field [%s] but found [START_OBJECT]", lineNo, "action")
		}
		var name string
		var raw json.RawMessage
		for name, raw = range action {
		}
		switch name {
		case "index", "create", "update", "delete":
		default:
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", lineNo, name)
		}
		var params map[string]json.RawMessage
		if err := json.Unmarshal(raw, &params); err != nil {
			return nil, errIllegalArgument("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", lineNo, tokenName(raw))
		}
		op := &writeOp{Action: name, Index: defaultIndex}
		for k, v := range params {
			if !bulkParams[k] {
				return nil, errIllegalArgument("Action/metadata line [%d] contains an unknown parameter [%s]", lineNo, k)
			}
			var e *esError
			switch k {
			case "_index":
				op.Index, e = stringParam(v, k, lineNo)
			case "_id":
				op.ID, e = stringParam(v, k, lineNo)
				if e == nil && op.ID == "" {
					// Elasticsearch fails this item alone (bulkitems.go).
					op.itemError = errIllegalArgument("if _id is specified it must not be empty")
				}
			case "op_type", "require_alias", "_source":
				e = bulkItemOption(op, k, v, lineNo) // bulkitems.go
			case "version_type":
				op.VersionType, e = stringParam(v, k, lineNo)
			case "version":
				op.Version, e = intParam(v, k, lineNo)
				op.HasVersion = true
			case "if_seq_no":
				op.IfSeqNo, e = intParam(v, k, lineNo)
				op.HasIfSeqNo = true
			case "if_primary_term":
				op.IfPrimaryTerm, e = intParam(v, k, lineNo)
				op.HasIfTerm = true
			}
			if e != nil {
				return nil, e
			}
		}
		if name == "index" && op.ID == "" {
			op.autoID = true
		}
		if name == "create" && op.ID == "" {
			op.autoID = true
		}
		if name != "delete" {
			i++
			if i >= len(lines) {
				return nil, errIllegalArgument("The bulk request must be terminated by a newline [\\n]")
			}
			src := bytes.TrimSpace(lines[i])
			if name == "update" {
				var u updateRequest
				if err := json.Unmarshal(src, &u); err != nil {
					return nil, newError(http.StatusBadRequest, "x_content_parse_exception",
						fmt.Sprintf("[%d:1] [UpdateRequest] failed to parse object: %v", i+1, err))
				}
				op.Update = &u
			} else {
				op.Source = append(json.RawMessage(nil), src...)
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func stringParam(v json.RawMessage, k string, line int) (string, *esError) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			return n.String(), nil
		}
		return "", errIllegalArgument("Malformed action/metadata line [%d], expected a simple value for field [%s] but found [%s]",
			line, k, tokenName(v))
	}
	return s, nil
}

func intParam(v json.RawMessage, k string, line int) (int64, *esError) {
	s, e := stringParam(v, k, line)
	if e != nil {
		return 0, e
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errIllegalArgument("Failed to parse long parameter [%s] with value [%s]", k, s)
	}
	return n, nil
}

// tokenName names the first JSON token of b the way Jackson does in parse errors.
func tokenName(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "null"
	}
	switch b[0] {
	case '{':
		return "START_OBJECT"
	case '[':
		return "START_ARRAY"
	case '"':
		return "VALUE_STRING"
	case 't', 'f':
		return "VALUE_BOOLEAN"
	case 'n':
		return "VALUE_NULL"
	}
	return "VALUE_NUMBER"
}
