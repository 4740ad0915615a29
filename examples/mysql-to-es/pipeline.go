package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/sluicehq/sluice/internal/mariadb"
	"github.com/sluicehq/sluice/internal/searchdemo"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// env is the example's configuration: the topology's plus the MySQL and Elasticsearch endpoints.
type env struct {
	topology topology.Config
	mysqlDSN string // SLUICE_MYSQL_DSN; empty: a private MariaDB in the data dir
	esURL    string // SLUICE_ES_URL; empty: the embedded server on esAddr
	esFlavor string // SLUICE_ES_FLAVOR: elasticsearch, opensearch, or empty to detect (elasticsearch.Config.Flavor)
	esAddr   string // SLUICE_ES_ADDR
	serverID uint32
	codec    string        // SLUICE_CODEC: the codec of every topic's keys and values (json-schema, the default, or avro)
	generate int           // -generate: changes per second of the built-in load generator (0: none)
	progress time.Duration // how often to print a progress line (0: never)
}

func envFromOS() (env, error) {
	cfg, err := topology.ConfigFromEnv()
	e := env{topology: cfg, mysqlDSN: os.Getenv("SLUICE_MYSQL_DSN"), esURL: os.Getenv("SLUICE_ES_URL"),
		esFlavor: os.Getenv("SLUICE_ES_FLAVOR"), esAddr: os.Getenv("SLUICE_ES_ADDR"), serverID: 5401, codec: os.Getenv("SLUICE_CODEC")}
	if e.esAddr == "" {
		e.esAddr = "127.0.0.1:9200"
	}
	if err == nil {
		err = checkCodec(e.codec)
	}
	return e, err
}

// Codecs the example's topics can use (SLUICE_CODEC).
const (
	codecJSONSchema = "json-schema" // Kafka Connect's JSON with its schema in each record (the default)
	codecAvro       = "avro"        // Avro in Confluent's wire format, schemas in the schema registry
)

// checkCodec refuses a SLUICE_CODEC that is neither json-schema nor avro.
func checkCodec(codec string) error {
	switch codec {
	case "", codecJSONSchema, codecAvro:
		return nil
	}
	return fmt.Errorf("SLUICE_CODEC: %q is neither %s (the default) nor %s", codec, codecJSONSchema, codecAvro)
}

// schema is the demo schema; it is created if missing and used as it stands otherwise.
var schema = []string{
	"CREATE DATABASE IF NOT EXISTS shop",
	`CREATE TABLE IF NOT EXISTS shop.customers (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(255) NOT NULL,
		email VARCHAR(255) NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS shop.orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, customer_id BIGINT NOT NULL,
		amount DECIMAL(12,2) NOT NULL, status VARCHAR(32) NOT NULL, created_at DATETIME(6) NOT NULL)`,
}

// run starts what the environment does not provide, builds the topology and runs it until ctx ends.
func run(ctx context.Context, e env, say func(string, ...any)) error {
	dataDir := e.topology.DataDir
	dsn, err := secret.Resolve(e.mysqlDSN) // ${env:NAME} / ${file:PATH} references
	if err != nil {
		return fmt.Errorf("SLUICE_MYSQL_DSN: %w", err)
	}
	if dsn == "" {
		if _, err := exec.LookPath("mariadb-install-db"); err != nil {
			return errors.New("no SLUICE_MYSQL_DSN and no MariaDB on this machine: apt-get install mariadb-server, or set SLUICE_MYSQL_DSN=user:pass@tcp(host:3306)/")
		}
		db, err := mariadb.Launch(ctx, mariadb.DataDir(filepath.Join(dataDir, "mariadb")))
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while MariaDB was starting: a stop, not a failure
			}
			return err
		}
		defer db.Stop()
		dsn = db.DSN("")
		say("mysql:    private MariaDB (binlog on) in %s, %s (the same port at each start while it is free)", filepath.Join(dataDir, "mariadb"), strings.SplitN(dsn, "/", 2)[0])
		say("mysql:    %s", db.ClientCommand("shop"))
	} else {
		say("mysql:    %s", redact(dsn))
	}
	if err := checkCodec(e.codec); err != nil {
		return err
	}
	if err := createSchema(ctx, dsn); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for MySQL: a stop, not a failure
		}
		return err
	}

	demo := searchdemo.Demo{Topology: e.topology, ESURL: e.esURL, ESAddr: e.esAddr,
		Extras: searchdemo.Extras{Progress: e.progress, Generate: e.generate, Dialect: generator, DSN: dsn}}
	return searchdemo.Run(ctx, demo, func(esURL string) (*topology.Topology, *searchdemo.TimedSink, error) {
		return buildWith(dsn, e.serverID, esURL, e.codec, elasticsearch.Flavor(e.esFlavor))
	}, say)
}

