package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

const benchDocs = 20_000

// BenchmarkSinkVsRawBulk indexes the same documents into the embedded server twice per iteration: through
// the sink (records -> JSON -> versioned bulk requests, batches of 1,000 written as two concurrent requests
// of 500, the sink's default MaxRequests) and with a raw loader that posts pre-serialised NDJSON bulk
// bodies in the same shape (two concurrent requests of 500 documents, one pair after another). It reports
// both rates and sink/raw.
//
// Each phase gets its own freshly started server (default 1 s refresh interval), so neither phase pays for
// the other's background indexing, and starts after a garbage collection. A phase is timed from its first
// request until its documents are searchable: the last bulk answered, then an explicit _refresh of the
// index (which indexes what the periodic refresh has not yet), checked by a _count equal to the number of
// documents. The phases alternate their order from one iteration to the next. Besides the rates and sink/raw
// (their ratio), it reports sink/raw-cpu: the process's CPU time (user + system, server included) of the raw
// phase over the sink's, which a busy machine disturbs far less than the wall-clock rates. The server's
// start and a garbage collection before each phase are outside both measures.
//
//	go test -run '^$' -bench SinkVsRawBulk -benchtime 2x ./sinks/elasticsearch
func BenchmarkSinkVsRawBulk(b *testing.B) {
	records := make([]stream.Record, benchDocs)
	var bodies [][]byte
	var body bytes.Buffer
	for i := range records {
		doc := map[string]any{"id": int64(i), "name": fmt.Sprintf("customer %d", i), "amount": int64(i * 7), "status": "new"}
		records[i] = stream.Record{Offset: int64(i), Key: fmt.Sprintf("doc-%d", i), Operation: stream.OpCreate, Value: doc}
		fmt.Fprintf(&body, `{"index":{"_index":"raw","_id":"doc-%d"}}`+"\n"+`{"id":%d,"name":"customer %d","amount":%d,"status":"new"}`+"\n", i, i, i, i*7)
		if (i+1)%500 == 0 {
			bodies = append(bodies, append([]byte(nil), body.Bytes()...))
			body.Reset()
		}
	}
	raw := func() (wall, cpu time.Duration) {
		srv, client := benchServer(b)
		defer srv.Close()
		startCPU, start := processCPU(), time.Now()
		for i := 0; i < len(bodies); i += 2 {
			errs := make(chan error, 2)
			for _, payload := range bodies[i : i+2] {
				go func() { errs <- postBulk(client, payload) }()
			}
			for range 2 {
				if err := <-errs; err != nil {
					b.Fatalf("raw loader: bulk request to %s: %v", srv.URL(), err)
				}
			}
		}
		waitSearchable(b, client, "raw", benchDocs)
		return time.Since(start), processCPU() - startCPU
	}
	sink := func() (wall, cpu time.Duration) {
		srv, client := benchServer(b)
		defer srv.Close()
		s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: "sink"})
		if err != nil {
			b.Fatal(err)
		}
		startCPU, start := processCPU(), time.Now()
		for i := 0; i < len(records); i += 1000 {
			if err := s.Write(context.Background(), records[i:i+1000]); err != nil {
				b.Fatalf("sink: batch of records %d-%d: %v", i, i+999, err)
			}
		}
		waitSearchable(b, client, "sink", benchDocs)
		return time.Since(start), processCPU() - startCPU
	}
	var rawTotal, sinkTotal, rawCPU, sinkCPU time.Duration
	timed := func(phase func() (time.Duration, time.Duration), wall, cpu *time.Duration) {
		w, c := phase()
		*wall += w
		*cpu += c
	}
	for iter := 0; b.Loop(); iter++ {
		if iter%2 == 0 {
			timed(raw, &rawTotal, &rawCPU)
			timed(sink, &sinkTotal, &sinkCPU)
		} else {
			timed(sink, &sinkTotal, &sinkCPU)
			timed(raw, &rawTotal, &rawCPU)
		}
	}
	n := float64(b.N * benchDocs)
	b.ReportMetric(n/rawTotal.Seconds(), "raw-docs/s")
	b.ReportMetric(n/sinkTotal.Seconds(), "sink-docs/s")
	b.ReportMetric(rawTotal.Seconds()/sinkTotal.Seconds(), "sink/raw")
	b.ReportMetric(rawCPU.Seconds()/sinkCPU.Seconds(), "sink/raw-cpu")
}

// postBulk posts one NDJSON bulk body and reads the answer.
func postBulk(client *es.Client, payload []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := client.Bulk(bytes.NewReader(payload), client.Bulk.WithContext(ctx))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var answer struct {
		Errors bool `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil || res.IsError() || answer.Errors {
		return fmt.Errorf("answered %s (errors in items: %v, %v)", res.Status(), answer.Errors, err)
	}
	return nil
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchServer starts an idle embedded server for one benchmark phase, after a garbage collection so that
// the previous phase's garbage is not collected on this one's time.
func benchServer(b *testing.B) (*esserver.Server, *es.Client) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	runtime.GC()
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	if err != nil {
		srv.Close()
		b.Fatal(err)
	}
	return srv, client
}

// waitSearchable refreshes index and checks that search sees want documents.
func waitSearchable(b *testing.B, client *es.Client, index string, want int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := client.Indices.Refresh(client.Indices.Refresh.WithIndex(index), client.Indices.Refresh.WithContext(ctx))
	if err != nil {
		b.Fatalf("refresh index %s: %v", index, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.IsError() {
		b.Fatalf("refresh index %s answered %s", index, res.Status())
	}
	res, err = client.Count(client.Count.WithIndex(index), client.Count.WithContext(ctx))
	if err != nil {
		b.Fatalf("count index %s: %v", index, err)
	}
	defer res.Body.Close()
	var count struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&count); err != nil || res.IsError() {
		b.Fatalf("count index %s: %s %v", index, res.Status(), err)
	}
	if count.Count != want {
		b.Fatalf("index %s: %d documents searchable after refresh, want %d", index, count.Count, want)
	}
}
