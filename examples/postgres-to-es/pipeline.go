package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/searchdemo"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	pgsource "github.com/sluicehq/sluice/sources/postgres"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"

	// The PostgreSQL driver for database/sql, registered as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
)

// env is the example's configuration: the topology's plus the PostgreSQL and Elasticsearch endpoints.
type env struct {
	topology    topology.Config
	postgresDSN string        // SLUICE_POSTGRES_DSN; empty: a private PostgreSQL in the data dir, database shop
	esURL       string        // SLUICE_ES_URL; empty: the embedded server on esAddr
	esAddr      string        // SLUICE_ES_ADDR
	slot        string        // the replication slot (one per pipeline on a server)
	generate    int           // -generate: changes per second of the built-in load generator (0: none)
	progress    time.Duration // how often to print a progress line (0: never)
}

// defaultSlot is the pipeline's replication slot; a slot belongs to one reader, so tests sharing a server
// give each run its own.
const defaultSlot = "sluice_shop_search"

func envFromOS() (env, error) {
	cfg, err := topology.ConfigFromEnv()
	e := env{topology: cfg, postgresDSN: os.Getenv("SLUICE_POSTGRES_DSN"), esURL: os.Getenv("SLUICE_ES_URL"),
		esAddr: os.Getenv("SLUICE_ES_ADDR"), slot: defaultSlot}
	if e.esAddr == "" {
		e.esAddr = "127.0.0.1:9200"
	}
	return e, err
}

// schema is the demo schema, in the schema shop of the DSN's database; it is created if missing and used as
// it stands otherwise.
var schema = []string{
	"CREATE SCHEMA IF NOT EXISTS shop",
	`CREATE TABLE IF NOT EXISTS shop.customers (id BIGSERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL,
		email VARCHAR(255) NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS shop.orders (id BIGSERIAL PRIMARY KEY, customer_id BIGINT NOT NULL,
		amount NUMERIC(12,2) NOT NULL, status VARCHAR(32) NOT NULL, created_at TIMESTAMP(6) NOT NULL)`,
}

// run starts what the environment does not provide, builds the topology and runs it until ctx ends.
func run(ctx context.Context, e env, say func(string, ...any)) error {
	dataDir := e.topology.DataDir
	dsn, err := secret.Resolve(e.postgresDSN) // ${env:NAME} / ${file:PATH} references
	if err != nil {
		return fmt.Errorf("SLUICE_POSTGRES_DSN: %w", err)
	}
	if dsn == "" {
		if _, err := postgres.FindBinDir(); err != nil {
			return fmt.Errorf("no SLUICE_POSTGRES_DSN and no PostgreSQL on this machine: %s, or set SLUICE_POSTGRES_DSN=postgres://user:pass@host:5432/db", postgres.InstallHint)
		}
		dir := filepath.Join(dataDir, "postgres")
		srv, err := postgres.Launch(ctx, postgres.DataDir(dir))
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while PostgreSQL was starting: a stop, not a failure
			}
			return err
		}
		defer srv.Stop()
		if err := createDatabase(ctx, srv.DB(), "shop"); err != nil {
			return err
		}
		dsn = srv.DSN("shop")
		say("postgres: private PostgreSQL (wal_level=logical) in %s, %s (try: psql '%s')", dir,
			fmt.Sprintf("127.0.0.1:%d", srv.Port), dsn)
	} else {
		say("postgres: %s", redact(dsn))
	}
	if err := createSchema(ctx, dsn); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for PostgreSQL: a stop, not a failure
		}
		return err
	}

	demo := searchdemo.Demo{Topology: e.topology, ESURL: e.esURL, ESAddr: e.esAddr,
		Extras: searchdemo.Extras{Progress: e.progress, Generate: e.generate, Dialect: generator, DSN: dsn}}
	return searchdemo.Run(ctx, demo, func(esURL string) (*topology.Topology, *searchdemo.TimedSink, error) {
		return build(dsn, e.slot, esURL)
	}, say)
}