// build declares the pipeline with the default codec (json-schema); see buildWith.
func build(dsn string, serverID uint32, esURL string) (*topology.Topology, *searchdemo.TimedSink, error) {
	return buildWith(dsn, serverID, esURL, codecJSONSchema, elasticsearch.FlavorDetect)
}

// buildWith declares the pipeline: change data capture of shop.customers and shop.orders into raw topics
// (kept intact) whose keys and values use codec ("" is json-schema), then, after Kafka, each order
// unwrapped, joined with its customer, and indexed. With avro, every schema is registered in the schema
// registry under <topic>-key and <topic>-value, and a schema change that the subject's compatibility rule
// refuses stops the source at the row that carries it (nothing after it enters Kafka). esFlavor is the
// search engine's (elasticsearch.Config.Flavor; FlavorDetect asks it).
func buildWith(dsn string, serverID uint32, esURL, codec string, esFlavor elasticsearch.Flavor) (*topology.Topology, *searchdemo.TimedSink, error) {
	if codec == "" {
		codec = codecJSONSchema
	}
	cdc, err := mysql.New(mysql.Config{DSN: dsn, ServerID: serverID, Tables: []string{"shop.customers", "shop.orders"},
		TopicPrefix: "sluice", SnapshotMode: mysql.SnapshotInitial})
	if err != nil {
		return nil, nil, err
	}
	unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	if err != nil {
		return nil, nil, err
	}
	es, err := elasticsearch.New(elasticsearch.Config{URLs: []string{esURL}, Index: "orders", Flavor: esFlavor})
	if err != nil {
		return nil, nil, err
	}
	index := &searchdemo.TimedSink{Sink: es} // measures insert->indexed latency for the progress lines

	t := topology.New("shop-search")
	changes := func(name string) *topology.Topic {
		return t.Topic(name, topology.KeyCodec(codec), topology.ValueCodec(codec), topology.Partitions(2))
	}
	customers, orders := changes(cdc.Topic("shop.customers")), changes(cdc.Topic("shop.orders"))
	t.Topic(cdc.SchemaChangeTopic(), topology.KeyCodec(codec), topology.ValueCodec(codec))
	t.Source("cdc", cdc).ToRecordTopics() // each table's records go to its own topic

	customerRows := t.Table("customers", customers).Via(unwrap)
	withCustomer, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		return nil, nil, err
	}
	t.Flow("orders-index").From(orders).Via(unwrap).Join(customerRows, withCustomer).To(index, topology.Linger(5*time.Millisecond))
	return t, index, t.Validate()
}

// mysqlConnectTimeout bounds the first connection to MySQL (the source's default ConnectTimeout).
const mysqlConnectTimeout = 10 * time.Second

// createSchema creates the demo schema, and its data when empty. A MySQL that does not answer within
// mysqlConnectTimeout (down, black-holed) fails it naming the address; so does ctx ending.
func createSchema(ctx context.Context, dsn string) error {
	dc, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("SLUICE_MYSQL_DSN: %w", err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	where := fmt.Sprintf("MySQL at %s %s (SLUICE_MYSQL_DSN) as %q", dc.Net, dc.Addr, dc.User)
	if err := searchdemo.Ping(ctx, db, mysqlConnectTimeout, where); err != nil {
		return err
	}
	return searchdemo.CreateDemo(ctx, db, schema, demoData)
}

// demoData fills an empty demo schema, so that a first run has something to index.
var demoData = []string{
	`INSERT INTO shop.customers (name, email) VALUES ('Ada Lovelace', 'ada@example.com'),
		('Grace Hopper', 'grace@example.com'), ('Alan Turing', 'alan@example.com')`,
	`INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES
		(1, 42.00, 'paid', NOW(6)), (1, 17.50, 'new', NOW(6)), (2, 99.90, 'shipped', NOW(6)),
		(3, 5.25, 'new', NOW(6)), (2, 250.00, 'paid', NOW(6))`,
}

// generator is the load generator's SQL (-generate) in MySQL's dialect.
var generator = searchdemo.Dialect{
	Driver: "mysql",
	NewOrder: `INSERT INTO shop.orders (customer_id, amount, status, created_at)
		SELECT id, %d.%02d, 'new', NOW(6) FROM shop.customers ORDER BY RAND() LIMIT 1`,
	PayOrder:       "UPDATE shop.orders SET status = 'paid' WHERE status = 'new' ORDER BY RAND() LIMIT 1",
	DeleteOrder:    "DELETE FROM shop.orders ORDER BY RAND() LIMIT 1",
	NewCustomer:    "INSERT INTO shop.customers (name, email) VALUES ('Customer %d', 'c%d@example.com')",
	RenameCustomer: "UPDATE shop.customers SET name = CONCAT('Renamed ', %d) ORDER BY RAND() LIMIT 1",
}

// redact hides a DSN's password.
func redact(dsn string) string { return secret.RedactDSN(dsn) }
