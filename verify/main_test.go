package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
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
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testLogger logs into the test's output.
func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(testWriter{t}, nil)) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// pipeline is a running MySQL -> Kafka -> Unwrap -> Elasticsearch pipeline for one table.
type pipeline struct {
	brokers []string
	es      *esserver.Server
	topic   string
}

// startPipeline runs the pipeline the way a user declares it (json-schema topics, Unwrap, the sink with
// its defaults) until the test ends.
func startPipeline(t *testing.T, table, index string, serverID uint32) *pipeline {
	t.Helper()
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	no := false
	src, err := mysql.New(mysql.Config{DSN: db.DSN(""), ServerID: serverID, Tables: []string{table}, SchemaChanges: &no, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: index, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	top := topology.New("verify-" + index)
	topic := top.Topic(src.Topic(table), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"), topology.Partitions(2))
	top.Source("cdc", src).ToRecordTopics()
	top.Flow("index").From(topic).Via(unwrap).To(sink, topology.Linger(5*time.Millisecond))
	cfg := topology.DefaultConfig()
	cfg.Brokers = testkit.Brokers(t, 1)
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", testkit.FreeAddr(t)
	cfg.Logger = quiet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- top.RunWith(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pipeline: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("the pipeline did not stop within a minute of its context's end")
		}
	})
	return &pipeline{brokers: cfg.Brokers, es: srv, topic: src.Topic(table)}
}

// esDo sends one request to the embedded server and returns the status and body.
func esDo(t *testing.T, p *pipeline, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, p.es.URL()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitCount waits until the index holds n documents (at most limit).
func waitCount(t *testing.T, p *pipeline, index string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := -1
	for {
		status, body := esDo(t, p, "GET", "/"+index+"/_count", "")
		if status == 200 {
			var c struct{ Count int }
			json.Unmarshal(body, &c)
			last = c.Count
			if c.Count == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("index %s holds %d documents after %v, want %d", index, last, limit, n)
		}
		time.Sleep(200 * time.Millisecond) // polling the index, not waiting for a guess
	}
}

// getDoc returns a document's _source.
func getDoc(t *testing.T, p *pipeline, index, id string) map[string]any {
	t.Helper()
	status, body := esDo(t, p, "GET", "/"+index+"/_source/"+id, "")
	if status != 200 {
		t.Fatalf("GET %s/_source/%s: %d %s", index, id, status, body)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// putDoc writes a document directly into the index, behind the pipeline's back.
func putDoc(t *testing.T, p *pipeline, index, id string, doc map[string]any) {
	t.Helper()
	b, _ := json.Marshal(doc)
	if status, body := esDo(t, p, "PUT", "/"+index+"/_doc/"+id, string(b)); status/100 != 2 {
		t.Fatalf("PUT %s/_doc/%s: %d %s", index, id, status, body)
	}
}

func deleteDoc(t *testing.T, p *pipeline, index, id string) {
	t.Helper()
	if status, body := esDo(t, p, "DELETE", "/"+index+"/_doc/"+id, ""); status/100 != 2 {
		t.Fatalf("DELETE %s/_doc/%s: %d %s", index, id, status, body)
	}
}

// behindBinlog runs statements on one connection with the binlog off for its session: the pipeline never
// hears of them.
func behindBinlog(t *testing.T, statements ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := db.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range append([]string{"SET SESSION sql_log_bin = 0"}, statements...) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 1"); err != nil {
		t.Fatal(err)
	}
}
