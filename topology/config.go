package topology

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/secret"
)

// Config says where a pipeline runs. The zero value is not valid; start from DefaultConfig or
// ConfigFromEnv.
type Config struct {
	// Brokers of an external Kafka cluster. Empty: Sluice runs its embedded broker (SLUICE_BROKERS).
	Brokers []string
	// BrokerAddr is where the embedded broker listens (SLUICE_BROKER_ADDR, default 127.0.0.1:9092;
	// port 0 picks a free one).
	BrokerAddr string
	// DataDir holds the embedded broker's topics and offsets (SLUICE_DATA_DIR, default ./sluice-data).
	// The running process locks it.
	DataDir string
	// HTTPAddr serves /metrics, /healthz, /readyz and the operator API (SLUICE_HTTP_ADDR, default
	// DefaultHTTPAddr; "off" disables). An address that is taken fails start-up naming it, except the
	// default while SLUICE_HTTP_ADDR is unset: then the pipeline listens on a free port of 127.0.0.1 and
	// logs which ("serving metrics and the operator API" with addr), so replicas started alike on one machine all run.
	HTTPAddr string
	// StallTimeout is how long a flow or source may have pending work without progress (a sink write that
	// does not return, records Kafka does not acknowledge) before it counts as stalled: /readyz answers 503
	// naming it, sluice_stalled is 1 and a warning is logged (SLUICE_STALL_TIMEOUT, default 30s).
	StallTimeout time.Duration
	// SessionTimeout is how long a silent replica keeps its partitions and tasks before the others take
	// them over (SLUICE_SESSION_TIMEOUT, default 10s, at least MinSessionTimeout).
	SessionTimeout time.Duration
	// Replication is the replication factor of topics Sluice creates (SLUICE_REPLICATION, default 1).
	Replication int
	// StartupTimeout bounds how long start-up waits for Kafka to answer each request (connect, metadata,
	// list and create topics, producers): past it RunWith fails naming the broker addresses and the request
	// (SLUICE_STARTUP_TIMEOUT, default 30s).
	StartupTimeout time.Duration
	// RetryTimeout is how long a running pipeline retries Kafka through transient failures (a broker
	// restart, a leader change, a moved group coordinator) before it gives up and stops with an error
	// naming the brokers (SLUICE_RETRY_TIMEOUT, default 5m).
	RetryTimeout time.Duration
	// Mode is how the pipeline runs (SLUICE_MODE): ModeStream (the default, also "") until it is stopped,
	// or ModeBatch: everything up to the end offsets present at start, then RunWith returns with a summary
	// logged (see batch.go and RunBatch).
	Mode Mode
	// DLQMaxAttempts is how many times a dead letter may fail (its first failure and each failed replay)
	// before it is quarantined: a replay then leaves it alone unless asked (SLUICE_DLQ_MAX_ATTEMPTS;
	// 0: DefaultDLQMaxAttempts, 3). See redrive.go.
	DLQMaxAttempts int
	// Logger receives the pipeline's logs, goka's and the connectors' included, every message and attribute
	// passed through secret.Redact (resolved ${env:}/${file:} values, passwords, API keys and DSN passwords
	// become ****) (the MySQL source's binlog
	// library logs through it too). Default: text to stderr, or JSON with SLUICE_LOG_FORMAT=json, at the
	// level SLUICE_LOG_LEVEL names: debug, info (default), warn or error; debug includes goka's own messages.
	Logger *slog.Logger
	// Registerer receives the pipeline's metrics (the sluice_* metrics of package metrics, and those
	// connectors and stages register through metrics.From(ctx).Registerer). Nil: the pipeline makes its own
	// registry, with the Go runtime and process collectors. They are unregistered when RunWith returns, so
	// one registry can serve runs one after another (two runs of pipelines with the same name at the same
	// time on one registry fail at start-up: their metrics collide).
	Registerer prometheus.Registerer
	// Gatherer is what /metrics serves when Registerer is set. Nil: Registerer itself when it is also a
	// Gatherer (a *prometheus.Registry is), else prometheus.DefaultGatherer for
	// prometheus.DefaultRegisterer; Validate refuses any other Registerer without a Gatherer.
	Gatherer prometheus.Gatherer
	// Kafka is the TLS and SASL of every Kafka client of the pipeline (processors, producers, admin,
	// views, the status and commands readers): the SLUICE_KAFKA_* variables. With no Brokers, the embedded
	// broker runs with the same settings (see KafkaSecurity). The zero value is plaintext without
	// authentication.
	Kafka KafkaSecurity

	// APIToken is the operator API's admin token, named "admin" in the audit log (SLUICE_API_TOKEN). With
	// neither it nor APITokensFile the API is open (see apiauth.go and docs/api.md).
	APIToken string
	// APITokensFile holds more tokens, one a line: `name role token`, role admin or read-only
	// (SLUICE_API_TOKENS_FILE).
	APITokensFile string
	// APIOpenPaths are the paths served without a token when tokens are configured
	// (SLUICE_API_OPEN_PATHS, comma-separated; nil: /healthz, /readyz, /metrics; "none": every path
	// needs a token).
	APIOpenPaths []string
	// HTTPTLSCertFile and HTTPTLSKeyFile (PEM) make the HTTP server speak HTTPS only
	// (SLUICE_HTTP_TLS_CERT_FILE, SLUICE_HTTP_TLS_KEY_FILE; both or neither).
	HTTPTLSCertFile, HTTPTLSKeyFile string

	// SchemaRegistryURL is the Confluent-compatible schema registry that codecs such as "avro" register
	// their schemas in (SLUICE_SCHEMA_REGISTRY_URL). Empty: the embedded registry, whose schemas live in the
	// compacted topic _sluice_schemas of the pipeline's own Kafka cluster (created at start-up only when a
	// topic uses such a codec) and whose REST API the operator API serves (docs/api.md).
	SchemaRegistryURL string
	// SchemaRegistryUsername and SchemaRegistryPassword are the HTTP Basic credentials of the external
	// registry (SLUICE_SCHEMA_REGISTRY_USERNAME, SLUICE_SCHEMA_REGISTRY_PASSWORD; ${env:}/${file:}
	// references resolve, and the password is redacted from every output).
	SchemaRegistryUsername, SchemaRegistryPassword string
	// SchemaRegistryCompatibility is the embedded registry's default compatibility level for subjects
	// without their own: BACKWARD (when empty), BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL,
	// FULL_TRANSITIVE or NONE (SLUICE_SCHEMA_REGISTRY_COMPATIBILITY).
	SchemaRegistryCompatibility string
}

