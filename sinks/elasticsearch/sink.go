// Package elasticsearch is a sink that indexes records into Elasticsearch with ordered, idempotent writes:
// a replay, a duplicate or an out-of-order delivery never makes a document older or duplicates it.
//
// How records become bulk operations:
//   - The document id is the record key (see documentID: a struct key's fields joined by "+").
//   - Create, update and snapshot records index the value as the whole document; delete events and
//     tombstones (nil values) delete it.
//   - Every operation carries version_type=external with the record's version: the sluice.version header
//     when a source set it (monotonic across snapshot and streaming), else the Kafka offset. Elasticsearch
//     keeps the highest version, deletes included (as tombstones), so an older write answers 409
//     version_conflict_engine_exception, which the sink counts as "already newer" and acknowledges.
//   - Within a batch only the last operation per document is sent (every one, in order, with Update), and a
//     document id is never in two requests at once, though several requests of a batch are in flight.
//
// Errors: 429s and 5xx answers (of a whole request or of single items), requests without an answer within
// RequestTimeout and connection failures are retried with exponential backoff and jitter
// (github.com/cenkalti/backoff/v4) until RetryTimeout, with a warning on the first failure and then every
// 30s; the engine sees each retry (sinks.ReportRetry) and a cancelled write context stops them. The
// go-elasticsearch client's own retries are off, so the two layers never multiply. Items refused as
// bad data (400: mapping conflicts, unparsable documents) are reported as sinks.RejectedError so that the
// flow sends them to its dead-letter topic with the reason, index and id in headers; anything else fails
// the sink. Write returns only when every record is acknowledged, so offsets are committed after
// Elasticsearch acknowledged the writes.
package elasticsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/stream"
)

// Sink writes to Elasticsearch. Create it with New.
type Sink struct {
	cfg    Config
	client *es.Client
	json   stream.Codec
	stats  stats
	hosts  string // the URLs' hosts, for logs

	lastRetryLog atomic.Int64 // UnixNano of the last retry warning, shared by a write's lanes
	mappings     indexMappings
}

type stats struct {
	indexed, deleted, conflicts, rejected, retries atomic.Int64
}

// Stats are the sink's counters since it was created.
type Stats struct {
	Indexed   int64 // documents indexed
	Deleted   int64 // documents deleted (or absent already)
	Conflicts int64 // writes Elasticsearch already had a newer version of (409 with external versioning)
	Rejected  int64 // records refused as bad data
	Retries   int64 // bulk requests or items sent again after a 429, 5xx or connection failure
}

// New validates cfg and builds the client. It does not connect: Open does.
func New(cfg Config) (*Sink, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	esCfg := es.Config{
		Addresses:    cfg.URLs,
		APIKey:       cfg.APIKey,
		Username:     cfg.Username,
		Password:     cfg.Password,
		DisableRetry: true, // the sink retries, with backoff
		// Besides each request's context deadline, a server that takes the request and never answers is
		// cut off at the transport.
		Transport: newTransport(cfg),
	}
	if cfg.CACertFile != "" {
		ca, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch sink: CACertFile: %w", err)
		}
		esCfg.CACert = ca
	}
	client, err := es.NewClient(esCfg)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink: %w", err)
	}
	codec, err := stream.LookupCodec("json")
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, u := range cfg.URLs {
		parsed, _ := url.Parse(u) // validated by setDefaults
		hosts = append(hosts, parsed.Host)
	}
	return &Sink{cfg: cfg, client: client, json: codec, hosts: strings.Join(hosts, ",")}, nil
}

