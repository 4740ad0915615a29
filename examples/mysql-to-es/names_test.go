package main

import (
	"fmt"
	"strings"
	"testing"
)

// The flagship's Kafka groups and topics are those of the deployed pipeline: renaming one would orphan its
// offsets, positions and join state. Neither MySQL nor Elasticsearch is contacted.
func TestEngineNamesUnchanged(t *testing.T) {
	tp, _, err := build("root@tcp(127.0.0.1:1)/", 1, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range tp.EngineNames() {
		got = append(got, fmt.Sprintf("%s %s", n.Kind, n.Name))
	}
	want := []string{
		"consumer group shop-search.cdc",
		"topic shop-search.cdc.control",
		"topic shop-search.cdc-table",
		"consumer group shop-search.orders-index",
		"consumer group shop-search.orders-index.with-customer",
		"topic shop-search.orders-index.with-customer.out",
		"topic shop-search.orders-index.with-customer-loop",
		"topic shop-search.orders-index.with-customer-table",
		"topic shop-search.status",
		"topic shop-search.commands",
		"topic shop-search.audit",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("engine names:\n%s\nwant (as deployed):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
