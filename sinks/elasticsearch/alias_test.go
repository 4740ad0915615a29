package elasticsearch_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// TestAliasSinkAndRetarget: a sink with Alias creates <alias>-000001 behind the alias at Open and writes
// through it; as a sinks.Retargeter it names the index behind the alias, fills a new index, moves the
// alias in one call and drops the old index.
func TestAliasSinkAndRetarget(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mappings := json.RawMessage(`{"properties":{"n":{"type":"long"}}}`)
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Alias: "orders", Mappings: mappings, Refresh: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	rec := func(id, n int64) stream.Record {
		return stream.Record{Topic: "orders", Key: id, Value: map[string]any{"n": n}, Offset: n, Operation: stream.OpCreate}
	}
	if err := sink.Write(ctx, []stream.Record{rec(1, 1), rec(2, 2)}); err != nil {
		t.Fatal(err)
	}
	got := getJSON(t, client, "GET", "/orders-000001/_count", "")
	if c, _ := got["count"].(json.Number).Int64(); c != 2 {
		t.Fatalf("orders-000001 holds %v documents, want 2", got["count"])
	}
	if m := getJSON(t, client, "GET", "/orders-000001/_mapping", ""); at(m, "orders-000001.mappings.properties.n.type") != "long" {
		t.Fatalf("first index was not created with Mappings: %v", m)
	}
	// A second Open (a restart, another replica) keeps the alias where it is.
	again, _ := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Alias: "orders"})
	if err := again.Open(ctx); err != nil {
		t.Fatal(err)
	}

	var rt sinks.Retargeter = sink
	name, current, err := rt.Pointer(ctx)
	if err != nil || name != "orders" || current != "orders-000001" {
		t.Fatalf("Pointer = %q, %q, %v", name, current, err)
	}
	next := rt.NextDestination(current)
	if next != "orders-000002" {
		t.Fatalf("NextDestination(%s) = %s", current, next)
	}
	copySink, err := rt.Retarget(next)
	if err != nil {
		t.Fatal(err)
	}
	if err := copySink.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := copySink.Write(ctx, []stream.Record{rec(1, 1), rec(2, 2), rec(3, 3)}); err != nil {
		t.Fatal(err)
	}
	// The new index must not exist yet: a second retarget to it fails at Open, naming it.
	dup, _ := rt.Retarget(next)
	if err := dup.Open(ctx); err == nil || !strings.Contains(err.Error(), "orders-000002 exists already") {
		t.Fatalf("Open of an existing destination: %v", err)
	}
	if err := rt.Repoint(ctx, current, next); err != nil {
		t.Fatal(err)
	}
	if _, now, _ := rt.Pointer(ctx); now != next {
		t.Fatalf("alias points to %s after Repoint, want %s", now, next)
	}
	getJSON(t, client, "POST", "/orders/_refresh", "")
	if got := getJSON(t, client, "GET", "/orders/_count", ""); got["count"] != json.Number("3") {
		t.Fatalf("alias counts %v after the swap, want 3", got["count"])
	}
	if err := rt.Drop(ctx, current); err != nil {
		t.Fatal(err)
	}
	res, err := client.Indices.Exists([]string{current})
	if err != nil || res.StatusCode != 404 {
		t.Fatalf("old index still exists: %v %v", res, err)
	}
	// Writes through the alias now land in the new index.
	if err := sink.Write(ctx, []stream.Record{rec(4, 4)}); err != nil {
		t.Fatal(err)
	}
	if got := getJSON(t, client, "GET", "/orders-000002/_doc/4", ""); got["found"] != true {
		t.Fatalf("document 4 not in the new index: %v", got)
	}

	// An index with the alias's name is refused, naming it.
	getJSON(t, client, "PUT", "/plain", "")
	bad, _ := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Alias: "plain", RequestTimeout: 5 * time.Second})
	if err := bad.Open(ctx); err == nil || !strings.Contains(err.Error(), `Alias "plain": an index of that name exists`) {
		t.Fatalf("Open with an index named like the alias: %v", err)
	}
	if _, err := elasticsearch.New(elasticsearch.Config{Alias: "a", Index: "b"}); err == nil {
		t.Fatal("New accepted both Alias and Index")
	}
}
