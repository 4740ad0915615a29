package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
)

// indexClient reads one index: documents by id, every id in order, the count. It never writes a document;
// it may ask for a refresh, so that what it searches includes the latest writes.
type indexClient struct {
	base, index string
	http        *http.Client
	timeout     time.Duration
	cfg         elasticsearch.Config
}

func newIndexClient(cfg elasticsearch.Config, timeout time.Duration) (*indexClient, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URLs[0], "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("verify: Elasticsearch URL %q is not a URL", cfg.URLs[0])
	}
	return &indexClient{base: u.String(), index: strings.ToLower(cfg.Index), http: &http.Client{}, timeout: timeout, cfg: cfg}, nil
}

// errNoIndex: the index does not exist.
var errNoIndex = fmt.Errorf("index not found")

// call sends one request with the client's deadline and decodes a 2xx answer into out.
func (c *indexClient) call(ctx context.Context, method, path string, body any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case c.cfg.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+c.cfg.APIKey)
	case c.cfg.Username != "":
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("Elasticsearch at %s: %s %s: no answer within %v", c.base, method, path, c.timeout)
		}
		return fmt.Errorf("Elasticsearch at %s: %s %s: %w", c.base, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("Elasticsearch at %s: %s %s: read answer: %w", c.base, method, path, err)
	}
	if resp.StatusCode == http.StatusNotFound && bytes.Contains(data, []byte("index_not_found_exception")) {
		return errNoIndex
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("Elasticsearch at %s: %s %s: %s: %.300s", c.base, method, path, resp.Status, data)
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("Elasticsearch at %s: %s %s: answer: %w", c.base, method, path, err)
	}
	return nil
}

func (c *indexClient) path(op string) string { return "/" + url.PathEscape(c.index) + "/" + op }

// refresh makes every write acknowledged so far visible to searches.
func (c *indexClient) refresh(ctx context.Context) error {
	err := c.call(ctx, http.MethodPost, c.path("_refresh"), nil, nil)
	if err == errNoIndex {
		return nil
	}
	return err
}

type searchAnswer struct {
	Hits struct {
		Hits []struct {
			ID     string          `json:"_id"`
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// docs returns the _source of each existing document of ids.
func (c *indexClient) docs(ctx context.Context, ids []string) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var ans searchAnswer
	q := map[string]any{"query": map[string]any{"ids": map[string]any{"values": ids}}, "size": len(ids)}
	if err := c.call(ctx, http.MethodPost, c.path("_search"), q, &ans); err != nil {
		if err == errNoIndex {
			return out, nil
		}
		return nil, err
	}
	for _, h := range ans.Hits.Hits {
		out[h.ID] = h.Source
	}
	return out, nil
}

// idsAfter returns up to n ids of the index after the id after ("" from the first), in _id order.
func (c *indexClient) idsAfter(ctx context.Context, after string, n int) ([]string, error) {
	q := map[string]any{"query": map[string]any{"match_all": map[string]any{}}, "size": n, "sort": []any{"_id"},
		"_source": false}
	if after != "" {
		q["search_after"] = []any{after}
	}
	var ans searchAnswer
	if err := c.call(ctx, http.MethodPost, c.path("_search"), q, &ans); err != nil {
		if err == errNoIndex {
			return nil, nil
		}
		return nil, err
	}
	ids := make([]string, len(ans.Hits.Hits))
	for i, h := range ans.Hits.Hits {
		ids[i] = h.ID
	}
	return ids, nil
}

// count returns the number of documents of the index.
func (c *indexClient) count(ctx context.Context) (int64, error) {
	var ans struct {
		Count int64 `json:"count"`
	}
	if err := c.call(ctx, http.MethodGet, c.path("_count"), nil, &ans); err != nil {
		if err == errNoIndex {
			return 0, nil
		}
		return 0, err
	}
	return ans.Count, nil
}
