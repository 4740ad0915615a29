package schemaregistry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ContentType is the media type of Confluent Schema Registry's v1 API; requests may also send
// application/json.
const ContentType = "application/vnd.schemaregistry.v1+json"

// maxRequestBytes bounds a request body (a schema).
const maxRequestBytes = 8 << 20

// Handler serves Confluent Schema Registry's REST API at root paths:
//
//	GET    /                                        {}
//	GET    /subjects[?deleted=true&subjectPrefix=p]  subject names
//	GET    /subjects/{s}/versions[?deleted=true]     version numbers
//	GET    /subjects/{s}/versions/{v|latest}         {"subject","id","version","schema"[,"schemaType"]}
//	GET    /subjects/{s}/versions/{v|latest}/schema  the schema text itself
//	POST   /subjects/{s}/versions                    {"schema","schemaType"} -> {"id"}
//	POST   /subjects/{s}[?deleted=true]              lookup -> as GET of a version
//	DELETE /subjects/{s}[?permanent=true]            deleted version numbers
//	DELETE /subjects/{s}/versions/{v}[?permanent=true] the deleted version number
//	GET    /schemas/ids/{id}                         {"schema"[,"schemaType"]}
//	GET    /schemas/ids/{id}/versions                [{"subject","version"}]
//	GET    /schemas/types                            ["AVRO","JSON"]
//	POST   /compatibility/subjects/{s}/versions[/{v|latest}][?verbose=true] {"is_compatible"[,"messages"]}
//	GET    /config, /config/{s}[?defaultToGlobal=true] {"compatibilityLevel"}
//	PUT    /config, /config/{s}                      {"compatibility"} -> the same
//	DELETE /config/{s}                               {"compatibilityLevel"} (the level it had)
//	GET    /mode, /mode/{s}                          {"mode":"READWRITE"} (the only mode)
//	PUT    /mode, /mode/{s}                          {"mode":"READWRITE"} -> the same; any other mode refused
//
// Errors are {"error_code":N,"message":...} with Confluent's codes (see the Code constants), with the HTTP
// status of the code's first three digits. Schema references are not supported (42201).
func (e *Embedded) Handler() http.Handler {
	mux := http.NewServeMux()
	h := &handler{e: e}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, struct{}{}) })
	mux.HandleFunc("GET /subjects", h.subjects)
	mux.HandleFunc("GET /subjects/{subject}/versions", h.versions)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", h.version)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", h.versionSchema)
	mux.HandleFunc("POST /subjects/{subject}/versions", h.register)
	mux.HandleFunc("POST /subjects/{subject}", h.lookup)
	mux.HandleFunc("DELETE /subjects/{subject}", h.deleteSubject)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", h.deleteVersion)
	mux.HandleFunc("GET /schemas/ids/{id}", h.schemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", h.schemaVersions)
	mux.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, []string{TypeAvro, TypeJSON})
	})
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", h.compatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", h.compatibility)
	mux.HandleFunc("GET /config", h.getConfig)
	mux.HandleFunc("GET /config/{subject}", h.getConfig)
	mux.HandleFunc("PUT /config", h.putConfig)
	mux.HandleFunc("PUT /config/{subject}", h.putConfig)
	mux.HandleFunc("DELETE /config/{subject}", h.deleteConfig)
	mux.HandleFunc("GET /mode", getMode)
	mux.HandleFunc("GET /mode/{subject}", getMode)
	mux.HandleFunc("PUT /mode", putMode)
	mux.HandleFunc("PUT /mode/{subject}", putMode)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		replyError(w, &Error{Code: http.StatusNotFound, Message: "HTTP 404 Not Found"})
	})
	return mux
}

type handler struct{ e *Embedded }

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeStoreError, Message: err.Error()}
	}
	reply(w, e.HTTPStatus(), map[string]any{"error_code": e.Code, "message": e.Error()})
}

