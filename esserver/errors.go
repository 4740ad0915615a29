package esserver

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// esError is an Elasticsearch exception as it appears in a response: the "error" object of a failed
// request, or of a failed bulk item. Extra carries the exception's metadata fields (index, index_uuid,
// shard, resource.id, line, col...), which Elasticsearch writes next to type and reason.
type esError struct {
	Status   int
	Type     string
	Reason   string
	Extra    map[string]any
	CausedBy *esError
}

func (e *esError) Error() string { return e.Type + ": " + e.Reason }

// body renders the exception object the way ElasticsearchException.toXContent does: type, reason, the
// metadata, then caused_by.
func (e *esError) body() exceptionBody {
	m := exceptionBody{"type": e.Type, "reason": e.Reason}
	for k, v := range e.Extra {
		m[k] = v
	}
	if e.CausedBy != nil {
		m["caused_by"] = e.CausedBy.body()
	}
	return m
}

// javaExceptions are the exception types that are not ElasticsearchExceptions; guessRootCauses stops
// descending the cause chain at them.
var javaExceptions = map[string]bool{
	"illegal_argument_exception": true, "illegal_state_exception": true, "x_content_parse_exception": true,
	"named_object_not_found_exception": true, "json_parse_exception": true, "number_format_exception": true,
}

// response renders a whole failed request: {"error":{"root_cause":[...],...},"status":N}. The root cause
// is the innermost ElasticsearchException of the cause chain, without its own caused_by, as
// ElasticsearchException.guessRootCauses finds it.
func (e *esError) response() map[string]any {
	root := e
	for root.CausedBy != nil && !javaExceptions[root.CausedBy.Type] {
		root = root.CausedBy
	}
	rc := root.body()
	delete(rc, "caused_by")
	b := e.body()
	b["root_cause"] = []any{rc}
	return map[string]any{"error": b, "status": e.Status}
}

func newError(status int, typ, reason string) *esError {
	return &esError{Status: status, Type: typ, Reason: reason}
}

func (e *esError) with(k string, v any) *esError {
	if e.Extra == nil {
		e.Extra = map[string]any{}
	}
	e.Extra[k] = v
	return e
}

// onShard adds the metadata Elasticsearch attaches to an exception raised on a shard of an index.
func (e *esError) onShard(ix *index) *esError {
	return e.with("index_uuid", ix.uuid).with("shard", "0").with("index", ix.name)
}

func errIndexNotFound(name string) *esError {
	return newError(http.StatusNotFound, "index_not_found_exception", fmt.Sprintf("no such index [%s]", name)).
		with("resource.type", "index_or_alias").with("resource.id", name).
		with("index_uuid", "_na_").with("index", name)
}

func errIndexExists(ix *index) *esError {
	return newError(http.StatusBadRequest, "resource_already_exists_exception",
		fmt.Sprintf("index [%s/%s] already exists", ix.name, ix.uuid)).
		with("index_uuid", ix.uuid).with("index", ix.name)
}

func errInvalidIndexName(name, why string) *esError {
	return newError(http.StatusBadRequest, "invalid_index_name_exception",
		fmt.Sprintf("Invalid index name [%s], %s", name, why)).
		with("index_uuid", "_na_").with("index", name)
}

func errVersionConflict(ix *index, id, detail string) *esError {
	return newError(http.StatusConflict, "version_conflict_engine_exception",
		fmt.Sprintf("[%s]: version conflict, %s", id, detail)).onShard(ix)
}

func errDocumentMissing(ix *index, id string) *esError {
	return newError(http.StatusNotFound, "document_missing_exception",
		fmt.Sprintf("[%s]: document missing", id)).onShard(ix)
}

// errValidation is an action_request_validation_exception listing numbered problems, as
// ActionRequestValidationException formats them.
func errValidation(problems ...string) *esError {
	reason := "Validation Failed: "
	for i, p := range problems {
		reason += fmt.Sprintf("%d: %s;", i+1, p)
	}
	return newError(http.StatusBadRequest, "action_request_validation_exception", reason)
}

func errIllegalArgument(format string, args ...any) *esError {
	return newError(http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf(format, args...))
}

func errParsing(format string, args ...any) *esError {
	return newError(http.StatusBadRequest, "parsing_exception", fmt.Sprintf(format, args...))
}

func errRejected(what string) *esError {
	return newError(http.StatusTooManyRequests, "es_rejected_execution_exception",
		fmt.Sprintf("rejected execution of %s on EsThreadPoolExecutor[name = esserver/write, queue capacity = 10000, "+
			"esserver fault injection]", what))
}

// writeJSON answers with status and v encoded as JSON. Headers common to every response were set by the
// server's middleware.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshalJSON(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(newError(status, "exception", err.Error()).response())
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *esError) {
	writeJSON(w, e.Status, e.response())
}

func (e *esError) withCause(c *esError) *esError {
	e.CausedBy = c
	return e
}
