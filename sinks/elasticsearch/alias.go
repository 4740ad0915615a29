package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/cenkalti/backoff/v4"
	"github.com/sluicehq/sluice/sinks"
)

// Writing through an alias (Config.Alias) and rebuilding behind it (sinks.Retargeter).
//
// At Open a sink with Alias makes sure the alias exists: if no alias and no index of that name exists it
// creates <Alias>-000001 (with Config.Mappings when set) and adds the alias to it in one _aliases call.
// Replicas that race do no harm: an index created meanwhile is taken as it is, adding an alias twice is
// idempotent. Documents are then written to the alias, and Elasticsearch writes them into the index the
// alias points to (its write index when it points to several).
//
// A rebuild (topology.Rebuild) uses the sink as a sinks.Retargeter: Pointer names the index behind the
// alias, Retarget gives a sink that writes the same documents straight into a new index (its Open creates
// that index and fails if it exists), Repoint moves the alias with one _aliases call (remove the old index,
// add the new one, after a refresh of the new one: searches of the alias see the old index until the call
// and the new one, with everything written into it so far, after it), and
// Drop deletes an index. Documents carry external versions, so the same record written into an index by
// both the live flow and the rebuild's copy lands once, at its newest version.

var _ sinks.Retargeter = (*Sink)(nil)

// openAlias makes sure Config.Alias exists (see above). The caller bounds ctx.
func (s *Sink) openAlias(ctx context.Context) error {
	alias := s.cfg.Alias
	status, body, err := s.aliasRequest(ctx, http.MethodGet, "/_alias/"+url.PathEscape(alias), nil)
	if err != nil {
		return fmt.Errorf("elasticsearch sink: read alias %s: %w", alias, err)
	}
	if status == http.StatusOK {
		return nil
	}
	if status != http.StatusNotFound {
		return fmt.Errorf("elasticsearch sink: read alias %s: %d: %.300s", alias, status, body)
	}
	status, _, err = s.aliasRequest(ctx, http.MethodHead, "/"+url.PathEscape(alias), nil)
	if err != nil {
		return fmt.Errorf("elasticsearch sink: check index %s: %w", alias, err)
	}
	if status == http.StatusOK {
		return fmt.Errorf("elasticsearch sink: Alias %q: an index of that name exists; an alias cannot have the name of an index: "+
			"write into it with Index, or reindex it into %s-000001 and delete it", alias, alias)
	}
	first := alias + "-000001"
	if err := s.createIndexNamed(ctx, first, false); err != nil {
		return err
	}
	if err := s.updateAliases(ctx, map[string]any{"add": map[string]string{"index": first, "alias": alias}}); err != nil {
		return err
	}
	s.cfg.Logger.Info("elasticsearch sink created the first index behind its alias", "sink", "elasticsearch", "alias", alias, "index", first)
	return nil
}

// createDestination creates index for a sink made by Retarget: it must not exist yet.
func (s *Sink) createDestination(ctx context.Context, index string) error {
	return s.createIndexNamed(ctx, index, true)
}

// createIndexNamed creates index with Config.Mappings (or none). An index that exists already is an error
// when mustBeNew, else taken as it is.
func (s *Sink) createIndexNamed(ctx context.Context, index string, mustBeNew bool) error {
	create := []byte(`{}`)
	if len(s.cfg.Mappings) > 0 {
		create, _ = json.Marshal(map[string]json.RawMessage{"mappings": s.cfg.Mappings})
	}
	status, body, err := s.aliasRequest(ctx, http.MethodPut, "/"+url.PathEscape(index), create)
	if err != nil {
		return fmt.Errorf("elasticsearch sink: create index %s: %w", index, err)
	}
	switch {
	case status < 300:
		return nil
	case strings.Contains(string(body), "resource_already_exists_exception") && !mustBeNew:
		return nil
	case strings.Contains(string(body), "resource_already_exists_exception"):
		return fmt.Errorf("elasticsearch sink: index %s exists already: a rebuild fills a new index; name another one", index)
	}
	return fmt.Errorf("elasticsearch sink: create index %s: %d: %.300s", index, status, body)
}

// updateAliases sends one POST /_aliases with actions, which Elasticsearch applies atomically.
func (s *Sink) updateAliases(ctx context.Context, actions ...map[string]any) error {
	body, _ := json.Marshal(map[string]any{"actions": actions})
	status, answer, err := s.aliasRequest(ctx, http.MethodPost, "/_aliases", body)
	if err != nil {
		return fmt.Errorf("elasticsearch sink: update aliases: %w", err)
	}
	if status >= 300 {
		return fmt.Errorf("elasticsearch sink: update aliases %s: %d: %.300s", body, status, answer)
	}
	return nil
}

