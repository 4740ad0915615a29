package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
)

// esJSON sends a request to Elasticsearch and decodes the answer with numbers kept as written.
func esJSON(t *testing.T, client *es.Client, method, path, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Perform(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonAt(doc any, path string) any {
	for _, p := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[p]
	}
	return doc
}

// orderIDs runs a query on the orders index and returns the ids of the hits, sorted.
func orderIDs(t *testing.T, client *es.Client, query string) []string {
	t.Helper()
	r := esJSON(t, client, "POST", "/orders/_search", `{"size":1000,"query":`+query+`}`)
	var ids []string
	for _, h := range jsonAt(r, "hits.hits").([]any) {
		ids = append(ids, h.(map[string]any)["_id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// mysqlIDs returns the ids of the orders a condition selects in MySQL, sorted as strings.
func mysqlIDs(t *testing.T, where string) []string {
	t.Helper()
	rows, err := db.DB().Query("SELECT id FROM shop.orders WHERE " + where)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fmt.Sprint(id))
	}
	slices.Sort(ids)
	return ids
}

// Acceptance 4 (issue 23): the flagship, run as a user runs it (no hand-written mapping), gets an index
// whose mapping comes from the records' schema: created_at (DATETIME(6)) is a date, amount (DECIMAL(12,2))
// an exact scaled_float with scaling factor 100, the joined customer an object with its fields mapped.
// Range queries on created_at return exactly the orders MySQL selects with the same bounds, and every
// amount in _source has MySQL's digits, for snapshot rows and for rows captured from the binlog.
func TestIndexMappingFromSchema(t *testing.T) {
	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	for _, s := range schema {
		db.Exec(t, s)
	}
	db.Exec(t, "INSERT INTO shop.customers (name, email) VALUES ('Ann', 'ann@example.com'), ('Bob', 'bob@example.com')",
		`INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES
			(1, 10.50, 'new', '2026-11-25 23:59:59.999999'), (1, 9999999999.99, 'paid', '2026-11-26 00:00:00'),
			(2, 0.01, 'new', '2026-11-26 10:00:00.123456'), (2, 1234567.89, 'shipped', '2026-11-26 23:59:59.999999'),
			(1, 100.00, 'new', '2026-11-27 00:00:00'), (9, 42.42, 'new', '1999-12-31 23:59:59.5')`)
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
		done <- run(ctx, env{topology: cfg, mysqlDSN: db.DSN(""), esURL: srv.URL(), serverID: 5406},
			func(f string, a ...any) { fmt.Fprintf(&said, f+"\n", a...) })
	}()
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	converge(t, client, "snapshot")

	m := esJSON(t, client, "GET", "/orders/_mapping", "")
	t.Logf("GET /orders/_mapping: %v", jsonAt(m, "orders.mappings"))
	for path, want := range map[string]string{
		"created_at.type": "date", "amount.type": "scaled_float", "amount.scaling_factor": "100",
		"id.type": "long", "customer_id.type": "long", "status.type": "text", "status.fields.keyword.type": "keyword",
		"customer.properties.id.type": "long", "customer.properties.name.type": "text",
		"customer.properties.email.type": "text",
	} {
		if got := fmt.Sprint(jsonAt(m, "orders.mappings.properties."+path)); got != want {
			t.Errorf("mapping %s = %s, want %s", path, got, want)
		}
	}

	checkQueries := func(when string) {
		t.Helper()
		for _, c := range []struct{ query, where string }{
			{`{"range":{"created_at":{"gte":"2026-11-26","lt":"2026-11-27"}}}`, "created_at >= '2026-11-26' AND created_at < '2026-11-27'"},
			{`{"range":{"created_at":{"gte":"2026-11-26T10:00:00.123Z","lte":"2026-11-27T00:00:00Z"}}}`, "created_at >= '2026-11-26 10:00:00.123' AND created_at <= '2026-11-27 00:00:00'"},
			{`{"range":{"created_at":{"lt":"2000-01-01T00:00:00Z"}}}`, "created_at < '2000-01-01'"},
			{`{"range":{"created_at":{"gte":"now-30d/d"}}}`, "created_at >= DATE_SUB(UTC_DATE(), INTERVAL 30 DAY)"},
			{`{"range":{"amount":{"gte":0.01,"lte":10.5}}}`, "amount BETWEEN 0.01 AND 10.50"},
		} {
			got, want := orderIDs(t, client, c.query), mysqlIDs(t, c.where)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s found orders %v, MySQL (%s) has %v", when, c.query, got, c.where, want)
			}
		}
		// Every amount in _source has MySQL's digits (converge compares them too; this says it plainly).
		rows, err := db.DB().Query("SELECT id, CAST(amount AS CHAR) FROM shop.orders")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var amount string
			if err := rows.Scan(&id, &amount); err != nil {
				t.Fatal(err)
			}
			src := jsonAt(esJSON(t, client, "GET", fmt.Sprintf("/orders/_doc/%d", id), ""), "_source")
			if got := fmt.Sprint(jsonAt(src, "amount")); got != amount {
				t.Errorf("%s: order %d amount %s in _source, MySQL has %s", when, id, got, amount)
			}
		}
	}
	checkQueries("snapshot")

	db.Exec(t, `INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES
		(2, 7777777777.77, 'new', '2026-11-26 12:34:56.654321'), (1, 0.10, 'new', UTC_TIMESTAMP(6))`)
	converge(t, client, "binlog inserts")
	checkQueries("binlog")

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, said.String())
	}
}
