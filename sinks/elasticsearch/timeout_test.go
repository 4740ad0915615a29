package elasticsearch_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// blackHole accepts connections and never answers, like a SIGSTOPped server.
func blackHole(t *testing.T) string { return testkit.StartBlackHole(t).Addr() }

func oneOrder() []stream.Record {
	return []stream.Record{{Topic: "orders", Key: "order-1", Value: map[string]any{"id": int64(1)}}}
}

// A server that takes the connection and never answers: every request times out after RequestTimeout, is
// retried (reported to the engine, warned about once), and the write gives up after RetryTimeout naming
// what happened.
func TestUnansweredRequestsTimeOutAndRetry(t *testing.T) {
	addr := blackHole(t)
	var logs testkit.LogBuffer
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{"http://" + addr}, Index: "orders",
		RequestTimeout: 100 * time.Millisecond, RetryTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var attempts []int
	ctx := sinks.WithRetryReporter(context.Background(), func(attempt int, err error) {
		mu.Lock()
		attempts = append(attempts, attempt)
		mu.Unlock()
	})
	start := time.Now()
	err = sink.Write(ctx, oneOrder())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms (RequestTimeout)") ||
		!strings.Contains(err.Error(), "gave up after retrying for 2s") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Write = %v", err)
	}
	// The backoff stops when its next wait would pass RetryTimeout, so the end comes a little before it.
	if took < time.Second || took > 4*time.Second {
		t.Errorf("Write gave up after %v, want about RetryTimeout (2s)", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) < 2 {
		t.Errorf("reported attempts %v, want at least 2 and 3", attempts)
	}
	for i, a := range attempts {
		if a != i+2 {
			t.Errorf("reported attempts %v, want 2, 3, ...", attempts)
			break
		}
	}
	if n := strings.Count(logs.String(), "elasticsearch sink retrying"); n != 1 {
		t.Errorf("%d retry warnings within 30s, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "host="+addr) || !strings.Contains(logs.String(), "index=orders") ||
		!strings.Contains(logs.String(), "attempt=2") {
		t.Errorf("retry warning lacks host, index or attempt:\n%s", logs.String())
	}
	t.Logf("gave up after %v, %d attempts; %s", took.Round(time.Millisecond), len(attempts)+1, err)
}

// A cancelled ctx (the engine stopping, or revoking the flow's partitions) ends a retrying write at once,
// however long RetryTimeout is.
func TestCancelledWriteReturnsPromptly(t *testing.T) {
	addr := blackHole(t)
	sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{"http://" + addr}, Index: "orders",
		RequestTimeout: 10 * time.Second, RetryTimeout: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err = sink.Write(ctx, oneOrder())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("cancelled Write returned after %v", took)
	}
}
