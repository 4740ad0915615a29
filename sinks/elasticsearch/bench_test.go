package elasticsearch_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

const benchDocs = 20_000

// BenchmarkSinkVsRawBulk indexes the same documents into the embedded server twice in one run: through the
// sink (records -> JSON -> versioned bulk requests, batches of 1,000) and with a raw loader that posts
// pre-serialised NDJSON bulk bodies of the same size. It reports both rates and sink/raw.
//
//	go test -run '^$' -bench SinkVsRawBulk -benchtime 3x ./sinks/elasticsearch
func BenchmarkSinkVsRawBulk(b *testing.B) {
	srv := startServer(b)
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	records := make([]stream.Record, benchDocs)
	var bodies [][]byte
	var body bytes.Buffer
	for i := range records {
		doc := map[string]any{"id": int64(i), "name": fmt.Sprintf("customer %d", i), "amount": int64(i * 7), "status": "new"}
		records[i] = stream.Record{Offset: int64(i), Key: fmt.Sprintf("doc-%d", i), Operation: stream.OpCreate, Value: doc}
		fmt.Fprintf(&body, `{"index":{"_index":"raw-%%d","_id":"doc-%d"}}`+"\n"+`{"id":%d,"name":"customer %d","amount":%d,"status":"new"}`+"\n", i, i, i, i*7)
		if (i+1)%1000 == 0 {
			bodies = append(bodies, append([]byte(nil), body.Bytes()...))
			body.Reset()
		}
	}
	var rawTotal, sinkTotal time.Duration
	for iter := 0; b.Loop(); iter++ {
		start := time.Now()
		for _, tmpl := range bodies {
			res, err := client.Bulk(bytes.NewReader(bytes.ReplaceAll(tmpl, []byte("raw-%d"), []byte(fmt.Sprintf("raw-%d", iter)))))
			if err != nil || res.IsError() {
				b.Fatalf("raw bulk: %v %v", err, res)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		rawTotal += time.Since(start)

		s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: fmt.Sprintf("sink-%d", iter)})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for i := 0; i < len(records); i += 1000 {
			if err := s.Write(context.Background(), records[i:i+1000]); err != nil {
				b.Fatal(err)
			}
		}
		sinkTotal += time.Since(start)
	}
	n := float64(b.N * benchDocs)
	b.ReportMetric(n/rawTotal.Seconds(), "raw-docs/s")
	b.ReportMetric(n/sinkTotal.Seconds(), "sink-docs/s")
	b.ReportMetric(rawTotal.Seconds()/sinkTotal.Seconds(), "sink/raw")
}
