package topology_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestKafkaAuthOAuthBearerAndClientCertificate tests what only real Apache Kafka can (started whatever
// SLUICE_TEST_KAFKA says: kfake speaks no OAUTHBEARER and checks no client certificate), on one cluster
// whose SASL_SSL listener also requires a client certificate.
func TestKafkaAuthOAuthBearerAndClientCertificate(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Security: &kafkatest.Security{TLS: true, OAuthBearer: true,
		ClientCertificates: true, Users: map[string]string{"alice": "alice-secret"}}})
	t.Run("OAUTHBEARER", func(t *testing.T) { oauthBearer(t, c) })
	t.Run("client certificate", func(t *testing.T) { clientCertificate(t, c) })
}

// oauthBearer runs a file -> file pipeline over SASL_SSL with OAUTHBEARER. The token comes from a
// client-credentials grant at a test token endpoint; Kafka validates it with its default (unsecured JWT)
// validator. Every client of the pipeline shares one cached token; a refused client secret fails start-up
// at once.
func oauthBearer(t *testing.T, c *kafkatest.Cluster) {
	var grants, refusals atomic.Int64
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if r.ParseForm() != nil || !ok || id != "sluice-app" || secret != "app-secret" || r.Form.Get("grant_type") != "client_credentials" {
			refusals.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		grants.Add(1)
		enc := base64.RawURLEncoding.EncodeToString
		header, _ := json.Marshal(map[string]string{"alg": "none"})
		claims, _ := json.Marshal(map[string]any{"sub": "sluice-app", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "scope": r.Form.Get("scope")})
		json.NewEncoder(w).Encode(map[string]any{"access_token": enc(header) + "." + enc(claims) + ".", "token_type": "Bearer", "expires_in": 3600})
	}))
	defer tokens.Close()

	sec := kafka.Security{TLS: true, TLSCAFile: c.CAFile(), TLSCertFile: c.ClientKeystore(), TLSKeyFile: c.ClientKeystore(), SASLMechanism: kafka.SASLOAuthBearer,
		OAuthTokenURL: tokens.URL, OAuthClientID: "sluice-app", OAuthClientSecret: "app-secret", OAuthScope: "kafka"}
	if err := authPipeline(t, "auth-oauth", authConfig(c.Addrs(), sec), 100); err != nil {
		t.Fatal(err)
	}
	if n := grants.Load(); n != 1 {
		t.Fatalf("%d token grants for one run, want 1 (cached and shared by every client)", n)
	}

	sec.OAuthClientSecret = "wrong"
	began := time.Now()
	err := authPipeline(t, "auth-oauth-wrong", authConfig(c.Addrs(), sec), 1)
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), `refused client "sluice-app" (HTTP 401): invalid_client`) {
		t.Fatalf("a refused client secret: got %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the secret: %v", err)
	}
	if took > 10*time.Second || refusals.Load() > 2 {
		t.Fatalf("a refused client secret failed start-up after %v and %d token requests, want at once (no retries)", took, refusals.Load())
	}
	t.Log(fmt.Sprintf("refused after %v, %d token request(s): %v", took.Round(time.Millisecond), refusals.Load(), err))
}
