package schemaregistry

// Tests of the REST API written from Confluent's documented requests and responses
// (docs.confluent.io/platform/current/schema-registry/develop/api.html and its usage examples): each request
// is sent as curl would send it, through net/http/httptest, and the answer compared as JSON.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The schemas of Confluent's examples: {"type": "string"} and the Payment record.
const (
	stringSchema = `{"type": "string"}`
	paymentV1    = `{"type":"record","name":"Payment","namespace":"my.examples","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}`
	// v2 adds a field with a default: compatible both ways.
	paymentV2 = `{"type":"record","name":"Payment","namespace":"my.examples","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"region","type":"string","default":"EU"}]}`
	// v3 drops "amount", which has no default in v1/v2.
	paymentV3 = `{"type":"record","name":"Payment","namespace":"my.examples","fields":[{"name":"id","type":"string"},{"name":"region","type":"string","default":"EU"}]}`
)

// normalized is how the registry shows paymentV1 and paymentV2 (full names, no whitespace).
const (
	paymentV1Text = `{"name":"my.examples.Payment","type":"record","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}`
	paymentV2Text = `{"name":"my.examples.Payment","type":"record","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"region","type":"string","default":"EU"}]}`
)

type api struct {
	t *testing.T
	h http.Handler
	e *Embedded
}

func newAPI(t *testing.T, log Log) *api {
	t.Helper()
	if log == nil {
		log = NewMemoryLog()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := OpenEmbedded(ctx, log, EmbeddedOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return &api{t: t, h: e.Handler(), e: e}
}

// call sends one request with Confluent's content type and returns the status and the body.
func (a *api) call(method, path, body string) (int, string) {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Content-Type", ContentType)
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, req)
	if ct := w.Header().Get("Content-Type"); ct != ContentType {
		a.t.Errorf("%s %s: Content-Type %q, want %q", method, path, ct, ContentType)
	}
	return w.Code, w.Body.String()
}

// expect checks the status and that the body equals want as JSON.
func (a *api) expect(method, path, body string, status int, want string) {
	a.t.Helper()
	code, got := a.call(method, path, body)
	if code != status || !sameJSON(got, want) {
		a.t.Errorf("%s %s\n got %d %s\nwant %d %s", method, path, code, strings.TrimSpace(got), status, want)
	}
}

// expectError checks the status, the error_code and that the message contains each of parts.
func (a *api) expectError(method, path, body string, code int, parts ...string) string {
	a.t.Helper()
	status, got := a.call(method, path, body)
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(got), &e); err != nil {
		a.t.Errorf("%s %s: answer %q is not a Confluent error: %v", method, path, got, err)
		return ""
	}
	wantStatus := (&Error{Code: code}).HTTPStatus()
	if status != wantStatus || e.Code != code {
		a.t.Errorf("%s %s: got HTTP %d error_code %d (%s), want HTTP %d error_code %d", method, path, status, e.Code, e.Message, wantStatus, code)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			a.t.Errorf("%s %s: message %q does not contain %q", method, path, e.Message, p)
		}
	}
	return e.Message
}

