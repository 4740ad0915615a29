package topology_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// authPipeline is a file -> Kafka -> file pipeline named name over cfg, started in a goroutine. It writes
// n lines into its input and returns once they all arrived in its output, then stops the pipeline and
// returns the run's error.
func authPipeline(t *testing.T, name string, cfg topology.Config, n int) error {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New(name)
	lines := tp.Topic(name+".lines", topology.ValueCodec("string"), topology.Partitions(2))
	tp.Source("files", src).To(lines)
	tp.Flow("to-file").From(lines).To(sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	deadline := time.Now().Add(45 * time.Second)
	for testkit.CountLines(out) < n {
		select {
		case err := <-done:
			return fmt.Errorf("pipeline stopped before its %d lines arrived (%d did): %w", n, testkit.CountLines(out), err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("%s: %d of %d lines after 45s", name, testkit.CountLines(out), n)
		}
		time.Sleep(20 * time.Millisecond) // polling the output file
	}
	cancel()
	return <-done
}

func authConfig(brokers []string, sec kafka.Security) topology.Config {
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Kafka = topology.KafkaSecurity(sec)
	return cfg
}

// TestKafkaAuthSASLOverTLS runs a file -> file pipeline against a Kafka that requires TLS and SASL (real
// Apache Kafka with a SASL_SSL listener under SLUICE_TEST_KAFKA=real, else kfake with TLS and SASL), once
// with SCRAM-SHA-512 and once with PLAIN, as a user that is not the superuser.
func TestKafkaAuthSASLOverTLS(t *testing.T) {
	k := testkit.SecureBrokers(t, map[string]string{"alice": "alice-secret"})
	for _, mech := range []string{kafka.SASLScramSHA512, kafka.SASLPlain} {
		t.Run(mech, func(t *testing.T) {
			name := "auth-" + strings.ToLower(strings.ReplaceAll(mech, "-", ""))
			if err := authPipeline(t, name, authConfig(k.Brokers, k.Security(mech, "alice", "alice-secret")), 200); err != nil {
				t.Fatalf("%s over TLS (real Kafka: %v): %v", mech, k.Real, err)
			}
			// The records really went through the secured Kafka.
			if got := len(testkit.ReadTopic(t, k.Brokers, name+".lines")); got != 200 {
				t.Fatalf("topic %s.lines holds %d records, want 200", name, got)
			}
		})
	}
}

// countingProxy forwards TCP connections to target and counts them.
type countingProxy struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Go(func() {
				defer c.Close()
				up, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			})
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// TestKafkaAuthWrongPassword: a wrong password fails start-up at once (well within StartupTimeout) with an
// error naming the broker, the user and the mechanism, after a single connection: no retry storm.
func TestKafkaAuthWrongPassword(t *testing.T) {
	k := testkit.SecureBrokers(t, map[string]string{"alice": "alice-secret"})
	proxy := newCountingProxy(t, k.Brokers[0])
	cfg := authConfig([]string{proxy.ln.Addr().String()}, k.Security(kafka.SASLScramSHA512, "alice", "wrong"))
	cfg.StartupTimeout = 30 * time.Second
	began := time.Now()
	err := authPipeline(t, "auth-wrong", cfg, 1)
	took := time.Since(began)
	want := fmt.Sprintf(`Kafka at %s refused the credentials of user "alice" (SASL SCRAM-SHA-512)`, proxy.ln.Addr())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error containing %q", err, want)
	}
	if strings.Contains(err.Error(), "wrong") && !strings.Contains(err.Error(), "alice") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if took > 10*time.Second {
		t.Fatalf("start-up failed after %v, want well within StartupTimeout (30s)", took)
	}
	if n := proxy.conns.Load(); n > 2 {
		t.Fatalf("%d connections to Kafka for one refused password, want 1 (no retries)", n)
	}
	t.Logf("refused after %v, %d connection(s): %v", took.Round(time.Millisecond), proxy.conns.Load(), err)

	// A broker certificate the client does not trust (no CA file: the system's roots) fails as fast.
	cfg = authConfig(k.Brokers, k.Security(kafka.SASLScramSHA512, "alice", "alice-secret"))
	cfg.Kafka.TLSCAFile = ""
	began = time.Now()
	err = authPipeline(t, "auth-untrusted", cfg, 1)
	want = fmt.Sprintf("TLS handshake with Kafka at %s failed: ", k.Brokers[0])
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("untrusted certificate: got %v, want an error containing %q and the x509 reason", err, want)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("untrusted certificate: start-up failed after %v, want at once", took)
	}
}

