package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// ClientOptions configures a Client.
type ClientOptions struct {
	// HTTPClient makes the requests (nil: a client of its own; set one for TLS).
	HTTPClient *http.Client
	// Username and Password, when Username is set, are sent with HTTP basic authentication (Confluent
	// Cloud: the API key and secret).
	Username, Password string
	// Timeout bounds each request (default 30s), within the caller's context.
	Timeout time.Duration
}

// DefaultClientTimeout bounds each request of a Client whose options set no Timeout.
const DefaultClientTimeout = 30 * time.Second

// Client talks to an external Confluent-compatible schema registry (Confluent Schema Registry, Redpanda,
// Apicurio's ccompat API, or Sluice's own Handler). It caches: a schema registered once under a subject,
// and a schema fetched once by id, cost no more requests. Safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	user    string
	pass    string
	timeout time.Duration

	mu         sync.Mutex
	registered map[[3]string]int // subject, type, text as given -> id
	byID       map[int]stream.RegisteredSchema
}

var _ stream.SchemaRegistry = (*Client)(nil)

// NewClient returns a client of the registry at baseURL (http or https, e.g. "http://localhost:8081").
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("schema registry URL %q: want http://host:port or https://host:port", baseURL)
	}
	if u.User != nil && opts.Username == "" {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
		u.User = nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: opts.HTTPClient, user: opts.Username, pass: opts.Password, timeout: opts.Timeout,
		registered: map[[3]string]int{}, byID: map[int]stream.RegisteredSchema{}}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultClientTimeout
	}
	return c, nil
}

// do sends one request and decodes a 2xx answer into out; a Confluent error answer becomes an *Error.
// what names the request in errors ("register a schema under subject \"x\"").
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, what string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	target := c.base.String() + path // path segments are escaped by the caller
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return fmt.Errorf("schema registry at %s: %s: %w", c.base.Redacted(), what, err)
	}
	req.Header.Set("Accept", ContentType+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", ContentType)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &Error{Code: CodeTimeout, Message: fmt.Sprintf("schema registry at %s did not answer (%s) within %v", c.base.Redacted(), what, c.timeout), Err: err}
		}
		return fmt.Errorf("schema registry at %s: %s: %w", c.base.Redacted(), what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRequestBytes))
	if err != nil {
		return fmt.Errorf("schema registry at %s: %s: reading the answer: %w", c.base.Redacted(), what, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) != nil || e.Code == 0 {
			e.Code = resp.StatusCode
			e.Message = strings.TrimSpace(string(data))
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				e.Message = "the registry refused the credentials (HTTP " + resp.Status + ")"
			}
		}
		return &Error{Code: e.Code, Message: fmt.Sprintf("schema registry at %s: %s: %s (error code %d)", c.base.Redacted(), what, e.Message, e.Code)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("schema registry at %s: %s: the answer is not the JSON expected: %w", c.base.Redacted(), what, err)
	}
	return nil
}

func subjectPath(subject string) string { return "/subjects/" + url.PathEscape(subject) }

// Register returns the id of schema under subject, registering it when the subject does not hold it yet.
// A refusal by the subject's compatibility level is an *Error with CodeIncompatibleSchema, wrapping
// stream.ErrIncompatibleSchema, whose message is the registry's (Sluice's names the field and the rule).
func (c *Client) Register(ctx context.Context, subject string, schema stream.RegisteredSchema) (int, error) {
	typ := strings.ToUpper(schema.Type)
	if typ == "" {
		typ = TypeAvro
	}
	key := [3]string{subject, typ, schema.Schema}
	c.mu.Lock()
	id, ok := c.registered[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	body := map[string]string{"schema": schema.Schema}
	if typ != TypeAvro {
		body["schemaType"] = typ
	}
	var out struct {
		ID int `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, subjectPath(subject)+"/versions", nil, body, &out,
		fmt.Sprintf("register a schema under subject %q", subject)); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.registered[key] = out.ID
	c.byID[out.ID] = stream.RegisteredSchema{Type: typ, Schema: schema.Schema}
	c.mu.Unlock()
	return out.ID, nil
}

// SchemaByID returns the schema registered with id.
func (c *Client) SchemaByID(ctx context.Context, id int) (stream.RegisteredSchema, error) {
	c.mu.Lock()
	s, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	var out struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/schemas/ids/%d", id), nil, nil, &out,
		fmt.Sprintf("get the schema with id %d", id)); err != nil {
		return stream.RegisteredSchema{}, err
	}
	s = stream.RegisteredSchema{Type: out.SchemaType, Schema: out.Schema}
	if s.Type == "" {
		s.Type = TypeAvro
	}
	c.mu.Lock()
	c.byID[id] = s
	c.mu.Unlock()
	return s, nil
}

// SetCompatibility sets the compatibility level of subject ("" subject: the registry's global level).
func (c *Client) SetCompatibility(ctx context.Context, subject, level string) error {
	level, err := ParseCompatibility(level)
	if err != nil {
		return err
	}
	path := "/config"
	if subject != "" {
		path += "/" + url.PathEscape(subject)
	}
	return c.do(ctx, http.MethodPut, path, nil, map[string]string{"compatibility": level}, nil,
		fmt.Sprintf("set the compatibility level of subject %q", subject))
}

// Compatibility returns the level that applies to subject: its own, else the global one ("" subject: the
// global one).
func (c *Client) Compatibility(ctx context.Context, subject string) (string, error) {
	path, query := "/config", url.Values{}
	if subject != "" {
		path += "/" + url.PathEscape(subject)
		query.Set("defaultToGlobal", "true")
	}
	var out struct {
		Level string `json:"compatibilityLevel"`
	}
	err := c.do(ctx, http.MethodGet, path, query, nil, &out, fmt.Sprintf("get the compatibility level of subject %q", subject))
	if subject != "" && (ErrorCode(err) == CodeSubjectNotFound || ErrorCode(err) == CodeSubjectCompatibilityNotSet) {
		// Registries that ignore defaultToGlobal answer "not configured": the global level applies.
		return c.Compatibility(ctx, "")
	}
	if err != nil {
		return "", err
	}
	return out.Level, nil
}
