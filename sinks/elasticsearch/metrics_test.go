package elasticsearch_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
)

// Acceptance 4: the sink's request and retry counters (its Stats) appear on the pipeline's /metrics, with
// the pipeline and flow labels, and equal Stats.
func TestStatsOnPipelineMetrics(t *testing.T) {
	const n = 200
	brokers := testkit.Brokers(t, 1)
	srv := startServer(t)
	produceOrders(t, brokers, "orders", 0, n, orderJSON)
	tp, sink, err := esPipeline("esm", "orders", srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFaults(esserver.Faults{RejectEvery: 2}) // every second bulk request answers 429: retries
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, testkit.FreeAddr(t)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()

	indexed := fmt.Sprintf(`sluice_elasticsearch_documents_total{flow="index",pipeline="esm",result="indexed"} %d`, n)
	var body string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body = tryGet("http://" + cfg.HTTPAddr + "/metrics") // "" until the pipeline serves it
		if strings.Contains(body, indexed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s (sink stats %+v):\n%s", indexed, sink.Stats(), grepLines(body, "sluice_elasticsearch"))
		}
	}
	st := sink.Stats()
	if st.Requests == 0 || st.Retries == 0 {
		t.Fatalf("stats %+v: want requests and retries (the faults did not bite)", st)
	}
	body = httpGet(t, "http://"+cfg.HTTPAddr+"/metrics") // after the last write: equal to Stats
	for _, want := range []string{
		fmt.Sprintf(`sluice_elasticsearch_requests_total{flow="index",pipeline="esm"} %d`, st.Requests),
		fmt.Sprintf(`sluice_elasticsearch_retries_total{flow="index",pipeline="esm"} %d`, st.Retries),
		indexed,
		`sluice_elasticsearch_documents_total{flow="index",pipeline="esm",result="rejected"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(body, "sluice_elasticsearch"))
		}
	}
	t.Logf("sink stats %+v", st)
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	body := tryGet(url)
	if body == "" {
		t.Fatalf("GET %s: no answer", url)
	}
	return body
}

// tryGet returns the body at url, or "" when there is no answer (yet).
func tryGet(url string) string {
	client := http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
