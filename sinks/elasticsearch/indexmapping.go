package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/sluicehq/sluice/stream"
)

// maxSchemasPerIndex bounds how many distinct schemas the sink remembers per index as already mapped; a
// schema not among them costs one GET _mapping (and a PUT _mapping if it brings new fields).
const maxSchemasPerIndex = 16

// indexMappings remembers, per index, the value schemas whose derived mapping the index already has (or
// was checked against), and which conflicts were already reported.
type indexMappings struct {
	mu      sync.Mutex
	applied map[string][]*stream.Schema
	warned  map[mappingConflict]bool
	// raw holds, per index, the dotted paths of fields the index maps with another type than the derived
	// one: their values are written as the json codec writes them (epoch numbers, numeric decimals), the
	// form such an index was built from, so that its documents are not refused. Replaced, never mutated.
	raw map[string]map[string]bool
}

// rawFields returns the fields of index whose values are written as the json codec writes them (nil:
// none). The map must not be changed.
func (m *indexMappings) rawFields(index string) map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.raw[index]
}

// addRawFields adds fields to the raw set of index.
func (m *indexMappings) addRawFields(index string, conflicts []mappingConflict) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		m.raw = map[string]map[string]bool{}
	}
	next := map[string]bool{}
	for f := range m.raw[index] {
		next[f] = true
	}
	for _, c := range conflicts {
		next[c.Field] = true
	}
	m.raw[index] = next
}

// known reports whether a schema with the same mapping was already applied to index.
func (m *indexMappings) known(index string, schema *stream.Schema) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.applied[index] {
		if sameMapping(s, schema) {
			return true
		}
	}
	return false
}

// sameMapping reports whether two schemas derive the same mapping and are written the same way: the same
// types, names, fields and decimal parameters, whatever their docs, versions, optionality and defaults.
// Decoders give every record its own schema, so this runs once per record: it allocates nothing.
func sameMapping(a, b *stream.Schema) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Type != b.Type || a.Name != b.Name ||
		a.Parameters[stream.DecimalScaleParameter] != b.Parameters[stream.DecimalScaleParameter] ||
		a.Parameters[decimalPrecisionParameter] != b.Parameters[decimalPrecisionParameter] ||
		len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || !sameMapping(a.Fields[i].Schema, b.Fields[i].Schema) {
			return false
		}
	}
	return sameMapping(a.Items, b.Items) && sameMapping(a.Key, b.Key) && sameMapping(a.Value, b.Value)
}

func (m *indexMappings) remember(index string, schema *stream.Schema) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applied == nil {
		m.applied = map[string][]*stream.Schema{}
	}
	list := append(m.applied[index], schema)
	if len(list) > maxSchemasPerIndex {
		list = list[1:]
	}
	m.applied[index] = list
}

// firstWarning reports whether a conflict is reported for the first time.
func (m *indexMappings) firstWarning(c mappingConflict) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.warned == nil {
		m.warned = map[mappingConflict]bool{}
	}
	if m.warned[c] {
		return false
	}
	m.warned[c] = true
	return true
}

// ensureMappings makes sure that every index the batch writes into has the mapping derived from the
// schema of its documents, before their bodies are written: an index the sink has not seen with that schema
// is created with the derived mapping if it does not exist; if it exists, fields it lacks are added
// (PUT _mapping), and fields it maps with another type are reported as warnings naming the index, field,
// existing and wanted type (once per sink) and written from then on as the json codec writes them, the
// form the index was built from. Records that name no index, and indices with Config.Mappings, are left
// alone. 429s, 5xx answers and connection failures are retried as bulk requests are, until RetryTimeout.
func (s *Sink) ensureMappings(ctx context.Context, batch []stream.Record) error {
	if len(s.cfg.Mappings) > 0 {
		return nil
	}
	for i := range batch {
		r := &batch[i]
		if r.Operation == stream.OpDelete {
			continue
		}
		schema, st := s.valueStruct(r)
		if st == nil {
			continue
		}
		index, err := s.indexFor(r)
		if err != nil || s.mappings.known(index, schema) {
			continue // a record without an index is rejected when its action is built
		}
		if err := s.applyMapping(ctx, index, schema); err != nil {
			return err
		}
		s.mappings.remember(index, schema)
	}
	return nil
}

func (s *Sink) applyMapping(ctx context.Context, index string, schema *stream.Schema) error {
	derived := deriveMapping(schema, s.cfg.DecimalMapping)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 50 * time.Millisecond
	bo.MaxInterval = 5 * time.Second
	bo.MaxElapsedTime = s.cfg.RetryTimeout
	bo.Reset()
	attempt := 0
	return backoff.RetryNotify(func() error {
		attempt++
		return s.applyMappingOnce(ctx, index, derived)
	}, backoff.WithContext(bo, ctx), func(err error, wait time.Duration) {
		if attempt == 1 || attempt%10 == 0 {
			s.cfg.Logger.Warn("elasticsearch sink retrying: waiting for Elasticsearch to take the index mapping",
				"sink", "elasticsearch", "host", s.hosts, "index", index, "attempt", attempt,
				"next_in", wait.Round(time.Millisecond).String(), "err", err)
		}
	})
}

