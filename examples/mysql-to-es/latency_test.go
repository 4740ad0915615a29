package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// Acceptance 4: the time from COMMIT of a single-row change to the document being readable by GET, over 200
// changes; the test prints p50 and p99.
func TestCommitToDocumentLatency(t *testing.T) {
	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	for _, s := range schema {
		db.Exec(t, s)
	}
	db.Exec(t, "INSERT INTO shop.customers (name, email) VALUES ('Lat', 'lat@example.com')",
		"INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (1, 1.00, 'v0', NOW(6))")
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "off"
	cfg.Brokers = kafkatest.Brokers(t, 1) // nil: the embedded broker on DataDir
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env{topology: cfg, mysqlDSN: db.DSN(""), esURL: srv.URL(), serverID: 5404}, func(string, ...any) {})
	}()
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	status := func() string {
		res, err := client.Get("orders", "1")
		if err != nil {
			return ""
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var d struct {
			Source struct {
				Status string `json:"status"`
			} `json:"_source"`
		}
		json.Unmarshal(body, &d)
		return d.Source.Status
	}
	waitStatus := func(want string) time.Duration {
		start := time.Now()
		for status() != want {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("order 1 never reached status %q", want)
			}
			time.Sleep(500 * time.Microsecond)
		}
		return time.Since(start)
	}
	waitStatus("v0")
	var lat []time.Duration
	for i := 1; i <= 200; i++ {
		want := fmt.Sprintf("v%d", i)
		if _, err := db.DB().Exec("UPDATE shop.orders SET status = ? WHERE id = 1", want); err != nil { // autocommit: returns after COMMIT
			t.Fatal(err)
		}
		lat = append(lat, waitStatus(want))
	}
	slices.Sort(lat)
	t.Logf("COMMIT -> readable by GET over %d single-row changes: p50 %v, p99 %v, max %v",
		len(lat), lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)*99/100].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
