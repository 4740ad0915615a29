package elasticsearch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/secret"
)

// printableURLs lists URLs for messages, with any password removed.
func (c *Config) printableURLs() string {
	printable := make([]string, len(c.URLs))
	for i, u := range c.URLs {
		printable[i] = secret.RedactDSN(u)
	}
	return strings.Join(printable, ",")
}

// resolveSecrets expands the ${env:NAME} and ${file:PATH} references of the string settings that can
// hold them (package secret) and registers APIKey and Password, however they were given, as secrets.
func (c *Config) resolveSecrets() error {
	const component = "elasticsearch sink"
	for i := range c.URLs {
		if err := secret.ResolveField(component, fmt.Sprintf("URLs[%d]", i), &c.URLs[i], false); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name    string
		setting *string
		secret  bool
	}{{"Index", &c.Index, false}, {"ID", &c.ID, false}, {"Username", &c.Username, false},
		{"APIKey", &c.APIKey, true}, {"Password", &c.Password, true},
		{"CACertFile", &c.CACertFile, false}, {"CertificateFingerprint", &c.CertificateFingerprint, false}} {
		if err := secret.ResolveField(component, f.name, f.setting, f.secret); err != nil {
			return err
		}
	}
	if c.Password != "" {
		// The Authorization header's form, should a request ever be printed.
		secret.Register(base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password)))
	}
	return nil
}