// KafkaSecurity says how Kafka connections are encrypted and authenticated. Validate checks the
// combination, and start-up reads the files, each failure naming the field and its variable.
//
// With the embedded broker (no Brokers): TLS makes it serve TLS with a certificate for 127.0.0.1 and
// localhost signed by a CA that Sluice generates on the first start into DataDir/tls/ca.pem and keeps (the
// pipeline trusts it when TLSCAFile is empty; give it to other clients); SASL PLAIN or SCRAM makes
// SASLUsername/SASLPassword its superuser. It does not speak OAUTHBEARER.
type KafkaSecurity struct {
	// TLS encrypts every connection (SLUICE_KAFKA_TLS=true).
	TLS bool
	// TLSCAFile is a PEM file of the CAs that sign the brokers' certificates; empty: the system's roots
	// (SLUICE_KAFKA_TLS_CA_FILE).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client's PEM certificate and key, for brokers that require client
	// certificates (SLUICE_KAFKA_TLS_CERT_FILE, SLUICE_KAFKA_TLS_KEY_FILE); both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// TLSServerName is the name the brokers' certificates must carry; empty: the host of each address
	// (SLUICE_KAFKA_TLS_SERVER_NAME).
	TLSServerName string
	// TLSInsecureSkipVerify accepts any broker certificate: for tests only
	// (SLUICE_KAFKA_TLS_INSECURE_SKIP_VERIFY).
	TLSInsecureSkipVerify bool
	// SASLMechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; empty: no SASL
	// (SLUICE_KAFKA_SASL_MECHANISM).
	SASLMechanism string
	// SASLUsername and SASLPassword are the credentials of PLAIN and SCRAM (SLUICE_KAFKA_SASL_USERNAME,
	// SLUICE_KAFKA_SASL_PASSWORD). A password refused by Kafka fails start-up at once, naming the user and
	// the mechanism; it is not retried.
	SASLUsername string
	SASLPassword string
	// OAUTHBEARER: tokens come from an OAuth 2 client-credentials grant at OAuthTokenURL (client id and
	// secret in HTTP Basic authentication, each request within 10s) and are cached until a minute before
	// they expire (SLUICE_KAFKA_OAUTH_TOKEN_URL, SLUICE_KAFKA_OAUTH_CLIENT_ID,
	// SLUICE_KAFKA_OAUTH_CLIENT_SECRET, SLUICE_KAFKA_OAUTH_SCOPE; the scope may be empty).
	OAuthTokenURL     string
	OAuthClientID     string
	OAuthClientSecret string
	OAuthScope        string
}

