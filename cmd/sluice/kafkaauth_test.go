package main

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestCLIKafkaAuth: the CLI's Kafka commands take TLS and SASL from SLUICE_KAFKA_*, as the pipeline does,
// and a wrong password fails at once naming the user and the mechanism (real Kafka with a SASL_SSL listener
// under SLUICE_TEST_KAFKA=real, else kfake with TLS and SASL).
func TestCLIKafkaAuth(t *testing.T) {
	k := testkit.SecureBrokers(t, map[string]string{"alice": "alice-secret"})
	testkit.CreateTopic(t, k.Brokers, "cli-auth", 2)
	testkit.ProduceN(t, k.Brokers, "cli-auth", 5, func(i int) (string, string) { return "", "v" })
	bin := buildSluice(t)
	args := []string{"topics", "--brokers", strings.Join(k.Brokers, ",")}
	r := sluice(t, bin, k.Env(kafka.SASLScramSHA512, "alice", "alice-secret"), args...)
	if r.code != 0 || !regexpMatch(`(?m)^cli-auth\s+2\s+5\s`, r.stdout) {
		t.Fatalf("topics over SASL_SSL:\n%s", r)
	}
	r = sluice(t, bin, nil, args...)
	if r.code == 0 {
		t.Fatalf("topics without credentials succeeded:\n%s", r)
	}
	r = sluice(t, bin, k.Env(kafka.SASLScramSHA512, "alice", "wrong"), args...)
	if r.code == 0 || !strings.Contains(r.stderr, `refused the credentials of user "alice" (SASL SCRAM-SHA-512)`) {
		t.Fatalf("topics with a wrong password:\n%s", r)
	}
}
