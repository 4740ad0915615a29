package esserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sluicehq/sluice/internal/opensearchtest"
)

// childEnv makes the test binary run a server instead of the tests (see durability_test.go).
const childEnv = "ESTEST_CHILD_DATADIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		runChild(dir)
		return
	}
	code := m.Run()
	opensearchtest.Stop() // the real OpenSearch node of the interop tests, if one was started
	os.Exit(code)
}

// runChild serves on a free port with DataDir dir and prints its URL on stdout.
func runChild(dir string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	s, err := Start(Config{DataDir: dir})
	if err != nil {
		os.Stdout.WriteString("ERROR " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString(s.URL() + "\n")
	<-ctx.Done()
	_ = s.Close()
	os.Exit(0)
}

// start runs a server for one test and returns it with a go-elasticsearch client pointed at it.
func start(t *testing.T, cfg Config) (*Server, *elasticsearch.Client) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, newClient(t, s.URL())
}

func newClient(t *testing.T, url string) *elasticsearch.Client {
	t.Helper()
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// call performs an esapi request and decodes its JSON body.
func call(t *testing.T, es *elasticsearch.Client, req esapi.Request) resp {
	t.Helper()
	res, err := req.Do(context.Background(), es)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 && raw[0] == '{' {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&out.body); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	return out
}

// get walks a decoded body by a dotted path; numeric segments index arrays.
func get(v any, path string) any {
	parts := strings.Split(path, ".")
	for k := 0; k < len(parts); k++ {
		p := parts[k]
		switch t := v.(type) {
		case map[string]any:
			// Keys may contain dots ("resource.id", "docs.count"): prefer the longest that exists.
			for j := len(parts); j > k+1; j-- {
				if _, ok := t[strings.Join(parts[k:j], ".")]; ok {
					p, k = strings.Join(parts[k:j], "."), j-1
					break
				}
			}
			v = t[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		f, _ := n.Float64()
		return f
	}
	return v
}

// expect checks path=value pairs against a response.
func expect(t *testing.T, r resp, status int, pairs ...any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		path := pairs[i].(string)
		want := pairs[i+1]
		if w, ok := want.(int); ok {
			want = int64(w)
		}
		if got := get(r.body, path); got != want {
			t.Fatalf("%s = %#v, want %#v in %s", path, got, want, r.raw)
		}
	}
}

func body(s string) io.Reader { return strings.NewReader(s) }

func ptr[T any](v T) *T { return &v }

var bg = context.Background()

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
