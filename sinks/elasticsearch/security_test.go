package elasticsearch_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// secureFront is an https endpoint in front of the embedded server that, like a secured Elasticsearch,
// refuses requests without the right credentials (401 with Elasticsearch's security error shape).
func secureFront(t *testing.T, backend string, allowed ...string) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(backend)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		for _, a := range allowed {
			// The scheme is case-insensitive (RFC 9110), the credentials are not.
			gs, gc, _ := strings.Cut(got, " ")
			as, ac, _ := strings.Cut(a, " ")
			if strings.EqualFold(gs, as) && gc == ac {
				proxy.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user"}],"type":"security_exception","reason":"unable to authenticate user"},"status":401}`)
	}))
	t.Cleanup(front.Close)
	return front
}

func TestTLSAndAuthentication(t *testing.T) {
	srv := startServer(t)
	apiKey := base64.StdEncoding.EncodeToString([]byte("id:secret"))
	front := secureFront(t, srv.URL(), "Basic "+base64.StdEncoding.EncodeToString([]byte("elastic:changeme")), "ApiKey "+apiKey)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := front.Certificate()
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
	sum := sha256.Sum256(cert.Raw)
	fingerprint := hex.EncodeToString(sum[:])

	for _, tc := range []struct {
		name string
		cfg  elasticsearch.Config
		want string // "" = Open and Write succeed
	}{
		{"CA file and basic auth", elasticsearch.Config{CACertFile: caFile, Username: "elastic", Password: "changeme"}, ""},
		{"fingerprint and API key", elasticsearch.Config{CertificateFingerprint: fingerprint, APIKey: apiKey}, ""},
		{"wrong password", elasticsearch.Config{CACertFile: caFile, Username: "elastic", Password: "nope"}, "401"},
		{"untrusted certificate", elasticsearch.Config{Username: "elastic", Password: "changeme"}, "certificate"},
		{"wrong fingerprint", elasticsearch.Config{CertificateFingerprint: strings.Repeat("ab", 32), APIKey: apiKey}, "fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URLs = []string{front.URL}
			tc.cfg.Index = "secure"
			s, err := elasticsearch.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Open(context.Background())
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Open = %v, want an error mentioning %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Write(context.Background(), []stream.Record{{Key: tc.name, Value: map[string]any{"ok": true}}}); err != nil {
				t.Fatal(err)
			}
		})
	}
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	if _, ok := getDoc(client, "secure", "fingerprint and API key"); !ok {
		t.Error("document written through TLS with an API key is missing")
	}
}

func TestOpenFailsClearly(t *testing.T) {
	addr := testkit.FreeAddr(t) // nothing listens there
	s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot reach http://"+addr) {
		t.Fatalf("Open against nothing = %v", err)
	}
}

// With Mappings, Open creates the index with them when it is missing.
func TestOpenCreatesIndexWithMappings(t *testing.T) {
	testOpenCreatesIndexWithMappings(t, embeddedTarget(t))
}

func TestOpenCreatesIndexWithMappingsInteropOpenSearch(t *testing.T) {
	testOpenCreatesIndexWithMappings(t, openSearchTarget(t, "orders"))
}

func testOpenCreatesIndexWithMappings(t *testing.T, tg target) {
	s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{tg.url}, Index: "orders",
		Mappings: []byte(`{"properties":{"status":{"type":"keyword"},"amount":{"type":"double"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil { // already there: fine
		t.Fatal(err)
	}
	client := tg.client(t)
	res, err := client.Indices.GetMapping(client.Indices.GetMapping.WithIndex("orders"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"status":{"type":"keyword"}`) || !strings.Contains(string(body), `"amount":{"type":"double"}`) {
		t.Fatalf("mapping %s", body)
	}
}