// Pointer returns the alias and the index it points to (its write index when it points to several).
func (s *Sink) Pointer(ctx context.Context) (name, destination string, err error) {
	alias := s.cfg.Alias
	if alias == "" {
		return "", "", fmt.Errorf("elasticsearch sink: index %s is written directly, not through an alias: set Alias to rebuild it without downtime", s.cfg.Index)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	status, body, err := s.aliasRequest(ctx, http.MethodGet, "/_alias/"+url.PathEscape(alias), nil)
	if err != nil {
		return alias, "", fmt.Errorf("elasticsearch sink: read alias %s: %w", alias, err)
	}
	if status == http.StatusNotFound {
		return alias, "", fmt.Errorf("elasticsearch sink: alias %s does not exist", alias)
	}
	if status >= 300 {
		return alias, "", fmt.Errorf("elasticsearch sink: read alias %s: %d: %.300s", alias, status, body)
	}
	var indices map[string]struct {
		Aliases map[string]struct {
			IsWriteIndex *bool `json:"is_write_index"`
		} `json:"aliases"`
	}
	if err := json.Unmarshal(body, &indices); err != nil {
		return alias, "", fmt.Errorf("elasticsearch sink: read alias %s: %w", alias, err)
	}
	var names []string
	for ix, v := range indices {
		names = append(names, ix)
		if a, ok := v.Aliases[alias]; ok && a.IsWriteIndex != nil && *a.IsWriteIndex {
			return alias, ix, nil
		}
	}
	if len(names) == 1 {
		return alias, names[0], nil
	}
	sort.Strings(names)
	return alias, "", fmt.Errorf("elasticsearch sink: alias %s points to %d indices (%s) and none is its write index", alias, len(names), strings.Join(names, ", "))
}

// NextDestination counts on from current's number: orders-000002 after orders-000001; an index of another
// name is followed by <alias>-000001 (or -000002 when that is current).
func (s *Sink) NextDestination(current string) string {
	alias := s.cfg.Alias
	if n, ok := strings.CutPrefix(current, alias+"-"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 0 {
			return fmt.Sprintf("%s-%0*d", alias, len(n), i+1)
		}
	}
	return alias + "-000001"
}

// Retarget returns a sink with the same configuration that writes into index destination instead of
// through the alias. Its Open creates destination (with Config.Mappings, if set) and fails if it exists.
func (s *Sink) Retarget(destination string) (sinks.Sink, error) {
	if destination == "" || destination != strings.ToLower(destination) || strings.ContainsAny(destination, `{}/\*?"<>| ,#`) {
		return nil, fmt.Errorf("elasticsearch sink: %q is not a valid index name (lower case, no spaces or \\/*?\"<>|,#)", destination)
	}
	if destination == s.cfg.Alias {
		return nil, fmt.Errorf("elasticsearch sink: index %s would have the name of the alias", destination)
	}
	cfg := s.cfg
	cfg.Alias, cfg.Index = "", destination
	cfg.URLs = append([]string(nil), s.cfg.URLs...)
	out, err := New(cfg)
	if err != nil {
		return nil, err
	}
	out.createIndex = true
	return out, nil
}

// Repoint moves the alias from index from to index to in one _aliases call. It refreshes index to first,
// so that searches through the alias find its documents from the first moment (an index not refreshed yet
// would answer them with nothing until its next periodic refresh).
func (s *Sink) Repoint(ctx context.Context, from, to string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	status, body, err := s.aliasRequest(ctx, http.MethodPost, "/"+url.PathEscape(to)+"/_refresh", nil)
	if err != nil {
		return fmt.Errorf("elasticsearch sink: refresh index %s before the alias moves to it: %w", to, err)
	}
	if status >= 300 {
		return fmt.Errorf("elasticsearch sink: refresh index %s before the alias moves to it: %d: %.300s", to, status, body)
	}
	return s.updateAliases(ctx,
		map[string]any{"remove": map[string]string{"index": from, "alias": s.cfg.Alias}},
		map[string]any{"add": map[string]string{"index": to, "alias": s.cfg.Alias}})
}

// Drop deletes index destination; one that does not exist is not an error.
func (s *Sink) Drop(ctx context.Context, destination string) error {
	if destination == "" || destination == s.cfg.Alias || strings.ContainsAny(destination, "*?,") {
		return fmt.Errorf("elasticsearch sink: will not delete %q: name one index", destination)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	status, body, err := s.aliasRequest(ctx, http.MethodDelete, "/"+url.PathEscape(destination), nil)
	if err != nil {
		return fmt.Errorf("elasticsearch sink: delete index %s: %w", destination, err)
	}
	if status >= 300 && status != http.StatusNotFound {
		return fmt.Errorf("elasticsearch sink: delete index %s: %d: %.300s", destination, status, body)
	}
	return nil
}

// aliasRequest is mappingRequest with its retry marks removed: one attempt, bounded by RequestTimeout.
func (s *Sink) aliasRequest(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	status, answer, err := s.mappingRequest(ctx, method, path, body)
	var permanent *backoff.PermanentError
	if err != nil && errors.As(err, &permanent) {
		err = permanent.Err
	}
	return status, answer, err
}