// Config configures the Elasticsearch sink.
type Config struct {
	// URLs of Elasticsearch nodes (default http://127.0.0.1:9200).
	URLs []string
	// Flavor is the engine at URLs: "" (FlavorDetect, default) asks GET / at Open, FlavorElasticsearch or
	// FlavorOpenSearch require that engine and fail Open naming this field when another one answers. Both
	// get the same writes and guarantees (see Flavor); the examples read it from SLUICE_ES_FLAVOR.
	Flavor Flavor
	// Index names the target index: "{topic}" is replaced by the record's topic and "{field:PATH}" by a field
	// of the record value, e.g. "orders-{field:region}" (default "{topic}"). Names are lower-cased, as
	// Elasticsearch requires; a record without the field is rejected (dead-letter topic).
	Index string
	// Alias makes the sink write through an index alias of that name instead of into Index (set one of
	// the two): at Open, if neither an alias nor an index of that name exists, the sink creates the index
	// <Alias>-000001 (with Mappings, if set) and points the alias to it. An alias of one index, or with a
	// write index, takes writes; searches of the alias see its index. Writing through an alias is what
	// makes a zero-downtime rebuild possible (topology.Rebuild, `sluice rebuild`): a new index is filled
	// from the flow's topic while the old one serves, then the alias moves over atomically (see alias.go).
	// An existing index named Alias is refused: it cannot become an alias.
	Alias string
	// ID is the document id, a template: "{key}" is the record key (strings as they are, numbers in
	// decimal, a struct key's fields joined by "+", as a Debezium key of several columns), "{field:PATH}" a
	// field of the record value (nested by dots, e.g. {field:user.id}), "{topic}", "{partition}" and
	// "{offset}" the record's place in Kafka; literal text between them is kept. "{topic}+{partition}+{offset}"
	// (OffsetID) is Kafka Connect's key.ignore=true: every record is its own document, and a replay writes
	// the same ids, so it overwrites rather than duplicates. Default "{key}" (DefaultID).
	//
	// A record without what the template names (no key, no such field) is rejected (dead-letter topic),
	// naming the record and the field. With an id naming {offset}, a record without a value (a tombstone or
	// delete) has no document to delete and is skipped, as Connect's behavior.on.null.values=ignore does.
	// Leave ID empty only where keys identify documents (change data capture, a topic keyed by entity):
	// the sink refuses, at Validate, a flow whose input is keyed otherwise (see Sink.CheckShape).
	ID string
	// Mappings, when set, creates the index (Index must then have no template) with these mappings at
	// start-up if it does not exist, e.g. {"properties":{"amount":{"type":"scaled_float","scaling_factor":100}}};
	// no mapping is then derived from the records' schema (see IgnoreSchema).
	Mappings json.RawMessage
	// IgnoreSchema turns off what the sink does with records that carry a value schema (a struct, as the
	// json-schema and avro codecs decode it): by default it creates each index it writes into with a mapping
	// derived from the schema before the first write (or, for an existing index, adds missing fields and
	// warns about fields mapped with another type), and writes dates, timestamps and decimals in the form
	// that mapping parses (see the package documentation). With IgnoreSchema, documents are written as the
	// json codec writes them (dates as epoch numbers) and mapped by Elasticsearch's dynamic mapping, like
	// Kafka Connect's schema.ignore. An index with Mappings gets those, never a derived mapping.
	IgnoreSchema bool
	// DecimalMapping chooses the mapping and JSON form of Decimal fields: DecimalExact (default:
	// scaled_float when the precision is at most 15 digits, else keyword), DecimalKeyword or DecimalDouble.
	DecimalMapping DecimalMapping

	// APIKey (base64 "id:key") or Username and Password authenticate; CACertFile or
	// CertificateFingerprint (SHA-256 hex) pin the server's certificate for https URLs. These and URLs may
	// be written as ${env:NAME} or ${file:PATH} references (package secret); APIKey, Password and a URL's
	// password never appear in logs, errors, metrics or the API.
	APIKey                 string
	Username, Password     string
	CACertFile             string
	CertificateFingerprint string

	// Update sends partial updates (doc_as_upsert) instead of whole documents. Elasticsearch's update API
	// has no external versioning, so a replayed older update can then overwrite a newer one: leave it off
	// unless records carry partial documents.
	Update bool
	// Refresh is passed as the bulk request's refresh parameter: "" (default: none), "true" or "wait_for".
	Refresh string

	// MaxRequests is how many bulk requests of one batch are in flight at once (default 2). Documents are
	// spread over them by id, so one document id is never in two requests at once.
	MaxRequests int
	// MaxRequestBytes caps the body of one bulk request (default 5 MiB).
	MaxRequestBytes int
	// RequestTimeout bounds each HTTP request: a server that accepts the connection and then does not
	// answer (overloaded, paused, behind a dead proxy) fails the request after it, which is retried like a
	// connection failure (default 30s). Set it above the slowest bulk request a healthy cluster answers.
	RequestTimeout time.Duration
	// RetryTimeout bounds how long 429s, 5xx answers, timeouts and connection failures are retried without
	// progress, with exponential backoff and jitter, before the sink fails and stops the pipeline (default
	// 5m: long enough to ride out a server restart). A rebalance or a shutdown does not wait for it: the
	// engine cancels the write's context after a short drain, and the batch is delivered again.
	RetryTimeout time.Duration
	// Logger receives the sink's warnings while it retries: on the first failure of a write and then at
	// most every 30s, naming the host, index, attempt and last error, and its notes about index mappings.
	// Default: the logger of the pipeline that opens the sink (metrics.From of Open's context), or
	// slog.Default() outside a pipeline.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if err := c.resolveSecrets(); err != nil {
		return err
	}
	if len(c.URLs) == 0 {
		c.URLs = []string{"http://127.0.0.1:9200"}
	}
	for i, u := range c.URLs {
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return fmt.Errorf("elasticsearch sink: URLs[%d] %q is not an http(s) URL", i, secret.RedactDSN(u))
		}
		if pw, ok := parsed.User.Password(); ok {
			secret.Register(pw)
		}
	}
	if err := c.Flavor.validate(); err != nil {
		return err
	}
	if c.Alias != "" {
		if c.Index != "" && c.Index != c.Alias {
			return fmt.Errorf("elasticsearch sink: set Alias (%q) or Index (%q), not both", c.Alias, c.Index)
		}
		if strings.Contains(c.Alias, "{") || c.Alias != strings.ToLower(c.Alias) {
			return fmt.Errorf("elasticsearch sink: Alias %q must be a fixed lower-case name, not a template", c.Alias)
		}
		c.Index = c.Alias // documents are written to the alias
	}
	if c.Index == "" {
		c.Index = "{topic}"
	}
	if c.Index != strings.ToLower(c.Index) && !strings.Contains(c.Index, "{") {
		return fmt.Errorf("elasticsearch sink: Index %q must be lower case", c.Index)
	}
	if len(c.Mappings) > 0 {
		if strings.Contains(c.Index, "{") {
			return errors.New("elasticsearch sink: Mappings needs a fixed Index, not a template")
		}
		if !json.Valid(c.Mappings) {
			return errors.New("elasticsearch sink: Mappings is not valid JSON")
		}
	}
	switch c.DecimalMapping {
	case "":
		c.DecimalMapping = DecimalExact
	case DecimalExact, DecimalKeyword, DecimalDouble:
	default:
		return fmt.Errorf("elasticsearch sink: DecimalMapping %q is not one of exact, keyword, double", c.DecimalMapping)
	}
	switch c.Refresh {
	case "", "true", "false", "wait_for":
	default:
		return fmt.Errorf("elasticsearch sink: Refresh %q is not one of true, false, wait_for", c.Refresh)
	}
	if c.APIKey != "" && c.Username != "" {
		return errors.New("elasticsearch sink: set APIKey or Username/Password, not both")
	}
	if c.CertificateFingerprint != "" {
		if b, err := hex.DecodeString(c.CertificateFingerprint); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("elasticsearch sink: CertificateFingerprint %q is not a SHA-256 in hex (64 hex digits)", c.CertificateFingerprint)
		}
	}
	if c.CACertFile != "" {
		if _, err := os.Stat(c.CACertFile); err != nil {
			return fmt.Errorf("elasticsearch sink: CACertFile: %w", err)
		}
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 2
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 5 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.RetryTimeout <= 0 {
		c.RetryTimeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