func flag(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// parseVersion reads a version path value: 1..2^31-1, or "latest" / -1 (returned as -1).
func parseVersion(text string) (int, error) {
	if text == "latest" {
		return -1, nil
	}
	v, err := strconv.ParseInt(text, 10, 32)
	if err != nil || (v < 1 && v != -1) {
		return 0, &Error{Code: CodeInvalidVersion, Message: fmt.Sprintf(
			"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", text)}
	}
	return int(v), nil
}

// schemaRequest is the body of a registration, lookup or compatibility check.
type schemaRequest struct {
	Schema     string            `json:"schema"`
	SchemaType string            `json:"schemaType"`
	References []json.RawMessage `json:"references"`
}

func readSchemaRequest(r *http.Request) (schemaRequest, error) {
	var req schemaRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	if err != nil {
		return req, &Error{Code: CodeInvalidSchema, Message: "Invalid schema: reading the request: " + err.Error()}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, &Error{Code: CodeInvalidSchema, Message: "Invalid schema: the request is not JSON of the form {\"schema\": ...}: " + err.Error()}
	}
	if req.Schema == "" {
		return req, &Error{Code: CodeInvalidSchema, Message: "Invalid schema: the request has no \"schema\""}
	}
	if len(req.References) > 0 {
		return req, &Error{Code: CodeInvalidSchema, Message: "Invalid schema: schema references are not supported by Sluice's embedded registry"}
	}
	return req, nil
}

// versionJSON is a subject version as the API shows it; SchemaType is omitted for AVRO, as Confluent does.
type versionJSON struct {
	Subject    string `json:"subject"`
	ID         int    `json:"id"`
	Version    int    `json:"version"`
	SchemaType string `json:"schemaType,omitempty"`
	Schema     string `json:"schema"`
}

func showVersion(v storedVersion) versionJSON {
	out := versionJSON{Subject: v.Subject, ID: v.ID, Version: v.Version, Schema: v.parsed.Text}
	if v.parsed.Type != TypeAvro {
		out.SchemaType = v.parsed.Type
	}
	return out
}

func (h *handler) subjects(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("subjectPrefix")
	names := []string{}
	err := h.e.read(r.Context(), func(st *state) error {
		for _, n := range st.subjectNames(flag(r, "deleted")) {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
		return nil
	})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, names)
}

func (h *handler) versions(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	deleted := flag(r, "deleted")
	numbers := []int{}
	err := h.e.read(r.Context(), func(st *state) error {
		versions := st.subjects[subject]
		if len(versions) == 0 || (!deleted && len(live(versions)) == 0) {
			return subjectNotFound(subject)
		}
		for _, v := range versions {
			if deleted || !v.Deleted {
				numbers = append(numbers, v.Version)
			}
		}
		return nil
	})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, numbers)
}

func (h *handler) findVersion(r *http.Request) (storedVersion, error) {
	subject := r.PathValue("subject")
	number, err := parseVersion(r.PathValue("version"))
	if err != nil {
		return storedVersion{}, err
	}
	var v storedVersion
	err = h.e.read(r.Context(), func(st *state) (err error) {
		v, err = st.version(subject, number, flag(r, "deleted"))
		return err
	})
	return v, err
}

func (h *handler) version(w http.ResponseWriter, r *http.Request) {
	v, err := h.findVersion(r)
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, showVersion(v))
}

func (h *handler) versionSchema(w http.ResponseWriter, r *http.Request) {
	v, err := h.findVersion(r)
	if err != nil {
		replyError(w, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = io.WriteString(w, v.parsed.Text)
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	req, err := readSchemaRequest(r)
	if err != nil {
		replyError(w, err)
		return
	}
	id, _, err := h.e.register(r.Context(), r.PathValue("subject"), streamSchema(req.SchemaType, req.Schema))
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]int{"id": id})
}

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	req, err := readSchemaRequest(r)
	if err != nil {
		replyError(w, err)
		return
	}
	p, err := h.e.parse(streamSchema(req.SchemaType, req.Schema))
	if err != nil {
		replyError(w, err)
		return
	}
	deleted := flag(r, "deleted")
	var found storedVersion
	err = h.e.read(r.Context(), func(st *state) error {
		versions := st.subjects[subject]
		if len(versions) == 0 || (!deleted && len(live(versions)) == 0) {
			return subjectNotFound(subject)
		}
		for i := len(versions) - 1; i >= 0; i-- { // the latest version with the schema
			if v := versions[i]; (deleted || !v.Deleted) && v.parsed.key() == p.key() {
				found = *v
				return nil
			}
		}
		return &Error{Code: CodeSchemaNotFound, Message: "Schema not found"}
	})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, showVersion(found))
}

func (h *handler) deleteSubject(w http.ResponseWriter, r *http.Request) {
	out, err := h.e.submit(r.Context(), opDelete, recordValue{Subject: r.PathValue("subject"), Permanent: flag(r, "permanent")})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, out.versions)
}

func (h *handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	number, err := parseVersion(r.PathValue("version"))
	if err != nil {
		replyError(w, err)
		return
	}
	out, err := h.e.submit(r.Context(), opDelete, recordValue{Subject: r.PathValue("subject"), Version: number, Permanent: flag(r, "permanent")})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, out.version)
}

func parseID(text string) (int, error) {
	id, err := strconv.ParseInt(text, 10, 32)
	if err != nil || id < 1 {
		return 0, &Error{Code: CodeSchemaNotFound, Message: fmt.Sprintf("Schema %s not found", text)}
	}
	return int(id), nil
}

