package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/internal/searchdemotest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	srv, err := pgtest.Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = srv
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

// shopDB is a test's own database on the shared server with the demo schema (no rows), and a pool on it.
type shopDB struct {
	dsn string
	db  *sql.DB
}

func newShop(t *testing.T, name string) *shopDB {
	t.Helper()
	dsn := pg.CreateDatabase(t, name)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &shopDB{dsn: dsn, db: db}
	s.exec(t, schema...)
	return s
}

func (s *shopDB) exec(t *testing.T, statements ...string) {
	t.Helper()
	for _, q := range statements {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := s.db.ExecContext(ctx, q)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// wantDocs reads the expected document of every order from PostgreSQL: the order's columns and its customer.
func (s *shopDB) wantDocs(t testing.TB) searchdemotest.Docs {
	t.Helper()
	return searchdemotest.DocsFromDB(t, s.db, `SELECT o.id, o.customer_id, o.amount::text, o.status,
		(extract(epoch FROM o.created_at) * 1000000)::bigint, c.id, c.name, c.email
		FROM shop.orders o LEFT JOIN shop.customers c ON c.id = o.customer_id`)
}

// converge waits until the orders index equals PostgreSQL's orders with their customers (90 s at most).
func converge(t *testing.T, shop *shopDB, client *es.Client, what string) {
	t.Helper()
	searchdemotest.Converge(t, client, "PostgreSQL", what, shop.wantDocs)
}

// pipelineRun is one run of the example in the test's goroutine, stopped by stop.
type pipelineRun struct {
	cancel context.CancelFunc
	done   chan error
	said   *searchdemotest.Lines
}

func start(e env) *pipelineRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &pipelineRun{cancel: cancel, done: make(chan error, 1), said: &searchdemotest.Lines{}}
	go func() { r.done <- run(ctx, e, r.said.Say) }()
	return r
}

// stop ends the run as Ctrl-C does and fails t unless it stops cleanly within a minute.
func (r *pipelineRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, strings.Join(r.said.All(), "\n"))
		}
	case <-time.After(time.Minute):
		t.Fatalf("run did not stop within a minute of its context ending")
	}
}

func testConfig(t *testing.T, dataDir string) topology.Config {
	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = dataDir, "127.0.0.1:0", testkit.FreeAddr(t)
	cfg.Brokers = kafkatest.Brokers(t, 1) // nil: the embedded broker on DataDir
	return cfg
}

// Inserts, updates and deletes of customers and orders in several transactions end with exactly one document
// per order, equal to PostgreSQL's state with its customer; deleted orders have none; a customer rename
// reaches all of that customer's orders.
func TestOrdersFollowPostgres(t *testing.T) {
	shop := newShop(t, "shop_follow")
	shop.exec(t, "INSERT INTO shop.customers (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com'), ('Cy', 'cy@example.com')",
		`INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES
			(1, 10.50, 'new', '2026-11-26 10:00:00.123456'), (1, 99.99, 'paid', '2026-11-26 10:01:00'),
			(2, 5.00, 'new', '2026-11-26 10:02:00'), (3, 1234567.89, 'shipped', '2026-11-26 10:03:00')`)
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := start(env{topology: testConfig(t, filepath.Join(t.TempDir(), "data")), postgresDSN: shop.dsn, esURL: srv.URL(), slot: "test_follow"})
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	converge(t, shop, client, "snapshot")

	shop.exec(t, "UPDATE shop.orders SET status = 'paid' WHERE id = 1", "DELETE FROM shop.orders WHERE id = 3")
	shop.exec(t, `BEGIN;
		INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (2, 7.25, 'new', '2026-11-26 11:00:00');
		INSERT INTO shop.customers (name, email) VALUES ('Dee', 'dee@example.com');
		INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (4, 3.00, 'new', '2026-11-26 11:01:00');
		COMMIT`)
	converge(t, shop, client, "after updates, deletes and a transaction")

	shop.exec(t, "UPDATE shop.customers SET name = 'Annabel', email = 'annabel@example.com' WHERE id = 1")
	converge(t, shop, client, "after renaming customer 1")
	for _, id := range []string{"1", "2"} {
		if c := searchdemotest.Indexed(t, client)[id]["customer"].(map[string]any); c["name"] != "Annabel" {
			t.Errorf("order %s carries customer %v after the rename", id, c)
		}
	}
	r.stop(t)
}

