package topology_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// A record a join cannot handle (here: an order whose value is not JSON) stops the pipeline at once with
// one error line naming the flow, the stage and the record's topic/partition@offset; RunWith's error says
// it once, without goka's stack trace.
func TestJoinFailureLoggedOnce(t *testing.T) {
	f := newJoinFixture(t)
	f.send("customers", 1, `{"id":1,"name":"Ann"}`)
	f.send("orders", 10, order(10, 1, 5))
	f.send("orders", 11, `{"amount":`)

	tp := topology.New("shop")
	customers := tp.Topic("customers", topology.KeyCodec("json"), topology.Partitions(3))
	orders := tp.Topic("orders", topology.KeyCodec("json"), topology.Partitions(3))
	customerRows := tp.Table("customers", customers)
	join, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("index").From(orders).Join(customerRows, join).To(f.sink, topology.BatchSize(10), topology.Linger(5*time.Millisecond))
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = f.brokers, "off"
	log := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	err = tp.RunWith(ctx, cfg)
	took := time.Since(began)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("RunWith = %v (%v) after %v; want the join's failure; log:\n%s", err, ctx.Err(), took, strings.Join(log.Lines(""), "\n"))
	}
	t.Logf("RunWith after %v: %v", took.Round(time.Millisecond), err)
	for _, l := range log.Lines("level=") {
		if !strings.Contains(l, "level=INFO") {
			t.Logf("log: %s", l)
		}
	}
	const cause = "decode value with json"
	if lines := log.Lines("level=ERROR"); len(lines) != 1 || !strings.Contains(lines[0], cause) {
		t.Errorf("%d ERROR lines; want one naming the cause", len(lines))
	}
	if n := len(log.Lines(cause)); n != 1 {
		t.Errorf("%d lines say %q; want 1", n, cause)
	}
	if !strings.Contains(err.Error(), `flow "index": stage "with-customer": orders/`) || strings.Count(err.Error(), cause) != 1 ||
		strings.Contains(err.Error(), "goroutine") || strings.Contains(err.Error(), ".go:") {
		t.Errorf("RunWith's error %q; want the flow, the stage and the record once, no stack trace", err)
	}
}
