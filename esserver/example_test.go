package esserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/sluicehq/sluice/esserver"
)

// Start a server on a free port and talk to it with the unmodified go-elasticsearch client.
func ExampleStart() {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{srv.URL()}})
	if err != nil {
		log.Fatal(err)
	}
	res, err := es.Info()
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	_ = json.NewDecoder(res.Body).Decode(&info)
	fmt.Println(res.StatusCode, res.Header.Get("X-Elastic-Product"), info.Version.Number)
	// Output: 200 Elasticsearch 8.19.0
}

// Index documents with the BulkIndexer, refresh, and search them.
func ExampleServer_search() {
	srv, err := esserver.Start(esserver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	es, _ := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{srv.URL()}})

	ctx := context.Background()
	bi, _ := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: "orders", Refresh: "true"})
	for i, customer := range []string{"ada", "grace", "ada"} {
		_ = bi.Add(ctx, esutil.BulkIndexerItem{
			Action:     "index",
			DocumentID: fmt.Sprint(i + 1),
			Body:       strings.NewReader(fmt.Sprintf(`{"customer":%q,"total":%d}`, customer, (i+1)*10)),
		})
	}
	if err := bi.Close(ctx); err != nil {
		log.Fatal(err)
	}

	res, err := es.Search(
		es.Search.WithIndex("orders"),
		es.Search.WithBody(strings.NewReader(`{"query":{"term":{"customer.keyword":"ada"}},"sort":[{"total":"desc"}]}`)),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	fmt.Println("total:", out.Hits.Total.Value)
	for _, h := range out.Hits.Hits {
		fmt.Println(h.ID, string(h.Source))
	}
	// Output:
	// total: 2
	// 3 {"customer":"ada","total":30}
	// 1 {"customer":"ada","total":10}
}
