package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatusShowsBackpressure: sluice status ends with a table of the backpressure counts each replica
// published, and prints none when no flow or source has a policy.
func TestStatusShowsBackpressure(t *testing.T) {
	body := `{"name":"p","state":"RUNNING","replicas":[{"id":"r1","state":"RUNNING","updated":"2026-11-30T18:40:02Z",
		"backpressure":[{"flow":"orders-index","edge":"kafka-sink","mode":"LATEST","dropped":0,"coalesced":38117,"spilled":0,"pending":412,"spilled_pending":0},
		{"source":"logs","edge":"source-kafka","mode":"DROP","dropped":7,"coalesced":0,"spilled":0,"pending":3,"spilled_pending":0}]}],
		"tasks":[],"partitions":[]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/pipelines/none/status" {
			fmt.Fprint(w, `{"name":"none","state":"RUNNING","replicas":[{"id":"r1","state":"RUNNING"}],"tasks":[],"partitions":[]}`)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	out, err := run(t, context.Background(), "status", "p", "--url", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"EDGE        FLOW/SOURCE   MODE    REPLICA  DROPPED  COALESCED  SPILLED  PENDING  SPILLED-PENDING",
		"kafka-sink  orders-index  LATEST  r1       0        38117      0        412      0",
		"source-kafka  logs",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, context.Background(), "status", "none", "--url", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "EDGE") {
		t.Errorf("a pipeline without backpressure policies shows their table:\n%s", out)
	}
}