// gatherer is what /metrics serves for a Registerer (see Config.Gatherer), nil when none is known.
func (c Config) gatherer() prometheus.Gatherer {
	if c.Gatherer != nil {
		return c.Gatherer
	}
	if g, ok := c.Registerer.(prometheus.Gatherer); ok {
		return g
	}
	if c.Registerer == prometheus.DefaultRegisterer {
		return prometheus.DefaultGatherer
	}
	return nil
}

// loggerFromEnv builds the default logger from SLUICE_LOG_FORMAT (text or json) and SLUICE_LOG_LEVEL; a
// malformed value is an error naming the variable.
func loggerFromEnv() (*slog.Logger, error) {
	var level slog.Level
	if v := os.Getenv("SLUICE_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("SLUICE_LOG_LEVEL: %w", err)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch v := os.Getenv("SLUICE_LOG_FORMAT"); strings.ToLower(v) {
	case "", "text":
		return slog.New(secret.NewHandler(slog.NewTextHandler(os.Stderr, opts))), nil
	case "json":
		return slog.New(secret.NewHandler(slog.NewJSONHandler(os.Stderr, opts))), nil
	default:
		return nil, fmt.Errorf("SLUICE_LOG_FORMAT: %q is neither text nor json", v)
	}
}

// MinSessionTimeout is the shortest SessionTimeout that works. After every rebalance goka waits a fixed 5s
// before it rejoins the group, without heartbeats; a shorter session makes the coordinator expire the
// member during that wait, and two replicas then evict each other forever instead of sharing the work.
const MinSessionTimeout = 7 * time.Second

// DefaultHTTPAddr is where a pipeline serves HTTP by default; when it is taken and SLUICE_HTTP_ADDR is
// unset, a free port of 127.0.0.1 is used instead (see Config.HTTPAddr).
const DefaultHTTPAddr = "127.0.0.1:8083"

// DefaultConfig returns the defaults: embedded broker on 127.0.0.1:9092 with ./sluice-data, HTTP on
// DefaultHTTPAddr.
func DefaultConfig() Config {
	return Config{
		BrokerAddr:     "127.0.0.1:9092",
		DataDir:        "sluice-data",
		HTTPAddr:       DefaultHTTPAddr,
		StallTimeout:   30 * time.Second,
		SessionTimeout: 10 * time.Second,
		Replication:    1,
		StartupTimeout: 30 * time.Second,
		RetryTimeout:   5 * time.Minute,
	}
}

// ConfigFromEnv returns DefaultConfig overridden by the SLUICE_* environment variables named on Config's
// fields. A malformed value is an error naming the variable.
func ConfigFromEnv() (Config, error) {
	c := DefaultConfig()
	if v := os.Getenv("SLUICE_BROKERS"); v != "" {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				c.Brokers = append(c.Brokers, b)
			}
		}
	}
	if v := os.Getenv("SLUICE_BROKER_ADDR"); v != "" {
		c.BrokerAddr = v
	}
	if v := os.Getenv("SLUICE_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := os.Getenv("SLUICE_HTTP_ADDR"); v != "" {
		c.HTTPAddr = v
	}
	if v := os.Getenv("SLUICE_STALL_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("SLUICE_STALL_TIMEOUT: %w", err)
		}
		c.StallTimeout = d
	}
	if v := os.Getenv("SLUICE_SESSION_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("SLUICE_SESSION_TIMEOUT: %w", err)
		}
		c.SessionTimeout = d
	}
	for name, field := range map[string]*time.Duration{"SLUICE_STARTUP_TIMEOUT": &c.StartupTimeout, "SLUICE_RETRY_TIMEOUT": &c.RetryTimeout} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c, fmt.Errorf("%s: %w", name, err)
			}
			*field = d
		}
	}
	if v := os.Getenv("SLUICE_REPLICATION"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return c, fmt.Errorf("SLUICE_REPLICATION: %w", err)
		}
		c.Replication = n
	}
	sec, err := kafka.SecurityFromEnv()
	if err != nil {
		return c, err
	}
	c.Kafka = KafkaSecurity(sec)
	if os.Getenv("SLUICE_LOG_LEVEL") != "" || os.Getenv("SLUICE_LOG_FORMAT") != "" {
		log, err := loggerFromEnv()
		if err != nil {
			return c, err
		}
		c.Logger = log
	}
	c.APIToken = os.Getenv("SLUICE_API_TOKEN")
	c.APITokensFile = os.Getenv("SLUICE_API_TOKENS_FILE")
	if v, ok := os.LookupEnv("SLUICE_API_OPEN_PATHS"); ok {
		c.APIOpenPaths = []string{}
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" && p != "none" {
				c.APIOpenPaths = append(c.APIOpenPaths, p)
			}
		}
	}
	c.HTTPTLSCertFile = os.Getenv("SLUICE_HTTP_TLS_CERT_FILE")
	c.HTTPTLSKeyFile = os.Getenv("SLUICE_HTTP_TLS_KEY_FILE")
	c.SchemaRegistryURL = os.Getenv("SLUICE_SCHEMA_REGISTRY_URL")
	c.SchemaRegistryUsername = os.Getenv("SLUICE_SCHEMA_REGISTRY_USERNAME")
	c.SchemaRegistryPassword = os.Getenv("SLUICE_SCHEMA_REGISTRY_PASSWORD")
	c.SchemaRegistryCompatibility = os.Getenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY")
	if err := dlqMaxAttemptsFromEnv(&c); err != nil { // redrive.go
		return c, err
	}
	if err := modeFromEnv(&c); err != nil { // batch.go
		return c, err
	}
	return c, c.Validate()
}

