package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
)

// Flavor names the search engine the sink writes to.
//
// Elasticsearch and OpenSearch speak the same protocol for everything the sink sends (GET /, HEAD and PUT
// of an index with its mappings, GET and PUT _mapping, _bulk with version_type=external and refresh; checked
// against OpenSearch 2.19), so both flavours take the same path with the same guarantees: external versions,
// ordering per document id, retries of 429s and 5xx, rejections to the dead-letter topic. What differs is
// the go-elasticsearch client's product check: it refuses every answer of a server that does not send
// X-Elastic-Product: Elasticsearch, which OpenSearch never sends. For a server that is OpenSearch (detected
// or configured) the sink adds that header to the answers its client reads, through the client's
// documented interceptor hook, and nothing else changes. A server that is neither is refused at Open.
type Flavor string

const (
	// FlavorDetect (the zero value) asks the server at Open: GET / answers version.distribution
	// "opensearch" on OpenSearch; anything else is taken for Elasticsearch.
	FlavorDetect Flavor = ""
	// FlavorElasticsearch requires Elasticsearch (or the embedded server): Open fails against OpenSearch.
	FlavorElasticsearch Flavor = "elasticsearch"
	// FlavorOpenSearch requires OpenSearch: Open fails against Elasticsearch.
	FlavorOpenSearch Flavor = "opensearch"
)

// productHeader is the header go-elasticsearch requires on 2xx answers (its genuineCheckHeader).
const productHeader = "X-Elastic-Product"

// compatibleWith8 is the media type go-elasticsearch sends in compatibility mode
// (ELASTIC_CLIENT_APIVERSIONING=true); OpenSearch refuses it.
const compatibleWith8 = "application/vnd.elasticsearch+json;compatible-with=8"

func (f Flavor) validate() error {
	switch f {
	case FlavorDetect, FlavorElasticsearch, FlavorOpenSearch:
		return nil
	}
	return fmt.Errorf("elasticsearch sink: Flavor %q is not one of elasticsearch, opensearch (or empty to detect)", string(f))
}

// openSearchInterceptor is the client's interceptor: once Open has found OpenSearch, it marks OpenSearch's
// successful answers as the product the client checks for, and turns the client's Elasticsearch-only
// compatibility media type back into plain JSON. Before that (and for Elasticsearch) it passes everything
// through unchanged.
func (s *Sink) openSearchInterceptor(next elastictransport.RoundTripFunc) elastictransport.RoundTripFunc {
	return func(req *http.Request) (*http.Response, error) {
		if !s.openSearch.Load() {
			return next(req)
		}
		for _, h := range []string{"Content-Type", "Accept"} {
			if req.Header.Get(h) == compatibleWith8 {
				req.Header.Set(h, "application/json")
			}
		}
		res, err := next(req)
		if err == nil && res.StatusCode >= 200 && res.StatusCode < 300 && res.Header.Get(productHeader) == "" {
			res.Header.Set(productHeader, "Elasticsearch")
		}
		return res, err
	}
}

// serverInfo is what GET / tells about the server.
type serverInfo struct {
	Version struct {
		Number       string `json:"number"`
		Distribution string `json:"distribution"`
	} `json:"version"`
	product string // the X-Elastic-Product header
}

// detectFlavor asks GET / (through the client's transport: its URLs, credentials and TLS, without the
// product check) which engine answers, checks it against Config.Flavor, switches the OpenSearch handling
// on when it is OpenSearch, and logs the flavour and version.
func (s *Sink) detectFlavor(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return err
	}
	res, err := s.client.Transport.Perform(req)
	if err != nil {
		return fmt.Errorf("elasticsearch sink: cannot reach %s: %w", s.cfg.printableURLs(), err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return fmt.Errorf("elasticsearch sink: cannot reach %s: reading GET /: %w", s.cfg.printableURLs(), err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("elasticsearch sink: %s answered %s: %s", s.cfg.printableURLs(), res.Status, truncate(string(body), 500))
	}
	var info serverInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return fmt.Errorf("elasticsearch sink: %s is not Elasticsearch or OpenSearch: GET / answered %s", s.cfg.printableURLs(), truncate(string(body), 200))
	}
	info.product = res.Header.Get(productHeader)
	found, err := s.cfg.flavorOf(info)
	if err != nil {
		return err
	}
	s.openSearch.Store(found == FlavorOpenSearch)
	s.cfg.Logger.Info("elasticsearch sink connected", "sink", "elasticsearch", "host", s.hosts,
		"flavor", string(found), "version", info.Version.Number, "configured_flavor", string(s.cfg.Flavor))
	return nil
}

// flavorOf decides the flavour from GET /'s answer and Config.Flavor.
func (c *Config) flavorOf(info serverInfo) (Flavor, error) {
	found := FlavorElasticsearch
	if strings.EqualFold(info.Version.Distribution, "opensearch") {
		found = FlavorOpenSearch
	}
	switch {
	case c.Flavor != FlavorDetect && c.Flavor != found:
		return "", fmt.Errorf("elasticsearch sink: Flavor is %s, but %s is %s %s", c.Flavor, c.printableURLs(), found, info.Version.Number)
	case found == FlavorElasticsearch && info.product != "Elasticsearch":
		return "", fmt.Errorf("elasticsearch sink: %s is neither Elasticsearch (GET / has no %s: Elasticsearch header) nor OpenSearch (version.distribution %q, version %q)",
			c.printableURLs(), productHeader, info.Version.Distribution, info.Version.Number)
	}
	return found, nil
}

// Flavor is the engine Open found: FlavorElasticsearch or FlavorOpenSearch (FlavorDetect before Open).
func (s *Sink) Flavor() Flavor {
	if !s.opened.Load() {
		return FlavorDetect
	}
	if s.openSearch.Load() {
		return FlavorOpenSearch
	}
	return FlavorElasticsearch
}
