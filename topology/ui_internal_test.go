package topology

import (
	"context"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// uiTestSink and uiTestSource are declarations only: uiGraphOf never runs them.
type uiTestSink struct{}

func (uiTestSink) Open(context.Context) error                   { return nil }
func (uiTestSink) Close() error                                 { return nil }
func (uiTestSink) Write(context.Context, []stream.Record) error { return nil }

type uiTestSource struct{ sources.Source }

// The status page's graph: a multi-topic source is drawn to the declared topics nothing else writes
// (not to dead-letter topics), a table feeds its join, and two flows that feed each other's topics (a
// cycle) are laid out without looping, every other edge pointing right and no two nodes overlapping.
func TestStatusPageGraph(t *testing.T) {
	id := func(n string) stages.Stage {
		return stages.Map(n, func(r stream.Record) (stream.Record, error) { return r, nil })
	}
	tp := New("graph")
	customers, orders := tp.Topic("shop.customers"), tp.Topic("shop.orders")
	enriched, dlq := tp.Topic("orders.enriched"), tp.Topic("orders.dlq")
	ping, pong := tp.Topic("ping"), tp.Topic("pong")
	tp.Source("cdc", uiTestSource{}).ToRecordTopics().DeadLetter(dlq)
	table := tp.Table("customers", customers).Via(id("unwrap"))
	join, err := stages.LookupJoin("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("enrich").From(orders).Via(id("unwrap")).Join(table, join).ToTopic(enriched)
	tp.Flow("index").From(enriched).To(sinks.Sink(uiTestSink{}))
	tp.Flow("there").From(ping).ToTopic(pong)
	tp.Flow("back").From(pong).ToTopic(ping)

	g := uiGraphOf(tp)
	byID := map[string]*uiNode{}
	for _, n := range g.Nodes {
		byID[n.ID] = n
	}
	var edges []string
	for _, e := range g.Edges {
		edges = append(edges, e.From+" -> "+e.To)
	}
	for _, want := range []string{
		"source:cdc -> topic:shop.customers", "source:cdc -> topic:shop.orders", "topic:shop.customers -> table:customers",
		"table:customers -> join:enrich/with-customer", "stage:flow/enrich/unwrap -> join:enrich/with-customer",
		"join:enrich/with-customer -> sink:enrich", "sink:enrich -> topic:orders.enriched",
		"topic:orders.enriched -> sink:index", "sink:there -> topic:pong", "sink:back -> topic:ping",
	} {
		if !slices.Contains(edges, want) {
			t.Errorf("no edge %s in %v", want, edges)
		}
	}
	for _, unwanted := range []string{"source:cdc -> topic:orders.enriched", "source:cdc -> topic:ping", "source:cdc -> topic:orders.dlq"} {
		if slices.Contains(edges, unwanted) {
			t.Errorf("edge %s drawn: the topic is written by a flow, or a dead-letter topic", unwanted)
		}
	}
	if byID["topic:orders.dlq"] != nil {
		t.Error("the dead-letter topic, which nothing reads, is drawn")
	}
	backward := 0
	for _, e := range g.Edges {
		if byID[e.From].X >= byID[e.To].X {
			backward++ // only the edge that closes the ping/pong cycle may
		}
	}
	if backward != 1 {
		t.Errorf("%d edges point left or straight down, want 1 (the cycle's): %v", backward, edges)
	}
	for i, a := range g.Nodes {
		for _, b := range g.Nodes[i+1:] {
			if a.X == b.X && a.Y == b.Y {
				t.Errorf("%s and %s overlap", a.ID, b.ID)
			}
		}
		if a.X+uiNodeWidth > g.Width || a.Y+uiNodeHeight > g.Height {
			t.Errorf("%s lies outside the %dx%d graph", a.ID, g.Width, g.Height)
		}
	}
}
