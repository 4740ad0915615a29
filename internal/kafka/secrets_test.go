package kafka

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/secret"
)

// TestSecretKafkaSettings: ${env:}/${file:} references in the Kafka settings resolve in place, the SASL
// password is redacted from then on, and an unset variable fails naming the field, its variable and the
// reference.
func TestSecretKafkaSettings(t *testing.T) {
	t.Setenv("KAFKA_SECRET_TEST_PW", "kafka-Secret-Pw-5521")
	s := Security{SASLMechanism: SASLScramSHA512, SASLUsername: "app", SASLPassword: "${env:KAFKA_SECRET_TEST_PW}"}
	if err := s.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	if s.SASLPassword != "kafka-Secret-Pw-5521" {
		t.Errorf("SASLPassword resolved to %q", s.SASLPassword)
	}
	if got := secret.Redact("auth with kafka-Secret-Pw-5521"); got != "auth with ****" {
		t.Errorf("the password is not redacted: %q", got)
	}
	s = Security{SASLMechanism: SASLPlain, SASLUsername: "app", SASLPassword: "${env:KAFKA_SECRET_TEST_UNSET}"}
	_, err := NewAuth(s)
	want := "config: Kafka.SASLPassword (SLUICE_KAFKA_SASL_PASSWORD): ${env:KAFKA_SECRET_TEST_UNSET} is not set"
	if err == nil || err.Error() != want || !errors.Is(err, secret.ErrUnresolved) {
		t.Errorf("NewAuth with an unset variable: %v; want %q", err, want)
	}
}