// newTransport is the HTTP transport of the sink's client: Go's default (30s to connect) with
// RequestTimeout to wait for response headers. With CertificateFingerprint it pins the server's
// certificate in a TLS dial that honours the request's context; go-elasticsearch's own pinning dials with
// tls.Dial, without a deadline, which hangs on a server that accepts and never answers.
func newTransport(cfg Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = cfg.RequestTimeout
	if cfg.CertificateFingerprint != "" {
		want, _ := hex.DecodeString(cfg.CertificateFingerprint) // validated by setDefaults
		dialer := &tls.Dialer{
			NetDialer: &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
			Config: &tls.Config{
				InsecureSkipVerify: true, // the pinned fingerprint is the verification
				VerifyConnection: func(cs tls.ConnectionState) error {
					for _, cert := range cs.PeerCertificates {
						if sum := sha256.Sum256(cert.Raw); bytes.Equal(sum[:], want) {
							return nil
						}
					}
					return fmt.Errorf("no certificate of the server matches the pinned fingerprint %s (CertificateFingerprint)", cfg.CertificateFingerprint)
				},
			},
		}
		t.DialTLSContext = dialer.DialContext
	}
	return t
}

// String names the sink for the engine's logs and /readyz: "elasticsearch index INDEX at HOSTS".
func (s *Sink) String() string {
	return fmt.Sprintf("elasticsearch index %s at %s", s.cfg.Index, s.hosts)
}

// Open checks that Elasticsearch answers (and accepts the credentials), and creates the index with
// Mappings if configured and missing, within RequestTimeout.
func (s *Sink) Open(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.client.Info(s.client.Info.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("elasticsearch sink: cannot reach %s: %w", strings.Join(s.cfg.URLs, ","), err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("elasticsearch sink: %s answered %s: %s", strings.Join(s.cfg.URLs, ","), res.Status(), body)
	}
	if len(s.cfg.Mappings) == 0 {
		return nil
	}
	exists, err := s.client.Indices.Exists([]string{s.cfg.Index}, s.client.Indices.Exists.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("elasticsearch sink: check index %s: %w", s.cfg.Index, err)
	}
	exists.Body.Close()
	if exists.StatusCode == http.StatusOK {
		return nil
	}
	create, err := json.Marshal(map[string]json.RawMessage{"mappings": s.cfg.Mappings})
	if err != nil {
		return err
	}
	res, err = s.client.Indices.Create(s.cfg.Index, s.client.Indices.Create.WithBody(bytes.NewReader(create)),
		s.client.Indices.Create.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("elasticsearch sink: create index %s: %w", s.cfg.Index, err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.IsError() && !strings.Contains(string(body), "resource_already_exists_exception") {
		return fmt.Errorf("elasticsearch sink: create index %s: %s: %s", s.cfg.Index, res.Status(), body)
	}
	return nil
}

// Close releases nothing: the client holds no state beyond its connection pool.
func (s *Sink) Close() error { return nil }

// Stats returns the sink's counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Indexed: s.stats.indexed.Load(), Deleted: s.stats.deleted.Load(), Conflicts: s.stats.conflicts.Load(),
		Rejected: s.stats.rejected.Load(), Retries: s.stats.retries.Load(),
	}
}

// indexFor resolves the Index template for a record: {topic} is the record's topic, {field:PATH} the value
// of a field of the record value (dot-separated path).
func (s *Sink) indexFor(r *stream.Record) (string, error) {
	name := strings.ReplaceAll(s.cfg.Index, "{topic}", r.Topic)
	for {
		start := strings.Index(name, "{field:")
		if start < 0 {
			break
		}
		end := strings.IndexByte(name[start:], '}')
		if end < 0 {
			return "", fmt.Errorf("index template %q: unclosed {field:", s.cfg.Index)
		}
		path := name[start+len("{field:") : start+end]
		v, ok := stream.FieldOf(r.Value, path)
		if !ok || v == nil {
			return "", fmt.Errorf("index template %q: the record has no field %q", s.cfg.Index, path)
		}
		text, err := stream.KeyString(v)
		if err != nil {
			return "", fmt.Errorf("index template %q: field %q: %w", s.cfg.Index, path, err)
		}
		name = name[:start] + text + name[start+end+1:]
	}
	return strings.ToLower(name), nil
}