// Embedded reports whether the configuration runs the embedded broker.
func (c Config) Embedded() bool { return len(c.Brokers) == 0 }

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	if c.Embedded() {
		if c.BrokerAddr == "" {
			return errors.New("config: BrokerAddr (SLUICE_BROKER_ADDR) is empty and no Brokers are set")
		}
		if c.DataDir == "" {
			return errors.New("config: DataDir (SLUICE_DATA_DIR) is empty")
		}
	}
	if c.SessionTimeout < MinSessionTimeout {
		return fmt.Errorf("config: SessionTimeout (SLUICE_SESSION_TIMEOUT) must be at least %v (goka rejoins a group 5s after a rebalance), got %v",
			MinSessionTimeout, c.SessionTimeout)
	}
	if c.StartupTimeout <= 0 {
		return fmt.Errorf("config: StartupTimeout (SLUICE_STARTUP_TIMEOUT) must be positive, got %v", c.StartupTimeout)
	}
	if c.RetryTimeout <= 0 {
		return fmt.Errorf("config: RetryTimeout (SLUICE_RETRY_TIMEOUT) must be positive, got %v", c.RetryTimeout)
	}
	if c.StallTimeout <= 0 {
		return fmt.Errorf("config: StallTimeout (SLUICE_STALL_TIMEOUT) must be positive, got %v", c.StallTimeout)
	}
	if c.Registerer != nil && c.gatherer() == nil {
		return errors.New("config: Registerer is set but Gatherer is not, and the Registerer is no Gatherer: /metrics would have nothing to serve")
	}
	if c.Replication < 1 || c.Replication > 32767 {
		return fmt.Errorf("config: Replication (SLUICE_REPLICATION) must be between 1 and 32767, got %d", c.Replication)
	}
	if err := kafka.Security(c.Kafka).Validate(); err != nil {
		return err
	}
	if c.Embedded() && c.Kafka.SASLMechanism == kafka.SASLOAuthBearer {
		return errors.New("config: Kafka.SASLMechanism (SLUICE_KAFKA_SASL_MECHANISM) is OAUTHBEARER, which the embedded broker does not speak: set Brokers (SLUICE_BROKERS) or use PLAIN or SCRAM")
	}
	if (c.HTTPTLSCertFile == "") != (c.HTTPTLSKeyFile == "") {
		return errNoTLSPair // apiauth.go
	}
	for _, p := range c.APIOpenPaths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("config: APIOpenPaths (SLUICE_API_OPEN_PATHS): %q is not a path (want e.g. /healthz)", p)
		}
	}
	if err := c.Mode.validate(); err != nil { // batch.go
		return fmt.Errorf("config: Mode (SLUICE_MODE): %w", err)
	}
	if c.DLQMaxAttempts < 0 {
		return fmt.Errorf("config: DLQMaxAttempts (SLUICE_DLQ_MAX_ATTEMPTS) must be at least 1 (0: the default, %d), got %d", DefaultDLQMaxAttempts, c.DLQMaxAttempts)
	}
	return c.validateSchemaRegistry() // schemas.go
}
