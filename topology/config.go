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
	// logs which ("serving metrics" with addr), so replicas started alike on one machine all run.
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
	// Logger receives the pipeline's logs, goka's and the connectors' included (the MySQL source's binlog
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
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
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
	if os.Getenv("SLUICE_LOG_LEVEL") != "" || os.Getenv("SLUICE_LOG_FORMAT") != "" {
		log, err := loggerFromEnv()
		if err != nil {
			return c, err
		}
		c.Logger = log
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
	return nil
}
