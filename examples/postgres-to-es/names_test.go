package main

import (
	"fmt"
	"strings"
	"testing"
)

// The pipeline's Kafka groups and topics: renaming one would orphan its offsets, positions and join state.
// They differ from the MySQL flagship's, so both can share a broker. Neither PostgreSQL nor Elasticsearch is
// contacted.
func TestEngineNames(t *testing.T) {
	tp, _, err := build("postgres://postgres@127.0.0.1:1/shop", defaultSlot, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range tp.EngineNames() {
		got = append(got, fmt.Sprintf("%s %s", n.Kind, n.Name))
	}
	want := []string{
		"consumer group pg-shop-search.cdc",
		"topic pg-shop-search.cdc.control",
		"topic pg-shop-search.cdc-table",
		"consumer group pg-shop-search.orders-index",
		"consumer group pg-shop-search.orders-index.with-customer",
		"topic pg-shop-search.orders-index.with-customer.out",
		"topic pg-shop-search.orders-index.with-customer-loop",
		"topic pg-shop-search.orders-index.with-customer-table",
		"topic pg-shop-search.status",
		"topic pg-shop-search.commands",
		"topic pg-shop-search.audit",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("engine names:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
