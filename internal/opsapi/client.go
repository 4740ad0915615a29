package opsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Error implements error as "<status>: <message>", e.g. "409: pipeline x is RUNNING on replica r: stop it
// first".
func (e *Error) Error() string {
	return strconv.Itoa(e.ErrorCode) + ": " + e.Message
}

// Client calls the operator API of one Sluice replica. Every method takes a context and returns when it
// ends; give it a deadline (the client sets none of its own unless HTTP has a Timeout). A non-2xx answer is
// returned as *Error (the server's error_code and message; a body that is not an Error becomes its first
// line of text); a transport failure or an undecodable answer is an error naming the method and URL.
type Client struct {
	// BaseURL is the replica's address, e.g. "http://127.0.0.1:8083" (a trailing slash is ignored).
	BaseURL string
	// HTTP is the client used for requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Token, when not empty, is sent as `Authorization: Bearer <token>` on every request (the replica's
	// SLUICE_API_TOKEN or a line of its SLUICE_API_TOKENS_FILE). It is never part of an error.
	Token string
}

// RestartTarget selects what POST /pipelines/{name}/restart restarts: the whole pipeline when empty, one
// flow's processors (Flow), one source's processor (Source), or one task of it (Source and Task).
type RestartTarget struct {
	Flow   string
	Source string
	Task   string
}

// Root is GET /: the replica's version, commit, Kafka cluster id, replica id and pipelines.
func (c *Client) Root(ctx context.Context) (Root, error) {
	var out Root
	err := c.do(ctx, http.MethodGet, "/", nil, nil, &out)
	return out, err
}

// Pipelines is GET /pipelines: the names of the pipelines the replica runs.
func (c *Client) Pipelines(ctx context.Context) ([]string, error) {
	var out []string
	err := c.do(ctx, http.MethodGet, "/pipelines", nil, nil, &out)
	return out, err
}

// Pipeline is GET /pipelines/{name}: the pipeline's declaration.
func (c *Client) Pipeline(ctx context.Context, name string) (Pipeline, error) {
	var out Pipeline
	err := c.do(ctx, http.MethodGet, PipelinePath(name, ""), nil, nil, &out)
	return out, err
}

// Status is GET /pipelines/{name}/status: the state of every task and partition across live replicas.
func (c *Client) Status(ctx context.Context, name string) (Status, error) {
	var out Status
	err := c.do(ctx, http.MethodGet, PipelinePath(name, "status"), nil, nil, &out)
	return out, err
}

// Pause is PUT /pipelines/{name}/pause: every replica stops reading sources and handing records to sinks.
func (c *Client) Pause(ctx context.Context, name string) (StateChange, error) {
	return c.stateChange(ctx, http.MethodPut, PipelinePath(name, "pause"), nil)
}

// Resume is PUT /pipelines/{name}/resume: every replica runs again (from PAUSED or STOPPED).
func (c *Client) Resume(ctx context.Context, name string) (StateChange, error) {
	return c.stateChange(ctx, http.MethodPut, PipelinePath(name, "resume"), nil)
}

// Stop is PUT /pipelines/{name}/stop: every replica stops its processors (offsets may then be changed).
func (c *Client) Stop(ctx context.Context, name string) (StateChange, error) {
	return c.stateChange(ctx, http.MethodPut, PipelinePath(name, "stop"), nil)
}

// Restart is POST /pipelines/{name}/restart with the target as query parameters (flow, source, task).
func (c *Client) Restart(ctx context.Context, name string, target RestartTarget) (StateChange, error) {
	q := url.Values{}
	if target.Flow != "" {
		q.Set("flow", target.Flow)
	}
	if target.Source != "" {
		q.Set("source", target.Source)
	}
	if target.Task != "" {
		q.Set("task", target.Task)
	}
	return c.stateChange(ctx, http.MethodPost, PipelinePath(name, "restart"), q)
}

// Offsets is GET /pipelines/{name}/offsets: every source task's position and flow partition's offset.
func (c *Client) Offsets(ctx context.Context, name string) (Offsets, error) {
	var out Offsets
	err := c.do(ctx, http.MethodGet, PipelinePath(name, "offsets"), nil, nil, &out)
	return out, err
}

// PatchOffsets is PATCH /pipelines/{name}/offsets: sets the given offsets (a null Offset deletes one).
// The server answers 409 (an *Error) unless the pipeline is STOPPED on every replica.
func (c *Client) PatchOffsets(ctx context.Context, name string, offsets Offsets) (Message, error) {
	var out Message
	err := c.do(ctx, http.MethodPatch, PipelinePath(name, "offsets"), nil, offsets, &out)
	return out, err
}

// ResetOffsets is DELETE /pipelines/{name}/offsets: every offset of the pipeline is deleted. The server
// answers 409 (an *Error) unless the pipeline is STOPPED on every replica.
func (c *Client) ResetOffsets(ctx context.Context, name string) (Message, error) {
	var out Message
	err := c.do(ctx, http.MethodDelete, PipelinePath(name, "offsets"), nil, nil, &out)
	return out, err
}

func (c *Client) stateChange(ctx context.Context, method, path string, q url.Values) (StateChange, error) {
	var out StateChange
	err := c.do(ctx, method, path, q, nil, &out)
	return out, err
}

// PipelinePath is the path of a pipeline's resource: "/pipelines/{name}" and, when action is not empty,
// "/pipelines/{name}/{action}" (status, pause, resume, stop, restart, offsets), the name path-escaped.
func PipelinePath(name, action string) string {
	p := "/pipelines/" + url.PathEscape(name)
	if action != "" {
		p += "/" + action
	}
	return p
}

// Do sends one request to path (with query and, when body is non-nil, body as JSON) and decodes a 2xx
// answer into out when out is non-nil and the answer not empty; out may be a *json.RawMessage to keep the
// answer as it is. Errors are those of the typed methods above.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	return c.do(ctx, method, path, q, body, out)
}

// do sends one request and decodes a 2xx answer into out (when out is non-nil and the body non-empty).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encoding the request: %w", method, u, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats method and URL, which the message below names
		}
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return answerError(res.StatusCode, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON (%v): %s", method, u, err, firstLine(data))
	}
	return nil
}

// answerError turns a non-2xx answer into an *Error: the server's own when the body is one, else the
// status and the body's first line (or the status text).
func answerError(status int, data []byte) *Error {
	var e Error
	if err := json.Unmarshal(data, &e); err == nil && e.Message != "" {
		if e.ErrorCode == 0 {
			e.ErrorCode = status
		}
		return &e
	}
	msg := firstLine(data)
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{ErrorCode: status, Message: msg}
}

func firstLine(data []byte) string {
	s := strings.TrimSpace(string(data))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