// build declares the pipeline: change data capture of shop.customers and shop.orders from the replication
// slot into raw topics (kept intact), then, after Kafka, each order unwrapped, joined with its customer, and
// indexed.
func build(dsn, slot, esURL string) (*topology.Topology, *searchdemo.TimedSink, error) {
	cdc, err := pgsource.New(pgsource.Config{DSN: dsn, Tables: []string{"shop.customers", "shop.orders"},
		Slot: slot, Publication: "sluice_shop_search", TopicPrefix: "sluice", SnapshotMode: pgsource.SnapshotInitial})
	if err != nil {
		return nil, nil, err
	}
	unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	if err != nil {
		return nil, nil, err
	}
	es, err := elasticsearch.New(elasticsearch.Config{URLs: []string{esURL}, Index: "orders"})
	if err != nil {
		return nil, nil, err
	}
	index := &searchdemo.TimedSink{Sink: es} // measures insert->indexed latency for the progress lines

	t := topology.New("pg-shop-search")
	changes := func(name string) *topology.Topic {
		return t.Topic(name, topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"), topology.Partitions(2))
	}
	customers, orders := changes(cdc.Topic("shop.customers")), changes(cdc.Topic("shop.orders"))
	t.Source("cdc", cdc).ToRecordTopics() // each table's records go to its own topic

	customerRows := t.Table("customers", customers).Via(unwrap)
	withCustomer, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		return nil, nil, err
	}
	t.Flow("orders-index").From(orders).Via(unwrap).Join(customerRows, withCustomer).To(index, topology.Linger(5*time.Millisecond))
	return t, index, t.Validate()
}

// postgresConnectTimeout bounds the first connection to PostgreSQL (the source's default ConnectTimeout).
const postgresConnectTimeout = 10 * time.Second

// createDatabase creates database name on the private server unless it exists.
func createDatabase(ctx context.Context, db *sql.DB, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("private PostgreSQL: look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`" ENCODING 'UTF8'`); err != nil {
		return fmt.Errorf("private PostgreSQL: create database %s: %w", name, err)
	}
	return nil
}

// createSchema creates the demo schema, and its data when empty. A PostgreSQL that does not answer within
// postgresConnectTimeout (down, black-holed) fails it naming the address; so does ctx ending.
func createSchema(ctx context.Context, dsn string) error {
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("SLUICE_POSTGRES_DSN: %s", strings.ReplaceAll(err.Error(), dsn, redact(dsn)))
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	where := fmt.Sprintf("PostgreSQL at %s:%d (SLUICE_POSTGRES_DSN) as %q, database %q", pc.Host, pc.Port, pc.User, pc.Database)
	if err := searchdemo.Ping(ctx, db, postgresConnectTimeout, where); err != nil {
		return err
	}
	return searchdemo.CreateDemo(ctx, db, schema, demoData)
}

// demoData fills an empty demo schema, so that a first run has something to index.
var demoData = []string{
	`INSERT INTO shop.customers (name, email) VALUES ('Ada Lovelace', 'ada@example.com'),
		('Grace Hopper', 'grace@example.com'), ('Alan Turing', 'alan@example.com')`,
	`INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES
		(1, 42.00, 'paid', now() AT TIME ZONE 'UTC'), (1, 17.50, 'new', now() AT TIME ZONE 'UTC'),
		(2, 99.90, 'shipped', now() AT TIME ZONE 'UTC'), (3, 5.25, 'new', now() AT TIME ZONE 'UTC'),
		(2, 250.00, 'paid', now() AT TIME ZONE 'UTC')`,
}

// generator is the load generator's SQL (-generate) in PostgreSQL's dialect: created_at is the statement's
// own clock in UTC, and a random row is picked by a subquery (PostgreSQL has no UPDATE/DELETE ... LIMIT).
var generator = searchdemo.Dialect{
	Driver: "pgx",
	NewOrder: `INSERT INTO shop.orders (customer_id, amount, status, created_at)
		SELECT id, %d.%02d, 'new', clock_timestamp() AT TIME ZONE 'UTC' FROM shop.customers ORDER BY random() LIMIT 1`,
	PayOrder:       "UPDATE shop.orders SET status = 'paid' WHERE id = (SELECT id FROM shop.orders WHERE status = 'new' ORDER BY random() LIMIT 1)",
	DeleteOrder:    "DELETE FROM shop.orders WHERE id = (SELECT id FROM shop.orders ORDER BY random() LIMIT 1)",
	NewCustomer:    "INSERT INTO shop.customers (name, email) VALUES ('Customer %d', 'c%d@example.com')",
	RenameCustomer: "UPDATE shop.customers SET name = 'Renamed %d' WHERE id = (SELECT id FROM shop.customers ORDER BY random() LIMIT 1)",
}

// redact hides a DSN's password (URL or key=value form).
func redact(dsn string) string { return secret.RedactDSN(dsn) }
