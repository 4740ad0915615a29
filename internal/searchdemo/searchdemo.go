// Package searchdemo holds what the two shop-search examples (examples/mysql-to-es and
// examples/postgres-to-es) share around their pipelines: the Elasticsearch sink wrapped to measure
// insert-to-indexed latency, the progress reporter, the load generator (given its database's SQL dialect),
// and the start-up steps both runs take the same way. Each example keeps its topology declaration and its
// database's set-up in its own pipeline.go: they are what users read.
package searchdemo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/topology"
)

// Demo is what a demo run needs around its topology.
type Demo struct {
	Topology topology.Config
	ESURL    string // SLUICE_ES_URL; empty: the embedded server on ESAddr
	ESAddr   string // SLUICE_ES_ADDR
	Extras
}

// Run runs the demo until ctx ends, once its database is ready: it starts the embedded
// Elasticsearch-compatible server unless d.ESURL is set (its data in the topology's data dir), builds the
// topology with build for that Elasticsearch, starts the extras, and runs the topology. Each step says what
// it uses. It returns the topology's error (nil after a stop), or the first start-up failure.
func Run(ctx context.Context, d Demo, build func(esURL string) (*topology.Topology, *TimedSink, error), say func(string, ...any)) error {
	esURL, stopES, err := startElasticsearch(d.ESURL, d.ESAddr, d.Topology.DataDir, say)
	if err != nil {
		return err
	}
	defer stopES()
	t, sink, err := build(esURL)
	if err != nil {
		return err
	}
	cfg := d.Topology
	if cfg.Embedded() {
		// Port 0 picks a free port: pick it now, so that the address said below is the one to use.
		if cfg.BrokerAddr, err = broker.ResolveAddr(cfg.BrokerAddr); err != nil {
			return fmt.Errorf("SLUICE_BROKER_ADDR: %w", err)
		}
	}
	if cfg.Registerer == nil {
		// The progress line reads this process's metrics from the registry itself: right whichever HTTP
		// port the pipeline took, and also with SLUICE_HTTP_ADDR=off. /metrics serves the same registry.
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		cfg.Registerer = reg
	}
	start(ctx, cfg, sink, d.Extras, say)
	return t.RunWith(ctx, cfg)
}

// gathererOf is what serves cfg's metrics, as topology.Config.Gatherer says; nil when none is known.
func gathererOf(cfg topology.Config) prometheus.Gatherer {
	if cfg.Gatherer != nil {
		return cfg.Gatherer
	}
	if g, ok := cfg.Registerer.(prometheus.Gatherer); ok {
		return g
	}
	if cfg.Registerer == prometheus.DefaultRegisterer {
		return prometheus.DefaultGatherer
	}
	return nil
}

// startElasticsearch returns url when it is set (saying so); otherwise it starts the embedded
// Elasticsearch-compatible server on addr, with its data in dataDir/elasticsearch, and returns its URL and a
// function that closes it. stop is never nil.
func startElasticsearch(url, addr, dataDir string, say func(string, ...any)) (esURL string, stop func(), err error) {
	if url != "" {
		say("elastic:  %s", url)
		return url, func() {}, nil
	}
	srv, err := esserver.Start(esserver.Config{Addr: addr, DataDir: filepath.Join(dataDir, "elasticsearch")})
	if err != nil {
		return "", nil, fmt.Errorf("embedded Elasticsearch on %s (SLUICE_ES_ADDR): %w", addr, err)
	}
	esURL = srv.URL()
	say("elastic:  embedded Elasticsearch-compatible server at %s (try: curl '%s/orders/_search?pretty')", esURL, esURL)
	return esURL, func() { srv.Close() }, nil
}

// Extras are the optional parts of a demo run: the progress reporter and the load generator.
type Extras struct {
	Progress time.Duration // how often to print a progress line (0: never)
	Generate int           // changes per second of the load generator (0: none)
	Dialect  Dialect       // the generator's statements
	DSN      string        // the database the generator writes to
}

// start starts, until ctx ends, the progress reporter (reading cfg's metrics registry and sink) and the
// load generator as x asks, and says where Kafka is.
func start(ctx context.Context, cfg topology.Config, sink *TimedSink, x Extras, say func(string, ...any)) {
	if x.Progress > 0 {
		go Report(ctx, x.Progress, gathererOf(cfg), sink, say)
	}
	if x.Generate > 0 {
		say("load:     %d changes/s of orders and customers", x.Generate)
		go Generate(ctx, x.Dialect, x.DSN, x.Generate, say)
	}
	if cfg.Embedded() {
		say("kafka:    embedded broker on %s, data in %s", cfg.BrokerAddr, cfg.DataDir)
	} else {
		say("kafka:    %s", strings.Join(cfg.Brokers, ","))
	}
}

// Ping waits up to timeout for db to answer. A database that does not answer in time (down, black-holed)
// fails it with "no answer within", other failures as they are, each prefixed by where (the database's
// address, as the user configured it); ctx ending returns ctx.Err() as it is.
func Ping(ctx context.Context, db *sql.DB, timeout time.Duration, where string) error {
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	err := db.PingContext(pingCtx)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v", timeout)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// CreateDemo runs the schema statements (which must leave an existing schema as it stands), then, when
// shop.customers is empty, the demoData statements; all within 30 seconds.
func CreateDemo(ctx context.Context, db *sql.DB, schema, demoData []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create the demo schema: %w", err)
		}
	}
	var customers int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM shop.customers").Scan(&customers); err != nil {
		return err
	}
	if customers > 0 {
		return nil // the schema has data: work with it as it stands
	}
	for _, stmt := range demoData {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("insert the demo data: %w", err)
		}
	}
	return nil
}
