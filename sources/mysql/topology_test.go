package mysql

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// recordingSink keeps every record it is given.
type recordingSink struct {
	mu   sync.Mutex
	recs []stream.Record
}

func (s *recordingSink) Open(context.Context) error { return nil }
func (s *recordingSink) Close() error               { return nil }
func (s *recordingSink) Write(_ context.Context, batch []stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, batch...)
	return nil
}

func (s *recordingSink) records() []stream.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stream.Record(nil), s.recs...)
}

// TestTopologyEndToEnd runs the source in a topology: two tables, a json-schema topic per table, a flow per
// topic into a recording sink that must receive every row as a Debezium envelope, then the inserts, updates
// and deletes streamed after the snapshot; then kcat reads a change topic and sees Debezium-shaped JSON, a
// streamed insert ("op":"c") included.
func TestTopologyEndToEnd(t *testing.T) {
	server.CreateDatabase(t, "shop")
	server.Exec(t,
		"CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, balance DECIMAL(10,2))",
		"CREATE TABLE shop.orders (id BIGINT UNSIGNED PRIMARY KEY, customer_id INT NOT NULL, placed DATETIME(3), note TEXT)")
	const customers, orders = 50, 300
	var values []string
	for i := 1; i <= customers; i++ {
		values = append(values, fmt.Sprintf("(%d, 'customer %d 😀', %d.%02d)", i, i, i*10, i%100))
	}
	server.Exec(t, "INSERT INTO shop.customers VALUES "+strings.Join(values, ", "))
	values = values[:0]
	for i := 1; i <= orders; i++ {
		values = append(values, fmt.Sprintf("(%d, %d, '2024-05-06 07:08:09.%03d', NULL)", i, i%customers+1, i%1000))
	}
	server.Exec(t, "INSERT INTO shop.orders VALUES "+strings.Join(values, ", "))

	brokers := testkit.Brokers(t, 1)
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"shop.*"}, SnapshotMode: SnapshotInitial,
		ChunkSize: 64, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	tp := topology.New("mysql-e2e")
	custTopic := tp.Topic(src.Topic("shop.customers"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	orderTopic := tp.Topic(src.Topic("shop.orders"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"), topology.Partitions(2))
	tp.Source("cdc", src).To(custTopic)
	sinks := map[string]*recordingSink{custTopic.Name(): {}, orderTopic.Name(): {}}
	tp.Flow("customers").From(custTopic).To(sinks[custTopic.Name()])
	tp.Flow("orders").From(orderTopic).To(sinks[orderTopic.Name()])

	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = brokers, testkit.FreeAddr(t), quiet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("RunWith: %v", err)
			}
		}
	}
	defer stop()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: sinks got %d customers and %d orders after 60s", what, len(sinks[custTopic.Name()].records()), len(sinks[orderTopic.Name()].records()))
			}
			select {
			case err := <-done:
				stopped = true
				t.Fatalf("pipeline stopped: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("snapshot", func() bool {
		return len(sinks[custTopic.Name()].records()) >= customers && len(sinks[orderTopic.Name()].records()) >= orders
	})
	// Changes after the snapshot are streamed from the binlog.
	server.Exec(t, "INSERT INTO shop.customers VALUES (51, 'streamed 😀', 1.50)", "UPDATE shop.customers SET balance = 99.99 WHERE id = 1",
		"DELETE FROM shop.customers WHERE id = 2", "INSERT INTO shop.orders VALUES (301, 51, '2024-05-06 07:08:09.500', 'new')")
	streamedOps := func() string {
		var ops []string
		for _, rec := range sinks[custTopic.Name()].records() {
			if env, ok := rec.Value.(*stream.Struct); ok {
				if op, _ := env.GetString("op"); op != "r" {
					ops = append(ops, op+keyOf(t, rec))
				}
			} else if rec.Value == nil {
				ops = append(ops, "tombstone"+keyOf(t, rec))
			}
		}
		return strings.Join(ops, " ")
	}
	waitFor("stream", func() bool {
		return strings.HasPrefix(streamedOps(), "c51 u1 d2") && len(sinks[orderTopic.Name()].records()) > orders
	})
	stop()
	t.Logf("streamed into the customers sink: %s", streamedOps())
	// The engine closed the source at the end of the run (sources.Source: io.Closer): its pool is gone.
	src.mu.Lock()
	leaked := src.db != nil
	src.mu.Unlock()
	if leaked {
		t.Error("the source's connection pool is still open after RunWith returned")
	}

	for topic, want := range map[string]int{custTopic.Name(): customers, orderTopic.Name(): orders} {
		seen := map[string]bool{}
		for _, rec := range sinks[topic].records() {
			k, err := stream.KeyString(rec.Key)
			if err != nil {
				t.Fatal(err)
			}
			if env, ok := rec.Value.(*stream.Struct); rec.Value == nil || (ok && env.Get("op") != "r") {
				continue // streamed, checked above
			}
			if seen[k] {
				t.Errorf("%s: key %s twice", topic, k)
			}
			seen[k] = true
			env, ok := rec.Value.(*stream.Struct)
			if !ok {
				t.Fatalf("%s: value %T", topic, rec.Value)
			}
			op, _ := env.GetString("op")
			before := env.Get("before")
			row, _ := env.GetStruct("after")
			source, _ := env.GetStruct("source")
			if op != "r" || before != nil || row == nil || source == nil || env.Schema().Name != topic+".Envelope" {
				t.Fatalf("%s: envelope %v", topic, env)
			}
			if c, _ := source.GetString("connector"); c != "mysql" {
				t.Errorf("source.connector %q", c)
			}
		}
		if len(seen) != want {
			t.Errorf("%s: %d distinct keys, want %d", topic, len(seen), want)
		}
	}
	custRow, _ := sinks[custTopic.Name()].records()[0].Value.(*stream.Struct).GetStruct("after")
	if name, _ := custRow.GetString("name"); !strings.HasSuffix(name, "😀") {
		t.Errorf("customer name %q lost its emoji", name)
	}

	t.Run("kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("kcat not installed; CI must install it (apt-get install kcat)")
			}
			t.Fatalf("kcat not installed: apt-get install kcat")
		}
		cmd := exec.Command(kcat, "-b", brokers[0], "-C", "-t", custTopic.Name(), "-e", "-q", "-f", "%s\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat: %v: %s", err, stderr.String())
		}
		var lines, created []string
		for _, l := range strings.Split(string(out), "\n") {
			switch {
			case strings.Contains(l, `"op":"r"`):
				lines = append(lines, l)
			case strings.Contains(l, `"op":"c"`):
				created = append(created, l)
			}
		}
		if len(lines) != customers || len(created) != 1 {
			t.Fatalf("kcat read %d snapshot messages and %d creates, want %d and 1: %s", len(lines), len(created), customers, out)
		}
		var msg struct {
			Schema struct {
				Name   string `json:"name"`
				Fields []struct {
					Field string `json:"field"`
				} `json:"fields"`
			} `json:"schema"`
			Payload struct {
				Before *json.RawMessage `json:"before"`
				After  map[string]any   `json:"after"`
				Source map[string]any   `json:"source"`
				Op     string           `json:"op"`
				TsMs   int64            `json:"ts_ms"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &msg); err != nil {
			t.Fatalf("kcat message is not JSON: %v: %s", err, lines[0])
		}
		t.Logf("kcat: %s", lines[0])
		p := msg.Payload
		if msg.Schema.Name != "sluice.shop.customers.Envelope" || len(msg.Schema.Fields) != 5 || p.Before != nil || p.Op != "r" ||
			p.TsMs == 0 || p.After["id"] != float64(1) || p.After["name"] != "customer 1 😀" ||
			p.Source["connector"] != "mysql" || p.Source["db"] != "shop" || p.Source["table"] != "customers" ||
			p.Source["snapshot"] != "true" || p.Source["file"] == "" || p.Source["name"] != "sluice" {
			t.Errorf("kcat message is not the expected Debezium envelope: %s", lines[0])
		}
		var c struct {
			Payload struct {
				Before *json.RawMessage `json:"before"`
				After  map[string]any   `json:"after"`
				Source map[string]any   `json:"source"`
				Op     string           `json:"op"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(created[0]), &c); err != nil {
			t.Fatalf("kcat create message is not JSON: %v: %s", err, created[0])
		}
		t.Logf("kcat: %s", created[0])
		if c.Payload.Op != "c" || c.Payload.Before != nil || c.Payload.After["id"] != float64(51) || c.Payload.After["name"] != "streamed 😀" ||
			c.Payload.Source["snapshot"] != "false" || c.Payload.Source["gtid"] == nil || c.Payload.Source["table"] != "customers" {
			t.Errorf("kcat create message is not the expected Debezium envelope: %s", created[0])
		}
	})
}