// TestKafkaAuthConfigFromEnv: the SLUICE_KAFKA_* variables fill Config.Kafka, and a bad combination fails
// naming the field and its variable.
func TestKafkaAuthConfigFromEnv(t *testing.T) {
	t.Setenv("SLUICE_BROKERS", "kafka-1:9093")
	t.Setenv("SLUICE_KAFKA_TLS", "true")
	t.Setenv("SLUICE_KAFKA_TLS_CA_FILE", "/etc/kafka/ca.pem")
	t.Setenv("SLUICE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
	t.Setenv("SLUICE_KAFKA_SASL_USERNAME", "sluice")
	t.Setenv("SLUICE_KAFKA_SASL_PASSWORD", "pw")
	cfg, err := topology.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := topology.KafkaSecurity{TLS: true, TLSCAFile: "/etc/kafka/ca.pem", SASLMechanism: "SCRAM-SHA-256", SASLUsername: "sluice", SASLPassword: "pw"}
	if cfg.Kafka != want {
		t.Fatalf("Config.Kafka = %+v, want %+v", cfg.Kafka, want)
	}
	t.Setenv("SLUICE_KAFKA_SASL_USERNAME", "")
	if _, err := topology.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "Kafka.SASLUsername (SLUICE_KAFKA_SASL_USERNAME) is empty") {
		t.Fatalf("mechanism without user: %v", err)
	}
	bad := topology.DefaultConfig()
	bad.Kafka = topology.KafkaSecurity{SASLMechanism: "OAUTHBEARER", OAuthTokenURL: "https://idp/token", OAuthClientID: "c"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "embedded broker does not speak") {
		t.Fatalf("OAUTHBEARER on the embedded broker: %v", err)
	}
	// An unreadable CA file fails start-up naming the field, before anything connects.
	bad = authConfig([]string{"127.0.0.1:1"}, kafka.Security{TLS: true, TLSCAFile: filepath.Join(t.TempDir(), "nope.pem")})
	err = authPipeline(t, "auth-ca", bad, 1)
	if err == nil || !strings.Contains(err.Error(), "Kafka.TLSCAFile (SLUICE_KAFKA_TLS_CA_FILE)") {
		t.Fatalf("unreadable CA file: %v", err)
	}
}

// TestKafkaAuthEmbeddedBrokerTLS: with no Brokers, Config.Kafka makes the pipeline's own embedded broker
// require TLS (a CA generated into DataDir/tls) and SASL PLAIN with the configured user, and the pipeline's
// clients use them.
func TestKafkaAuthEmbeddedBrokerTLS(t *testing.T) {
	cfg := authConfig(nil, kafka.Security{TLS: true, SASLMechanism: kafka.SASLPlain, SASLUsername: "local", SASLPassword: "local-secret"})
	cfg.BrokerAddr = testkit.FreeAddr(t)
	cfg.DataDir = t.TempDir()
	if err := authPipeline(t, "auth-embedded", cfg, 100); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(cfg.DataDir, "tls", broker.CAFileName)
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("the embedded broker's CA: %v", err)
	}
}

// clientCertificate runs a file -> file pipeline against c, whose SASL_SSL listener requires a client
// certificate: with TLSCertFile/TLSKeyFile it runs; without, start-up fails at once naming the failed TLS
// handshake (see TestKafkaAuthOAuthBearerAndClientCertificate).
func clientCertificate(t *testing.T, c *kafkatest.Cluster) {
	sec := c.ClientSecurity(kafka.SASLScramSHA512, "alice", "alice-secret")
	sec.TLSCertFile, sec.TLSKeyFile = c.ClientKeystore(), c.ClientKeystore()
	if err := authPipeline(t, "auth-mtls", authConfig(c.Addrs(), sec), 50); err != nil {
		t.Fatal(err)
	}
	sec.TLSCertFile, sec.TLSKeyFile = "", ""
	began := time.Now()
	err := authPipeline(t, "auth-mtls-none", authConfig(c.Addrs(), sec), 1)
	if err == nil || !strings.Contains(err.Error(), "TLS handshake with Kafka at") {
		t.Fatalf("no client certificate: got %v, want a failed TLS handshake", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("no client certificate: start-up failed after %v, want at once", took)
	}
	t.Logf("without a client certificate: %v", err)
}
