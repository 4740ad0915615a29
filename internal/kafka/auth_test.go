package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestSASLSecurityValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		sec  Security
		want string
	}{
		{Security{SASLMechanism: "SCRAM-SHA-1"}, "Kafka.SASLMechanism (SLUICE_KAFKA_SASL_MECHANISM) \"SCRAM-SHA-1\" is none of"},
		{Security{SASLMechanism: SASLScramSHA512}, "Kafka.SASLUsername (SLUICE_KAFKA_SASL_USERNAME) is empty"},
		{Security{SASLMechanism: SASLPlain, SASLUsername: "u"}, "Kafka.SASLPassword (SLUICE_KAFKA_SASL_PASSWORD) is empty"},
		{Security{SASLUsername: "u"}, "Kafka.SASLUsername (SLUICE_KAFKA_SASL_USERNAME) is set but Kafka.SASLMechanism"},
		{Security{SASLMechanism: SASLOAuthBearer}, "Kafka.OAuthTokenURL (SLUICE_KAFKA_OAUTH_TOKEN_URL) is empty"},
		{Security{SASLMechanism: SASLOAuthBearer, OAuthTokenURL: "ftp://x"}, "is not an http(s) URL"},
		{Security{SASLMechanism: SASLOAuthBearer, OAuthTokenURL: "https://x/token"}, "Kafka.OAuthClientID (SLUICE_KAFKA_OAUTH_CLIENT_ID) is empty"},
		{Security{TLSCAFile: "/ca.pem"}, "Kafka.TLSCAFile (SLUICE_KAFKA_TLS_CA_FILE) is set but Kafka.TLS (SLUICE_KAFKA_TLS) is false"},
		{Security{TLS: true, TLSCertFile: "c.pem"}, "Kafka.TLSCertFile (SLUICE_KAFKA_TLS_CERT_FILE) and Kafka.TLSKeyFile"},
	} {
		err := tc.sec.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.sec, err, tc.want)
		}
	}
	if err := (Security{TLS: true, SASLMechanism: SASLScramSHA256, SASLUsername: "u", SASLPassword: "p"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTLSUnreadableFilesFailNamingTheField(t *testing.T) {
	dir := t.TempDir()
	_, err := NewAuth(Security{TLS: true, TLSCAFile: filepath.Join(dir, "missing.pem")})
	if err == nil || !strings.Contains(err.Error(), "Kafka.TLSCAFile (SLUICE_KAFKA_TLS_CA_FILE)") || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing CA file: %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o644)
	_, err = NewAuth(Security{TLS: true, TLSCAFile: junk})
	if err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("junk CA file: %v", err)
	}
	_, err = NewAuth(Security{TLS: true, TLSCertFile: junk, TLSKeyFile: junk})
	if err == nil || !strings.Contains(err.Error(), "Kafka.TLSCertFile") {
		t.Fatalf("junk client certificate: %v", err)
	}
}

func TestSASLSecurityFromEnv(t *testing.T) {
	t.Setenv("SLUICE_KAFKA_TLS", "true")
	t.Setenv("SLUICE_KAFKA_SASL_MECHANISM", "scram-sha-512")
	t.Setenv("SLUICE_KAFKA_SASL_USERNAME", "alice")
	t.Setenv("SLUICE_KAFKA_SASL_PASSWORD", "secret")
	t.Setenv("SLUICE_KAFKA_TLS_SERVER_NAME", "kafka.internal")
	s, err := SecurityFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Security{TLS: true, TLSServerName: "kafka.internal", SASLMechanism: SASLScramSHA512, SASLUsername: "alice", SASLPassword: "secret"}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	a, err := NewAuth(s)
	if err != nil {
		t.Fatal(err)
	}
	c := SaramaConfig(Settings{Auth: a})
	if !c.Net.TLS.Enable || c.Net.TLS.Config.ServerName != "kafka.internal" || !c.Net.SASL.Enable ||
		c.Net.SASL.Mechanism != sarama.SASLTypeSCRAMSHA512 || c.Net.SASL.SCRAMClientGeneratorFunc == nil {
		t.Fatalf("sarama config: TLS %v, SASL %v %s", c.Net.TLS.Enable, c.Net.SASL.Enable, c.Net.SASL.Mechanism)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("sarama refuses the configuration: %v", err)
	}
	t.Setenv("SLUICE_KAFKA_TLS", "yes please")
	if _, err := SecurityFromEnv(); err == nil || !strings.Contains(err.Error(), "SLUICE_KAFKA_TLS") {
		t.Fatalf("bad boolean: %v", err)
	}
}

// TestSASLAuthErrorsAreNotRetriable: refused credentials and failed TLS handshakes are final, also when a
// library flattened them into text.
func TestSASLAuthErrorsAreNotRetriable(t *testing.T) {
	refused := fmt.Errorf("%w: %w", sarama.ErrOutOfBrokers, sarama.ErrSASLAuthenticationFailed)
	for _, err := range []error{refused, errors.New(refused.Error()),
		errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")} {
		if Retriable(err) || RetriableText(err) {
			t.Errorf("%v counts as retriable", err)
		}
	}
	explained := ExplainAuth(refused, []string{"k:9093"}, &Auth{sec: Security{SASLMechanism: SASLScramSHA512, SASLUsername: "x"}})
	if want := `Kafka at k:9093 refused the credentials of user "x" (SASL SCRAM-SHA-512): `; !strings.HasPrefix(explained.Error(), want) {
		t.Fatalf("got %q, want it to start %q", explained, want)
	}
	if !RetriableText(sarama.ErrOutOfBrokers) {
		t.Fatal("out of brokers alone is still retriable")
	}
}

// TestOAuthTokenCachedUntilExpiry: the client-credentials grant is sent once with the client's id and
// secret and the scope, and its token reused until shortly before it expires.
func TestOAuthTokenCachedUntilExpiry(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		id, secret, ok := r.BasicAuth()
		if err := r.ParseForm(); err != nil || !ok || id != "sluice" || secret != "s3cret" ||
			r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "kafka" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", calls.Load()), "expires_in": 3600, "token_type": "Bearer"})
	}))
	defer srv.Close()
	a, err := NewAuth(Security{SASLMechanism: SASLOAuthBearer, OAuthTokenURL: srv.URL, OAuthClientID: "sluice", OAuthClientSecret: "s3cret", OAuthScope: "kafka"})
	if err != nil {
		t.Fatal(err)
	}
	c := SaramaConfig(Settings{Auth: a})
	if c.Net.SASL.Mechanism != sarama.SASLTypeOAuth || c.Net.SASL.TokenProvider == nil {
		t.Fatalf("sarama config: mechanism %s", c.Net.SASL.Mechanism)
	}
	for range 3 {
		tok, err := c.Net.SASL.TokenProvider.Token()
		if err != nil || tok.Token != "tok-1" {
			t.Fatalf("token %+v, %v", tok, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d token requests, want 1", calls.Load())
	}
	a.tokens.refresh = time.Now().Add(-time.Second) // as if the token were about to expire
	if tok, _ := c.Net.SASL.TokenProvider.Token(); tok == nil || tok.Token != "tok-2" {
		t.Fatalf("an expiring token was not renewed: %+v", tok)
	}
	bad, _ := NewAuth(Security{SASLMechanism: SASLOAuthBearer, OAuthTokenURL: srv.URL, OAuthClientID: "other"})
	_, err = bad.tokens.Token()
	if err == nil || !strings.Contains(err.Error(), `refused client "other" (HTTP 401): invalid_client`) {
		t.Fatalf("refused client: %v", err)
	}
}