// quiet discards the registry's log lines in tests.
var quiet = slog.New(slog.DiscardHandler)

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func body(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

func TestAPIRootTypesAndUnknownPath(t *testing.T) {
	a := newAPI(t, nil)
	a.expect("GET", "/", "", 200, `{}`)
	a.expect("GET", "/schemas/types", "", 200, `["AVRO","JSON"]`)
	a.expect("GET", "/subjects", "", 200, `[]`)
	a.expectError("GET", "/no/such/thing", "", 404)
}

func TestAPIRegisterGetVersionsAndLookup(t *testing.T) {
	a := newAPI(t, nil)
	// POST /subjects/test/versions {"schema": "{\"type\": \"string\"}"} -> {"id":1}
	a.expect("POST", "/subjects/test/versions", body(stringSchema), 200, `{"id":1}`)
	// The same schema again: the same id, no new version.
	a.expect("POST", "/subjects/test/versions", body(stringSchema), 200, `{"id":1}`)
	// The same schema under another subject: the same id ("If the same schema is registered under a
	// different subject, the same identifier will be returned").
	a.expect("POST", "/subjects/other/versions", body(stringSchema), 200, `{"id":1}`)
	a.expect("POST", "/subjects/payments-value/versions", body(paymentV1), 200, `{"id":2}`)
	a.expect("POST", "/subjects/payments-value/versions", `{"schema":`+jsonString(paymentV2)+`,"schemaType":"AVRO"}`, 200, `{"id":3}`)

	a.expect("GET", "/subjects", "", 200, `["other","payments-value","test"]`)
	a.expect("GET", "/subjects?subjectPrefix=pay", "", 200, `["payments-value"]`)
	a.expect("GET", "/subjects/test/versions", "", 200, `[1]`)
	a.expect("GET", "/subjects/payments-value/versions", "", 200, `[1,2]`)
	a.expect("GET", "/subjects/test/versions/1", "", 200, `{"subject":"test","id":1,"version":1,"schema":"\"string\""}`)
	a.expect("GET", "/subjects/payments-value/versions/latest", "", 200,
		`{"subject":"payments-value","id":3,"version":2,"schema":`+jsonString(paymentV2Text)+`}`)
	a.expect("GET", "/subjects/payments-value/versions/-1", "", 200,
		`{"subject":"payments-value","id":3,"version":2,"schema":`+jsonString(paymentV2Text)+`}`)
	a.expect("GET", "/subjects/payments-value/versions/1/schema", "", 200, paymentV1Text)

	// GET /schemas/ids/1 -> {"schema": "\"string\""}
	a.expect("GET", "/schemas/ids/1", "", 200, `{"schema":"\"string\""}`)
	a.expect("GET", "/schemas/ids/2", "", 200, `{"schema":`+jsonString(paymentV1Text)+`}`)
	a.expect("GET", "/schemas/ids/1/versions", "", 200, `[{"subject":"other","version":1},{"subject":"test","version":1}]`)

	// Lookup: POST /subjects/test {"schema": ...} -> {"subject","id","version","schema"}; whitespace and
	// the namespace spelled apart do not matter.
	spaced := strings.ReplaceAll(paymentV1, ",", " ,\n ")
	a.expect("POST", "/subjects/payments-value", body(spaced), 200,
		`{"subject":"payments-value","id":2,"version":1,"schema":`+jsonString(paymentV1Text)+`}`)
	a.expectError("POST", "/subjects/test", body(`{"type":"int"}`), 40403, "Schema not found")
	a.expectError("POST", "/subjects/unknown", body(stringSchema), 40401, "unknown")

	// JSON schemas are stored and served with their type.
	a.expect("POST", "/subjects/json-value/versions", `{"schemaType":"JSON","schema":"{\"type\": \"object\"}"}`, 200, `{"id":4}`)
	a.expect("GET", "/schemas/ids/4", "", 200, `{"schema":"{\"type\":\"object\"}","schemaType":"JSON"}`)
	a.expect("GET", "/subjects/json-value/versions/1", "", 200, `{"subject":"json-value","id":4,"version":1,"schemaType":"JSON","schema":"{\"type\":\"object\"}"}`)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestAPIErrorCodes(t *testing.T) {
	a := newAPI(t, nil)
	a.expect("POST", "/subjects/test/versions", body(stringSchema), 200, `{"id":1}`)
	a.expectError("GET", "/subjects/nope/versions", "", 40401, "Subject 'nope' not found")
	a.expectError("GET", "/subjects/nope/versions/1", "", 40401)
	a.expectError("GET", "/subjects/test/versions/2", "", 40402, "Version 2 not found")
	a.expectError("GET", "/schemas/ids/99", "", 40403, "Schema 99 not found")
	a.expectError("GET", "/subjects/test/versions/0", "", 42202, "'0' is not a valid version")
	a.expectError("GET", "/subjects/test/versions/one", "", 42202)
	a.expectError("DELETE", "/subjects/test/versions/2147483648", "", 42202)
	a.expectError("POST", "/subjects/test/versions", body(`{"type":"record","name":"R"}`), 42201, "Invalid schema")
	a.expectError("POST", "/subjects/test/versions", body(`{"type": "strin"}`), 42201)
	a.expectError("POST", "/subjects/test/versions", `{"schema":"{}","schemaType":"PROTOBUF"}`, 42201, "PROTOBUF")
	a.expectError("POST", "/subjects/test/versions", `not json`, 42201)
	a.expectError("POST", "/subjects/test/versions", `{"schema":"\"string\"","references":[{"name":"x","subject":"y","version":1}]}`, 42201, "references")
	a.expectError("PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 42203, "Invalid compatibility level")
	a.expectError("PUT", "/config/test", `{"compatibility":""}`, 42203)
	// 409: see TestAPICompatibility; 50001 and 50002: TestAPIStoreErrors.
}

func TestAPICompatibility(t *testing.T) {
	a := newAPI(t, nil)
	a.expect("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	a.expect("POST", "/subjects/payments-value/versions", body(paymentV1), 200, `{"id":1}`)

	// POST /compatibility/subjects/{s}/versions/latest -> {"is_compatible": true}
	a.expect("POST", "/compatibility/subjects/payments-value/versions/latest", body(paymentV2), 200, `{"is_compatible":true}`)
	// Under BACKWARD a new schema may drop a field: v3 reads v1 data, ignoring "amount".
	a.expect("POST", "/compatibility/subjects/payments-value/versions/1", body(paymentV3), 200, `{"is_compatible":true}`)
	a.expect("POST", "/compatibility/subjects/payments-value/versions?verbose=true", body(paymentV3), 200, `{"is_compatible":true,"messages":[]}`)
	a.expectError("POST", "/compatibility/subjects/payments-value/versions/7", body(paymentV2), 40402)
	a.expectError("POST", "/compatibility/subjects/nope/versions/latest", body(paymentV2), 40401)
	a.expectError("POST", "/compatibility/subjects/payments-value/versions/x", body(paymentV2), 42202)

	// PUT /config/{s} {"compatibility": "FORWARD"} -> the same; GET answers {"compatibilityLevel"}.
	a.expect("PUT", "/config/payments-value", `{"compatibility": "FORWARD"}`, 200, `{"compatibility":"FORWARD"}`)
	a.expect("GET", "/config/payments-value", "", 200, `{"compatibilityLevel":"FORWARD"}`)
	a.expect("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	a.expectError("GET", "/config/test", "", 40408, "does not have subject-level compatibility")
	a.expect("GET", "/config/test?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"BACKWARD"}`)

	// Under FORWARD, readers of v1 must read v3's data: "amount" has no default there.
	a.expect("POST", "/compatibility/subjects/payments-value/versions/latest", body(paymentV3), 200, `{"is_compatible":false}`)
	a.expect("POST", "/compatibility/subjects/payments-value/versions/latest?verbose=true", body(paymentV3), 200,
		`{"is_compatible":false,"messages":["field \"amount\" (in record my.examples.Payment) was removed and has no default in the previous version 1"]}`)
	// Registering it: HTTP 409, error_code 409, naming the field and the rule.
	a.expectError("POST", "/subjects/payments-value/versions", body(paymentV3), 409,
		`schema for subject "payments-value" is incompatible under FORWARD: field "amount" (in record my.examples.Payment) was removed and has no default in the previous version 1`)
	a.expect("GET", "/subjects/payments-value/versions", "", 200, `[1]`)

	// Relaxed to NONE, it is accepted.
	a.expect("PUT", "/config/payments-value", `{"compatibility":"none"}`, 200, `{"compatibility":"NONE"}`)
	a.expect("POST", "/subjects/payments-value/versions", body(paymentV3), 200, `{"id":2}`)
	// DELETE /config/{s}: the subject falls back to the global level; the answer is the level it had.
	a.expect("DELETE", "/config/payments-value", "", 200, `{"compatibilityLevel":"NONE"}`)
	a.expectError("GET", "/config/payments-value", "", 40408)
	a.expectError("DELETE", "/config/payments-value", "", 40408)

	// Global PUT /config.
	a.expect("PUT", "/config", `{"compatibility":"FULL_TRANSITIVE"}`, 200, `{"compatibility":"FULL_TRANSITIVE"}`)
	a.expect("GET", "/config", "", 200, `{"compatibilityLevel":"FULL_TRANSITIVE"}`)
	a.expect("GET", "/config/payments-value?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"FULL_TRANSITIVE"}`)
}

// TestAPIMode: the embedded registry is always READWRITE (GET /mode, /mode/{s}); PUT accepts READWRITE and
// refuses the modes it does not implement with Confluent's codes.
func TestAPIMode(t *testing.T) {
	a := newAPI(t, nil)
	a.expect("GET", "/mode", "", 200, `{"mode":"READWRITE"}`)
	a.expect("GET", "/mode/payments-value", "", 200, `{"mode":"READWRITE"}`)
	a.expect("PUT", "/mode", `{"mode":"READWRITE"}`, 200, `{"mode":"READWRITE"}`)
	a.expect("PUT", "/mode/payments-value", `{"mode": "readwrite"}`, 200, `{"mode":"READWRITE"}`)
	a.expectError("PUT", "/mode", `{"mode":"READONLY"}`, CodeOperationNotPermitted, "READONLY", "only READWRITE")
	a.expectError("PUT", "/mode/payments-value", `{"mode":"IMPORT"}`, CodeOperationNotPermitted, "IMPORT")
	a.expectError("PUT", "/mode", `{"mode":"SIDEWAYS"}`, CodeInvalidMode, `Invalid mode "SIDEWAYS"`)
	a.expectError("PUT", "/mode", `not json`, CodeInvalidMode)
	a.expect("GET", "/mode", "", 200, `{"mode":"READWRITE"}`)
	// Registration still works: nothing changed.
	a.expect("POST", "/subjects/payments-value/versions", body(paymentV1), 200, `{"id":1}`)
}

func TestAPIDeletes(t *testing.T) {
	a := newAPI(t, nil)
	a.expect("POST", "/subjects/payments-value/versions", body(paymentV1), 200, `{"id":1}`)
	a.expect("POST", "/subjects/payments-value/versions", body(paymentV2), 200, `{"id":2}`)

	// DELETE /subjects/{s}/versions/{v} -> the version; the id stays readable.
	a.expect("DELETE", "/subjects/payments-value/versions/2", "", 200, `2`)
	a.expect("GET", "/subjects/payments-value/versions", "", 200, `[1]`)
	a.expect("GET", "/subjects/payments-value/versions?deleted=true", "", 200, `[1,2]`)
	a.expectError("GET", "/subjects/payments-value/versions/2", "", 40402)
	a.expect("GET", "/subjects/payments-value/versions/2?deleted=true", "", 200,
		`{"subject":"payments-value","id":2,"version":2,"schema":`+jsonString(paymentV2Text)+`}`)
	a.expect("GET", "/schemas/ids/2", "", 200, `{"schema":`+jsonString(paymentV2Text)+`}`)
	a.expectError("DELETE", "/subjects/payments-value/versions/2", "", 40406, "was soft deleted")
	a.expectError("DELETE", "/subjects/payments-value/versions/1?permanent=true", "", 40407, "not deleted first")
	a.expect("DELETE", "/subjects/payments-value/versions/2?permanent=true", "", 200, `2`)
	a.expectError("GET", "/schemas/ids/2", "", 40403)
	a.expectError("DELETE", "/subjects/payments-value/versions/5", "", 40402)

	// Registering a soft-deleted schema again makes a new version with the same id.
	a.expect("DELETE", "/subjects/payments-value/versions/latest", "", 200, `1`)
	a.expect("POST", "/subjects/payments-value/versions", body(paymentV1), 200, `{"id":1}`)
	a.expect("GET", "/subjects/payments-value/versions", "", 200, `[2]`)

	// DELETE /subjects/{s} -> the versions deleted.
	a.expect("POST", "/subjects/other/versions", body(stringSchema), 200, `{"id":3}`)
	a.expectError("DELETE", "/subjects/payments-value?permanent=true", "", 40405, "not deleted first")
	a.expect("DELETE", "/subjects/payments-value", "", 200, `[2]`)
	a.expectError("DELETE", "/subjects/payments-value", "", 40404, "was soft deleted")
	a.expectError("GET", "/subjects/payments-value/versions", "", 40401)
	a.expect("GET", "/subjects", "", 200, `["other"]`)
	a.expect("GET", "/subjects?deleted=true", "", 200, `["other","payments-value"]`)
	a.expectError("POST", "/subjects/payments-value", body(paymentV1), 40401)
	a.expect("POST", "/subjects/payments-value?deleted=true", body(paymentV1), 200,
		`{"subject":"payments-value","id":1,"version":2,"schema":`+jsonString(paymentV1Text)+`}`)
	a.expect("DELETE", "/subjects/payments-value?permanent=true", "", 200, `[1,2]`)
	a.expect("GET", "/subjects?deleted=true", "", 200, `["other"]`)
	a.expectError("DELETE", "/subjects/payments-value", "", 40401)
}

// faultyLog is a MemoryLog whose Append can fail or stall: the store failures of the API.
type faultyLog struct {
	Log
	fail, stall atomic.Bool
}

func (l *faultyLog) Append(ctx context.Context, key, value []byte) error {
	if l.fail.Load() {
		return errors.New("disk on fire")
	}
	if l.stall.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return l.Log.Append(ctx, key, value)
}

func TestAPIStoreErrors(t *testing.T) {
	log := &faultyLog{Log: NewMemoryLog()}
	a := newAPI(t, log)
	log.fail.Store(true)
	a.expectError("POST", "/subjects/test/versions", body(stringSchema), 50001, "Error in the backend data store", "disk on fire")
	a.expectError("PUT", "/config", `{"compatibility":"NONE"}`, 50001)
	log.fail.Store(false)
	log.stall.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("POST", "/subjects/test/versions", strings.NewReader(body(stringSchema))).WithContext(ctx)
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, req)
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"error_code":50002`) {
		t.Errorf("stalled log: got %d %s, want 500 with error_code 50002", w.Code, w.Body.String())
	}
	log.stall.Store(false)
	a.expect("POST", "/subjects/test/versions", body(stringSchema), 200, `{"id":1}`)
}
