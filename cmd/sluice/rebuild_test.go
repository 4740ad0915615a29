package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/topology"
)

// `sluice rebuild --wait --drop-old` against a running pipeline: the alias moves to the next index and the
// old one is gone; the refusals (an index the alias points to already, an unknown flow) are the API's
// words.
func TestRebuildCommand(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	brokers := testkit.Brokers(t, 1)
	topic := fmt.Sprintf("cli-rebuild-%d", time.Now().UnixNano())
	testkit.CreateTopic(t, brokers, topic, 1)
	testkit.ProduceN(t, brokers, topic, 50, func(i int) (string, string) {
		return fmt.Sprintf("k%d", i), fmt.Sprintf(`{"n":%d}`, i)
	})
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Alias: "cli-orders", ID: elasticsearch.DefaultID})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("clirb")
	tp.Flow("index").From(tp.Topic(topic, topology.ValueCodec("json"))).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()
	url := "http://" + cfg.HTTPAddr
	var out string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out, err = run(t, context.Background(), "rebuild", "clirb", "--flow", "index", "--drop-old", "--wait", "--url", url)
		starting := err != nil && (strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "connection refused"))
		if !starting || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("sluice rebuild: %v\n%s", err, out)
	}
	if !strings.Contains(out, "rebuild of flow index started on replica") ||
		!strings.Contains(out, "rebuild of flow index done: alias cli-orders points to cli-orders-000002 (50 records") ||
		!strings.Contains(out, "cli-orders-000001 deleted") {
		t.Fatalf("sluice rebuild printed:\n%s", out)
	}
	res, err := http.Head(srv.URL() + "/cli-orders-000001")
	if err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("old index after --drop-old: %v %v", res, err)
	}
	_, err = run(t, context.Background(), "rebuild", "clirb", "--flow", "index", "--index", "cli-orders-000002", "--url", url)
	if err == nil || !strings.Contains(err.Error(), "alias cli-orders points to index cli-orders-000002 already; name a new index") {
		t.Fatalf("rebuild into the current index: %v", err)
	}
	_, err = run(t, context.Background(), "rebuild", "clirb", "--flow", "nosuch", "--url", url)
	if err == nil || !strings.Contains(err.Error(), `pipeline clirb has no flow "nosuch"`) {
		t.Fatalf("rebuild of an unknown flow: %v", err)
	}
}
