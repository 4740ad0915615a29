package main

import (
	"net/http"
	"testing"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/internal/opensearchtest"
)

// Issue 19, acceptance 2: the flagship runs end to end into a real OpenSearch 2.19 node (SLUICE_ES_URL set
// to it, the flavour detected from GET /), is SIGKILLed three times under a load of inserts, updates and
// deletes, restarts, and the orders index equals MySQL.
func TestFlagshipInteropOpenSearchSurvivesSIGKILL(t *testing.T) {
	url := opensearchtest.Start(t)
	if status, body := opensearchtest.Do(t, url, http.MethodDelete, "/orders?ignore_unavailable=true", ""); status != http.StatusOK {
		t.Fatalf("delete the orders index left by an earlier test: HTTP %d %s", status, body)
	}
	// The checking client reads OpenSearch's answers as the sink does: go-elasticsearch refuses a server
	// without X-Elastic-Product, which OpenSearch never sends.
	client, err := es.NewClient(es.Config{Addresses: []string{url}, Interceptors: []elastictransport.InterceptorFunc{
		func(next elastictransport.RoundTripFunc) elastictransport.RoundTripFunc {
			return func(req *http.Request) (*http.Response, error) {
				res, err := next(req)
				if err == nil && res.Header.Get("X-Elastic-Product") == "" {
					res.Header.Set("X-Elastic-Product", "Elasticsearch")
				}
				return res, err
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	killedDuringLoadConverges(t, url, client)
}
