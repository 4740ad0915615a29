package main

import (
	"context"
	"encoding/json"
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
	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/internal/searchdemotest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
)

var db *mariadbtest.Server

func TestMain(m *testing.M) {
	srv, err := mariadbtest.Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db = srv
	code := m.Run()
	srv.Stop()
	opensearchtest.Stop()
	os.Exit(code)
}

// wantDocs reads the expected document of every order from MySQL: the order's columns and its customer.
func wantDocs(t testing.TB) searchdemotest.Docs {
	t.Helper()
	return searchdemotest.DocsFromDB(t, db.DB(), `SELECT o.id, o.customer_id, CAST(o.amount AS CHAR), o.status,
		CAST(UNIX_TIMESTAMP(CONVERT_TZ(o.created_at, '+00:00', @@session.time_zone)) * 1000000 AS SIGNED), c.id, c.name, c.email
		FROM shop.orders o LEFT JOIN shop.customers c ON c.id = o.customer_id`)
}

// converge waits until the orders index equals MySQL's orders with their customers (90 s at most).
func converge(t *testing.T, client *es.Client, what string) {
	t.Helper()
	searchdemotest.Converge(t, client, "MySQL", what, wantDocs)
}

// Acceptance 1 and 2: inserts, updates and deletes of customers and orders in several transactions end with
// exactly one document per order, equal to MySQL's state with its customer; deleted orders have none; a
// customer rename reaches all of that customer's orders.
func TestOrdersFollowMySQL(t *testing.T) {
	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	for _, s := range schema {
		db.Exec(t, s)
	}
	db.Exec(t, "INSERT INTO shop.customers (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com'), ('Cy', 'cy@example.com')",
		`INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES
			(1, 10.50, 'new', '2026-11-26 10:00:00.123456'), (1, 99.99, 'paid', '2026-11-26 10:01:00'),
			(2, 5.00, 'new', '2026-11-26 10:02:00'), (3, 1234567.89, 'shipped', '2026-11-26 10:03:00')`)
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", testkit.FreeAddr(t)
	cfg.Brokers = kafkatest.Brokers(t, 1) // nil: the embedded broker on DataDir
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var said strings.Builder
	go func() {
		done <- run(ctx, env{topology: cfg, mysqlDSN: db.DSN(""), esURL: srv.URL(), serverID: 5402},
			func(f string, a ...any) { fmt.Fprintf(&said, f+"\n", a...) })
	}()
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	converge(t, client, "snapshot")

	db.Exec(t, "UPDATE shop.orders SET status = 'paid' WHERE id = 1", "DELETE FROM shop.orders WHERE id = 3")
	tx, _ := db.DB().Begin()
	tx.Exec("INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (2, 7.25, 'new', '2026-11-26 11:00:00')")
	tx.Exec("INSERT INTO shop.customers (name, email) VALUES ('Dee', 'dee@example.com')")
	tx.Exec("INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (4, 3.00, 'new', '2026-11-26 11:01:00')")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	converge(t, client, "after updates, deletes and a transaction")

	db.Exec(t, "UPDATE shop.customers SET name = 'Annabel', email = 'annabel@example.com' WHERE id = 1")
	converge(t, client, "after renaming customer 1")
	for _, id := range []string{"1", "2"} {
		if c := searchdemotest.Indexed(t, client)[id]["customer"].(map[string]any); c["name"] != "Annabel" {
			t.Errorf("order %s carries customer %v after the rename", id, c)
		}
	}
	// Documents are versioned by the source's binlog positions (sluice.version), not by Kafka offsets:
	// order 1 at least at the rename's version, far above the few offsets of this run.
	res, err := client.Get("orders", "1")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version int64 `json:"_version"`
	}
	err = json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if err != nil || got.Version < 1<<24 {
		t.Errorf("order 1: _version %d (%v), want a source version (at least 2^24)", got.Version, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, said.String())
	}
}

// Acceptance 5: with no environment at all (a fresh data dir), the example starts its own MariaDB, broker
// and Elasticsearch-compatible server, indexes the demo data and answers a search. (The embedded broker is
// the point: it stays embedded under SLUICE_TEST_KAFKA=real.)
func TestNoEnvironment(t *testing.T) {
	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", testkit.FreeAddr(t)
	esAddr := testkit.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- run(ctx, env{topology: cfg, esAddr: esAddr, serverID: 5403}, func(string, ...any) {}) }()
	client, _ := es.NewClient(es.Config{Addresses: []string{"http://" + esAddr}})
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := client.Search(client.Search.WithIndex("orders"), client.Search.WithQuery("customer.name:grace"))
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && strings.Contains(string(body), `"Grace Hopper"`) {
				t.Logf("cold start to a searchable demo document: %v", time.Since(started).Round(time.Millisecond))
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no searchable demo document within 90s")
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The built-in load generator makes movement, and progress lines report rows captured, documents indexed,
// lag and insert-to-indexed latency.
func TestGeneratorAndProgress(t *testing.T) {
	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", testkit.FreeAddr(t)
	cfg.Brokers = kafkatest.Brokers(t, 1) // nil: the embedded broker on DataDir
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &searchdemotest.Lines{}
	go func() {
		done <- run(ctx, env{topology: cfg, mysqlDSN: db.DSN(""), esURL: srv.URL(), serverID: 5405, generate: 100, progress: time.Second}, out.Say)
	}()
	deadline := time.Now().Add(60 * time.Second)
	var line string
	for line == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line with latency within 60s; said %v", out.All())
		}
		line = out.Find("insert->indexed")
		time.Sleep(100 * time.Millisecond)
	}
	t.Log(line)
	if !strings.Contains(line, "rows captured") || strings.Contains(line, " 0 docs indexed") {
		t.Errorf("progress line %q", line)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