// A stopped pipeline started again on its data dir resumes where it stopped: changes made while it was down
// arrive, and the index ends equal to PostgreSQL (no order lost, none left over from before).
func TestRestartResumes(t *testing.T) {
	shop := newShop(t, "shop_restart")
	shop.exec(t, "INSERT INTO shop.customers (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com')",
		"INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (1, 1.00, 'new', '2026-11-26 10:00:00'), (2, 2.00, 'new', '2026-11-26 10:00:01')")
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	dataDir := filepath.Join(t.TempDir(), "data")
	e := env{topology: testConfig(t, dataDir), postgresDSN: shop.dsn, esURL: srv.URL(), slot: "test_restart"}

	first := start(e)
	converge(t, shop, client, "first run")
	first.stop(t)

	// While the pipeline is down: a new order, an update, a delete and a rename.
	shop.exec(t, "INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (2, 3.00, 'new', '2026-11-26 12:00:00')",
		"UPDATE shop.orders SET status = 'paid' WHERE id = 1", "DELETE FROM shop.orders WHERE id = 2",
		"UPDATE shop.customers SET name = 'Bobby' WHERE id = 2")
	second := start(e)
	converge(t, shop, client, "after a restart")
	if c := searchdemotest.Indexed(t, client)["3"]["customer"].(map[string]any); c["name"] != "Bobby" {
		t.Errorf("order 3 carries customer %v after the rename made while stopped", c)
	}
	second.stop(t)
}

// With no environment at all (a fresh data dir), the example starts its own PostgreSQL, broker and
// Elasticsearch-compatible server, indexes the demo data and answers a search. Started again on the same data
// dir, it finds its PostgreSQL's rows (the demo data is not inserted twice) and resumes streaming: a rename
// made then reaches the index. (The embedded broker is the point: it stays embedded under
// SLUICE_TEST_KAFKA=real.)
func TestNoEnvironment(t *testing.T) {
	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", testkit.FreeAddr(t)
	esAddr := testkit.FreeAddr(t)
	client, _ := es.NewClient(es.Config{Addresses: []string{"http://" + esAddr}})

	started := time.Now()
	first := start(env{topology: cfg, esAddr: esAddr, slot: defaultSlot})
	waitSearch(t, client, first, "customer.name:grace", `"Grace Hopper"`)
	t.Logf("cold start to a searchable demo document: %v", time.Since(started).Round(time.Millisecond))
	if line := first.said.Find("postgres: private PostgreSQL"); !strings.Contains(line, filepath.Join(cfg.DataDir, "postgres")) {
		t.Errorf("start-up line about PostgreSQL: %q", line)
	}
	first.stop(t)

	second := start(env{topology: cfg, esAddr: esAddr, slot: defaultSlot})
	var dsn string
	for dsn == "" {
		if line := second.said.Find("try: psql '"); line != "" {
			dsn = strings.TrimSuffix(line[strings.Index(line, "try: psql '")+len("try: psql '"):], "')")
			break
		}
		select {
		case err := <-second.done:
			t.Fatalf("second run stopped: %v\n%s", err, strings.Join(second.said.All(), "\n"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var customers int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM shop.customers").Scan(&customers); err != nil || customers != 3 {
		t.Errorf("customers after a restart: %d, %v; want the 3 of the demo data", customers, err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE shop.customers SET name = 'Grace Brewster Hopper' WHERE email = 'grace@example.com'"); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, client, second, "customer.name:brewster", `"Grace Brewster Hopper"`)
	second.stop(t)
}

func waitSearch(t *testing.T, client *es.Client, r *pipelineRun, query, want string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := client.Search(client.Search.WithIndex("orders"), client.Search.WithQuery(query))
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && strings.Contains(string(body), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no document for %s within 90s; said:\n%s", query, strings.Join(r.said.All(), "\n"))
		}
		select {
		case err := <-r.done:
			t.Fatalf("run stopped: %v\n%s", err, strings.Join(r.said.All(), "\n"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// The built-in load generator makes movement, and progress lines report rows captured, documents indexed,
// lag and insert-to-indexed latency; when it stops, the index equals PostgreSQL.
func TestGeneratorAndProgress(t *testing.T) {
	shop := newShop(t, "shop_generator")
	shop.exec(t, demoData...)
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := testConfig(t, filepath.Join(t.TempDir(), "data"))
	r := start(env{topology: cfg, postgresDSN: shop.dsn, esURL: srv.URL(), slot: "test_generator", generate: 100, progress: time.Second})
	deadline := time.Now().Add(60 * time.Second)
	var line string
	for line == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line with latency within 60s; said %v", r.said.All())
		}
		line = r.said.Find("insert->indexed")
		time.Sleep(100 * time.Millisecond)
	}
	t.Log(line)
	if !strings.Contains(line, "rows captured") || strings.Contains(line, " 0 docs indexed") {
		t.Errorf("progress line %q", line)
	}
	r.stop(t) // the generator stops with the run; a run without it drains what is left
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	restarted := start(env{topology: cfg, postgresDSN: shop.dsn, esURL: srv.URL(), slot: "test_generator"})
	converge(t, shop, client, "after the generator's load")
	restarted.stop(t)
}
