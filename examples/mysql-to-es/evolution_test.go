package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/registrylog"
	"github.com/sluicehq/sluice/internal/searchdemotest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/topology"
)

// Issue 15, acceptance 4: schema evolution end to end on the flagship with SLUICE_CODEC=avro on the embedded
// defaults (broker and schema registry). An `ALTER TABLE orders ADD COLUMN note` while orders are inserted:
// the pipeline goes on, the registry holds a new version of the orders topic's value subject, and the new
// documents carry note. Then, with the subject's rule at FORWARD, dropping a required (NOT NULL) column is
// refused: the pipeline stops with the documented error naming the field and the rule, and no row after
// the DROP enters Kafka. Relaxing the rule to NONE through the registry's topic (the pipeline has exited, so
// over Kafka, as `sluice schemas config --registry kafka` does) and starting again indexes every row
// inserted after the DROP: nothing is lost.
func TestSchemaEvolutionAvro(t *testing.T) {
	started := time.Now()
	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	for _, s := range schema {
		db.Exec(t, s)
	}
	// channel: a required column the join does not need, to drop later.
	db.Exec(t, "ALTER TABLE shop.orders ADD COLUMN channel VARCHAR(16) NOT NULL DEFAULT 'web'",
		"INSERT INTO shop.customers (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com')")
	insertOrders := func(n int) {
		for range n {
			db.Exec(t, "INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (1 + FLOOR(RAND() * 2), 9.99, 'new', NOW(6))")
		}
	}
	insertOrders(3)
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})

	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", testkit.FreeAddr(t)
	cfg.Brokers = kafkatest.Brokers(t, 1) // nil: the embedded broker on DataDir
	e := env{topology: cfg, mysqlDSN: db.DSN(""), esURL: srv.URL(), serverID: 5407, codec: codecAvro}
	start := func() (chan error, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, e, func(string, ...any) {}) }()
		return done, cancel
	}
	registry := "http://" + cfg.HTTPAddr
	const subject = "sluice.shop.orders-value"
	versions := func() []int {
		var v []int
		if code, body := httpJSON(t, http.MethodGet, registry+"/subjects/"+subject+"/versions", "", &v); code != http.StatusOK {
			t.Fatalf("GET /subjects/%s/versions: %d %s", subject, code, body)
		}
		return v
	}

	done, cancel := start()
	defer func() { cancel() }()
	indexedAll(t, client, done, "the first orders")
	before := versions()
	t.Logf("first orders indexed after %v; %s versions %v", time.Since(started).Round(time.Millisecond), subject, before)

	// ADD COLUMN while inserting: rows before, the ALTER, rows after (some with their own note).
	insertOrders(5)
	db.Exec(t, "ALTER TABLE shop.orders ADD COLUMN note VARCHAR(64) DEFAULT 'x'")
	firstWithNote := maxOrderID(t) + 1
	insertOrders(5)
	db.Exec(t, "INSERT INTO shop.orders (customer_id, amount, status, created_at, note) VALUES (2, 1.00, 'new', NOW(6), 'gift')")
	docs := indexedAll(t, client, done, "orders around ADD COLUMN note")
	after := versions()
	if len(after) <= len(before) {
		t.Fatalf("versions of %s after ADD COLUMN: %v, before: %v: no new version", subject, after, before)
	}
	for id, doc := range docs {
		n, _ := strconv.ParseInt(id, 10, 64)
		switch want := "x"; {
		case n == maxOrderID(t):
			want = "gift"
			fallthrough
		case n >= firstWithNote:
			if doc["note"] != want {
				t.Errorf("order %s (inserted after ADD COLUMN): note %v, want %q; document %v", id, doc["note"], want, doc)
			}
		}
	}
	t.Logf("ADD COLUMN: versions %v, %d documents, new ones carry note", after, len(docs))

	// DROP a required column under FORWARD: refused, the pipeline stops.
	if code, body := httpJSON(t, http.MethodPut, registry+"/config/"+subject, `{"compatibility":"FORWARD"}`, nil); code != http.StatusOK {
		t.Fatalf("PUT /config/%s FORWARD: %d %s", subject, code, body)
	}
	lastBeforeDrop := maxOrderID(t)
	db.Exec(t, "ALTER TABLE shop.orders DROP COLUMN channel")
	insertOrders(3)
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the pipeline did not stop within 60s after a refused schema")
	}
	if runErr == nil {
		t.Fatal("the pipeline stopped without an error after a refused schema")
	}
	t.Logf("refused: %v", runErr)
	for _, want := range []string{`source "cdc"`, subject, `"channel"`, "FORWARD"} {
		if !strings.Contains(runErr.Error(), want) {
			t.Errorf("the error does not name %s: %v", want, runErr)
		}
	}
	for id := range searchdemotest.Indexed(t, client) {
		if n, _ := strconv.ParseInt(id, 10, 64); n > lastBeforeDrop {
			t.Errorf("order %s, inserted after the refused DROP, was indexed", id)
		}
	}
	insertOrders(2) // while the pipeline is stopped

	// Relax the rule through the registry's topic, then start again: every row after the DROP arrives.
	relaxOverKafka(t, cfg, subject, "NONE")
	done, cancel = start()
	docs = indexedAll(t, client, done, "every order after the DROP")
	for id, doc := range docs {
		if n, _ := strconv.ParseInt(id, 10, 64); n > lastBeforeDrop {
			if _, ok := doc["channel"]; ok {
				t.Errorf("order %s (inserted after DROP COLUMN channel) carries channel: %v", id, doc)
			}
		}
	}
	final := versions()
	if len(final) <= len(after) {
		t.Errorf("versions after the relaxed DROP: %v, before: %v", final, after)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d orders indexed, versions %v, %v in all", len(docs), final, time.Since(started).Round(time.Millisecond))
}

// maxOrderID is the id of the last order inserted.
func maxOrderID(t *testing.T) int64 {
	t.Helper()
	var id int64
	if err := db.DB().QueryRow("SELECT COALESCE(MAX(id), 0) FROM shop.orders").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// indexedAll waits (60 s at most) until every order of MySQL has its document, and returns the documents.
// It fails at once when the pipeline stops.
func indexedAll(t *testing.T, client *es.Client, done chan error, what string) searchdemotest.Docs {
	t.Helper()
	var ids []string
	rows, err := db.DB().Query("SELECT id FROM shop.orders ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	rows.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		docs := searchdemotest.Indexed(t, client)
		missing := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return docs[id] != nil })
		if len(missing) == 0 {
			return docs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: orders %v not indexed within 60s", what, missing)
		}
		select {
		case err := <-done:
			t.Fatalf("%s: the pipeline stopped: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// httpJSON sends a request with a JSON body (none when empty) and decodes a 2xx answer into out.
func httpJSON(t *testing.T, method, url, body string, out any) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
	return res.StatusCode, string(raw)
}

// relaxOverKafka sets subject's compatibility level through the embedded registry's topic while no
// pipeline runs, as `sluice schemas config SUBJECT LEVEL --registry kafka` does: with the embedded broker,
// the broker is started alone on the pipeline's data dir for it (as `sluice broker --data-dir` would).
func relaxOverKafka(t *testing.T, cfg topology.Config, subject, level string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: cfg.DataDir})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		brokers = b.Addrs()
	}
	log, err := registrylog.Open(ctx, kafka.Settings{Brokers: brokers}, schemaregistry.DefaultTopic, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.SetCompatibility(ctx, subject, level); err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Compatibility(ctx, subject); err != nil || got != level {
		t.Fatalf("compatibility of %s after setting %s: %q, %v", subject, level, got, err)
	}
}
