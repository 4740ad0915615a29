// Package elasticsearch is a sink that indexes records into Elasticsearch with ordered, idempotent writes:
// a replay, a duplicate or an out-of-order delivery never makes a document older or duplicates it.
//
// How records become bulk operations:
//   - The document id is Config.ID, a template: by default the record key ("{key}": a struct key's fields
//     joined by "+"), else fields of the value ("{field:PATH}") or Kafka Connect's
//     "{topic}+{partition}+{offset}" for records whose keys do not identify documents.
//   - Create, update and snapshot records index the value as the whole document; delete events and
//     tombstones (nil values) delete it (with an id naming {offset} there is none to delete: they are
//     skipped). A record without the key or field its id needs is rejected (dead-letter topic), naming it.
//   - Every operation carries version_type=external with the record's version: the sluice.version header
//     when a source set it (monotonic across snapshot and streaming; sources/mysql sets it on every
//     record from the binlog position, and a topology's join passes on the greater version of its two
//     sides), else the Kafka offset (see VersionHeader). Elasticsearch keeps the highest version, deletes
//     included (as tombstones), so an older write answers 409 version_conflict_engine_exception, which the
//     sink counts as "already newer" (Stats.Conflicts, sluice_elasticsearch_documents_total{result=
//     "conflict"}) and acknowledges: never a dead letter.
//   - Within a batch only the last operation per document is sent (every one, in order, with Update), and a
//     document id is never in two requests at once, though several requests of a batch are in flight.
//
// OpenSearch: the sink writes to OpenSearch (tested against 2.19) the same way, with the same guarantees.
// Open asks GET / which engine answers (Config.Flavor can require one), logs the flavour and version, and
// for OpenSearch lets the go-elasticsearch client accept answers without X-Elastic-Product (see Flavor).
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
//
// # Writing through an alias
//
// With Config.Alias the sink writes through an index alias (creating <alias>-000001 behind it on first
// start), and implements sinks.Retargeter, so that topology.Rebuild (`sluice rebuild`, POST
// /pipelines/{name}/flows/{flow}/rebuild) can fill a new index from the flow's topic while the old one
// serves searches, then move the alias in one atomic _aliases call, after refreshing the new index (see
// alias.go).
//
// # Mappings from the schema
//
// A record whose value is a struct with a schema (as the json-schema and avro codecs decode Debezium's
// and Kafka Connect's records) is indexed by its schema, as Kafka Connect's Elasticsearch sink does
// (Mapping.inferMapping in confluentinc/kafka-connect-elasticsearch): before the first write into an index
// the sink has not seen with that schema, it creates the index with a mapping derived from the schema; if
// the index exists, it adds the fields the index lacks (PUT _mapping) and logs a warning, once, for each
// field the index maps with another type, naming the index, field, existing and wanted type. The index
// keeps its mapping (Elasticsearch cannot change a field's type), and such a field's values are written as
// the json codec writes them (epoch numbers, numeric decimals), the form an index built before from the
// same records takes, so that its documents are not refused. Indices from a template ({topic},
// {field:PATH}) each get their own. Config.Mappings wins: the index it creates gets no derived mapping.
// Config.IgnoreSchema turns all of this off. Field by field:
//
//	Schema (type, name)                                 Mapping                        Value written
//	int8, int16, int32, int64                           byte, short, integer, long     the number
//	float, double                                       float, double                  the number (NaN, ±Inf fail the record)
//	boolean                                             boolean                        true/false
//	string                                              text + keyword sub-field       the string
//	                                                    (fields.keyword, ignore_above 256, as dynamic mapping)
//	bytes                                               binary                         base64
//	struct                                              object with properties         an object
//	array                                               the element's mapping          an array
//	map                                                 object (dynamic)               an object (string keys)
//	Decimal (connect.decimal.precision <= 15)           scaled_float, scaling_factor   a JSON number with the scale's
//	                                                    10^scale (DecimalExact)        digits: "42.00"
//	Decimal, other precision or none                    keyword (DecimalExact)         a string: "12345678901234567890.12"
//	Decimal with DecimalKeyword / DecimalDouble         keyword / double               a string / a JSON number
//	io.debezium.data.VariableScaleDecimal (struct)      keyword                        a string: "-12345.6789"
//	Connect Date, io.debezium.time.Date                 date                           "2026-11-30"
//	Connect Timestamp, io.debezium.time.Timestamp       date                           "2026-11-30T15:07:15.123Z"
//	io.debezium.time.MicroTimestamp / NanoTimestamp     date                           "2026-11-30T15:07:15.123456Z" (UTC,
//	                                                                                   all digits kept in _source)
//	io.debezium.time.ZonedTimestamp (string)            date                           the string as it is
//	Connect Time                                        date (as Connect)              "1970-01-01T15:07:15.123Z"
//	io.debezium.time.Time / MicroTime / NanoTime        integer / long (as Connect)    the number of ms / µs / ns
//
// Differences from Kafka Connect's sink, and why: Connect maps Decimal as double (DecimalDouble does);
// here the default keeps the digits in the index too, since a double holds every decimal of at most 15
// significant digits exactly and Elasticsearch parses scaled_float values through a double. Connect knows
// no Debezium names, so it maps Debezium's dates and timestamps by their carrier type (int32/int64:
// integer/long) and writes epoch numbers; here they are dates. Micro- and nanosecond timestamps are mapped
// date rather than date_nanos, because date_nanos refuses anything before 1970 (a MySQL DATETIME goes back
// to year 1000) and after 2262: Elasticsearch indexes and queries them at millisecond precision while
// _source keeps every digit. Debezium's TIME types (a duration in MySQL: negative or beyond 24 h) stay
// numbers, as Connect leaves them. Connect's null_value for schema defaults is not set: a nil field with
// a default is written as the default.
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

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/stream"
)