func (h *handler) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		replyError(w, err)
		return
	}
	s, err := h.e.SchemaByID(r.Context(), id)
	if err != nil {
		replyError(w, err)
		return
	}
	out := map[string]string{"schema": s.Schema}
	if s.Type != TypeAvro {
		out["schemaType"] = s.Type
	}
	reply(w, http.StatusOK, out)
}

func (h *handler) schemaVersions(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		replyError(w, err)
		return
	}
	type subjectVersion struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	list := []subjectVersion{}
	err = h.e.read(r.Context(), func(st *state) error {
		if _, ok := st.schemaByID(id); !ok {
			return schemaIDNotFound(id)
		}
		for _, v := range st.usedBy(id, flag(r, "deleted")) {
			list = append(list, subjectVersion{Subject: v.Subject, Version: v.Version})
		}
		return nil
	})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, list)
}

func (h *handler) compatibility(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	number := 0 // every version the subject's level checks against
	if text := r.PathValue("version"); text != "" {
		var err error
		if number, err = parseVersion(text); err != nil {
			replyError(w, err)
			return
		}
	}
	req, err := readSchemaRequest(r)
	if err != nil {
		replyError(w, err)
		return
	}
	p, err := h.e.parse(streamSchema(req.SchemaType, req.Schema))
	if err != nil {
		replyError(w, err)
		return
	}
	var issues []string
	err = h.e.read(r.Context(), func(st *state) error {
		level := st.level(subject)
		if number == 0 {
			issues = compatibilityIssues(level, p, live(st.subjects[subject]))
			return nil
		}
		v, err := st.version(subject, number, false)
		if err != nil {
			return err
		}
		issues = compatibilityIssues(strings.TrimSuffix(level, "_TRANSITIVE"), p, []storedVersion{v})
		return nil
	})
	if err != nil {
		replyError(w, err)
		return
	}
	out := map[string]any{"is_compatible": len(issues) == 0}
	if flag(r, "verbose") {
		if issues == nil {
			issues = []string{}
		}
		out["messages"] = issues
	}
	reply(w, http.StatusOK, out)
}

func (h *handler) getConfig(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	var level string
	err := h.e.read(r.Context(), func(st *state) error {
		if subject == "" {
			level = st.globalLevel()
			return nil
		}
		l, ok := st.subjectLevel[subject]
		switch {
		case ok:
			level = l
		case flag(r, "defaultToGlobal"):
			level = st.globalLevel()
		default:
			return &Error{Code: CodeSubjectCompatibilityNotSet, Message: fmt.Sprintf(
				"Subject '%s' does not have subject-level compatibility configured", subject)}
		}
		return nil
	})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]string{"compatibilityLevel": level})
}

func (h *handler) putConfig(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		replyError(w, &Error{Code: CodeInvalidCompatibility, Message: "Invalid compatibility level: the request is not JSON of the form {\"compatibility\": ...}"})
		return
	}
	level, err := ParseCompatibility(req.Compatibility)
	if err != nil {
		replyError(w, err)
		return
	}
	if err := h.e.SetCompatibility(r.Context(), r.PathValue("subject"), level); err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]string{"compatibility": level})
}

func (h *handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	out, err := h.e.submit(r.Context(), opConfig, recordValue{Subject: r.PathValue("subject")})
	if err != nil {
		replyError(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]string{"compatibilityLevel": out.level})
}

// modeReadWrite is the only mode the embedded registry has: every replica accepts reads and writes.
const modeReadWrite = "READWRITE"

// getMode answers the registry's (or a subject's) mode, which is always READWRITE.
func getMode(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, map[string]string{"mode": modeReadWrite})
}

// putMode accepts READWRITE (a no-op) and refuses every other mode as Confluent's registry refuses a mode
// it cannot take: 42204 for a value that is no mode, 42205 for READONLY, READONLY_OVERRIDE and IMPORT,
// which the embedded registry does not implement.
func putMode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Mode string `json:"mode"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	mode := strings.ToUpper(req.Mode)
	switch {
	case err != nil:
		replyError(w, &Error{Code: CodeInvalidMode, Message: "Invalid mode: the request is not JSON of the form {\"mode\": ...}"})
	case mode == modeReadWrite:
		reply(w, http.StatusOK, map[string]string{"mode": modeReadWrite})
	case mode == "READONLY" || mode == "READONLY_OVERRIDE" || mode == "IMPORT":
		replyError(w, &Error{Code: CodeOperationNotPermitted, Message: fmt.Sprintf(
			"Operation not permitted: mode %s is not supported by Sluice's embedded registry (only READWRITE)", mode)})
	default:
		replyError(w, &Error{Code: CodeInvalidMode, Message: fmt.Sprintf(
			"Invalid mode %q. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT; Sluice's embedded registry supports READWRITE only", req.Mode)})
	}
}
