package kafkatest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestSASLSSLListener starts a cluster with a SASL_SSL listener and the StandardAuthorizer, and checks that
// the superuser (SCRAM-SHA-512) and a plain user (PLAIN, SCRAM-SHA-256) authenticate over TLS with the
// test CA, that a wrong password is refused at once, and that a user without ACLs sees no topic.
func TestSASLSSLListener(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Security: &kafkatest.Security{TLS: true, Authorizer: true,
		Users: map[string]string{"alice": "alice-secret"}}})
	c.CreateTopic(t, "secured", 1, 1, nil)

	connect := func(sec kafka.Security) (sarama.Client, error) {
		a, err := kafka.NewAuth(sec)
		if err != nil {
			t.Fatal(err)
		}
		if err := kafka.CheckAuth(context.Background(), c.Addrs(), a, 20*time.Second); err != nil {
			return nil, err
		}
		return sarama.NewClient(c.Addrs(), kafka.StartupConfig(kafka.SaramaConfig(kafka.Settings{Auth: a}), 20*time.Second))
	}
	admin, err := connect(c.AdminSecurity())
	if err != nil {
		t.Fatalf("admin over SCRAM-SHA-512: %v", err)
	}
	defer admin.Close()
	if topics, err := admin.Topics(); err != nil || !contains(topics, "secured") {
		t.Fatalf("admin sees topics %v (%v), want secured among them", topics, err)
	}
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLScramSHA256} {
		cl, err := connect(c.ClientSecurity(mech, "alice", "alice-secret"))
		if err != nil {
			t.Fatalf("alice over %s: %v", mech, err)
		}
		topics, err := cl.Topics()
		cl.Close()
		if err != nil || contains(topics, "secured") {
			t.Fatalf("alice over %s without ACLs sees topics %v (%v), want none", mech, topics, err)
		}
	}
	began := time.Now()
	_, err = connect(c.ClientSecurity(kafka.SASLScramSHA512, "alice", "wrong"))
	var ae *kafka.AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), `refused the credentials of user "alice" (SASL SCRAM-SHA-512)`) {
		t.Fatalf("wrong password: got %v, want an AuthError naming alice and SCRAM-SHA-512", err)
	}
	t.Logf("wrong password refused after %v: %v", time.Since(began).Round(time.Millisecond), err)
	if kafka.Retriable(err) || kafka.RetriableText(errors.New(err.Error())) {
		t.Fatalf("a refused password counts as retriable: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