// applyMappingOnce creates the index with derived, or compares derived with its mapping. Errors worth a
// retry are returned as they are; others as backoff.Permanent.
func (s *Sink) applyMappingOnce(ctx context.Context, index string, derived map[string]any) error {
	path := "/" + url.PathEscape(index)
	status, body, err := s.mappingRequest(ctx, http.MethodGet, path+"/_mapping", nil)
	if err != nil {
		return err
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return s.noMappingAccess(index, http.MethodGet+" "+path+"/_mapping", status, body)
	}
	if status == http.StatusNotFound {
		create, _ := json.Marshal(map[string]any{"mappings": derived})
		status, body, err = s.mappingRequest(ctx, http.MethodPut, path, create)
		if err != nil {
			return err
		}
		switch {
		case status < 300:
			s.cfg.Logger.Info("elasticsearch sink created an index with the mapping derived from the records' schema",
				"sink", "elasticsearch", "index", index)
			return nil
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return s.noMappingAccess(index, http.MethodPut+" "+path, status, body)
		case strings.Contains(string(body), "resource_already_exists_exception"):
			return errors.New("the index was created meanwhile: checking its mapping") // retried: now it exists
		}
		return backoff.Permanent(fmt.Errorf("elasticsearch sink: create index %s with the mapping derived from the records' schema: %d: %.500s", index, status, body))
	}
	if status >= 300 {
		return backoff.Permanent(fmt.Errorf("elasticsearch sink: read the mapping of index %s: %d: %.500s", index, status, body))
	}
	var indices map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	if err := json.Unmarshal(body, &indices); err != nil {
		return backoff.Permanent(fmt.Errorf("elasticsearch sink: read the mapping of index %s: %w", index, err))
	}
	var existing map[string]any
	for _, ix := range indices { // one entry: the index (or the index an alias points to)
		existing = ix.Mappings
	}
	add, conflicts := diffMapping(derived, existing)
	s.mappings.addRawFields(index, conflicts)
	for _, c := range conflicts {
		if s.mappings.firstWarning(mappingConflict{Field: index + "/" + c.Field, Existing: c.Existing, Wanted: c.Wanted}) {
			s.cfg.Logger.Warn("elasticsearch sink: the index maps a field with another type than the records' schema asks for; its values are written as the json codec writes them, for the index as it is",
				"sink", "elasticsearch", "index", index, "field", c.Field, "existing", c.Existing, "wanted", c.Wanted)
		}
	}
	if add == nil {
		return nil
	}
	put, _ := json.Marshal(map[string]any{"properties": add})
	status, body, err = s.mappingRequest(ctx, http.MethodPut, path+"/_mapping", put)
	if err != nil {
		return err
	}
	if status >= 300 {
		// A field mapped meanwhile by another writer with another type: report it, the documents still go.
		s.cfg.Logger.Warn("elasticsearch sink: could not add the fields of the records' schema to the index mapping",
			"sink", "elasticsearch", "index", index, "status", status, "answer", truncate(string(body), 500))
		return nil
	}
	s.cfg.Logger.Info("elasticsearch sink added fields of the records' schema to the index mapping",
		"sink", "elasticsearch", "index", index)
	return nil
}

// noMappingAccess reports, as a warning, that the credentials may write documents but not read or create
// the index mapping: the documents are still written (mapped by the index as it is).
func (s *Sink) noMappingAccess(index, request string, status int, body []byte) error {
	s.cfg.Logger.Warn("elasticsearch sink: the credentials may not read or create the index mapping, so it is not derived from the records' schema; grant view_index_metadata and create_index, or set IgnoreSchema",
		"sink", "elasticsearch", "index", index, "request", request, "status", status, "answer", truncate(string(body), 300))
	return nil
}

// mappingRequest sends one index or mapping request within RequestTimeout. 429s, 5xx answers and
// connection failures come back as errors (to retry); any other answer as its status and body.
func (s *Sink) mappingRequest(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	reqCtx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(reqCtx, method, path, reader)
	if err != nil {
		return 0, nil, backoff.Permanent(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.client.Perform(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, backoff.Permanent(ctx.Err())
		}
		return 0, nil, s.requestError(method+" "+path, reqCtx, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, backoff.Permanent(ctx.Err())
		}
		return 0, nil, s.requestError(method+" "+path, reqCtx, err)
	}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		return 0, nil, fmt.Errorf("elasticsearch sink: %s %s: %d: %.300s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, raw, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