// Sink writes to Elasticsearch. Create it with New.
type Sink struct {
	cfg    Config
	client *es.Client
	json   stream.Codec
	stats  stats
	hosts  string // the URLs' hosts, for logs

	// pipelineLogger: Config.Logger was not set, so Open takes the logger of the pipeline that opens the
	// sink (metrics.From).
	pipelineLogger bool
	lastRetryLog   atomic.Int64 // UnixNano of the last retry warning, shared by a write's lanes
	mappings       indexMappings
	id             *idTemplate // Config.ID compiled
	// createIndex: Open creates Config.Index and fails if it exists (a sink made by Retarget, alias.go).
	createIndex bool

	// openSearch: Open found OpenSearch (see Flavor); opened: Open has run its detection.
	openSearch, opened atomic.Bool
}

type stats struct {
	requests, indexed, deleted, conflicts, rejected, retries atomic.Int64
}

// Stats are the sink's counters since it was created.
//
// They also appear on the pipeline's /metrics (see package metrics): Open registers them with the
// registerer of metrics.From(ctx), as sluice_elasticsearch_requests_total, sluice_elasticsearch_retries_total
// and sluice_elasticsearch_documents_total{result="indexed"|"deleted"|"conflict"|"rejected"}.
type Stats struct {
	Requests  int64 // bulk requests sent, retries included
	Indexed   int64 // documents indexed
	Deleted   int64 // documents deleted (or absent already)
	Conflicts int64 // writes Elasticsearch already had a newer version of (409 with external versioning)
	Rejected  int64 // records refused as bad data
	Retries   int64 // bulk requests or items sent again after a 429, 5xx or connection failure
}

// New validates cfg and builds the client. It does not connect: Open does.
func New(cfg Config) (*Sink, error) {
	pipelineLogger := cfg.Logger == nil
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	id, err := parseID(cfg.ID)
	if err != nil {
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
	s := &Sink{cfg: cfg}
	// OpenSearch answers without the product header the client insists on (see Flavor).
	esCfg.Interceptors = []elastictransport.InterceptorFunc{s.openSearchInterceptor}
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
	s.client, s.json, s.hosts, s.pipelineLogger, s.id = client, codec, strings.Join(hosts, ","), pipelineLogger, id
	return s, nil
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
// Mappings if configured and missing, within RequestTimeout. It registers the sink's Stats as metrics with
// the registerer of metrics.From(ctx), the pipeline's /metrics when the engine opens it, and
// logs with the pipeline's logger unless Config.Logger is set.
func (s *Sink) Open(ctx context.Context) error {
	env := metrics.From(ctx)
	if s.pipelineLogger {
		s.cfg.Logger = env.Logger
	}
	if err := s.registerStats(env.Registerer); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.detectFlavor(ctx); err != nil {
		return err
	}
	s.opened.Store(true)
	switch { // alias.go
	case s.cfg.Alias != "":
		return s.openAlias(ctx)
	case s.createIndex:
		return s.createDestination(ctx, s.cfg.Index)
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
	res, err := s.client.Indices.Create(s.cfg.Index, s.client.Indices.Create.WithBody(bytes.NewReader(create)),
		s.client.Indices.Create.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("elasticsearch sink: create index %s: %w", s.cfg.Index, err)
	}
	body, _ := io.ReadAll(res.Body)
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
		Requests: s.stats.requests.Load(), Indexed: s.stats.indexed.Load(), Deleted: s.stats.deleted.Load(), Conflicts: s.stats.conflicts.Load(),
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
