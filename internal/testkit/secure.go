package testkit

import (
	"crypto/tls"
	"strings"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// authByBroker maps a secured test Kafka's bootstrap addresses to the superuser's *kafka.Auth, so that the
// Kafka helpers of this package (CreateTopic, Produce, ReadTopic, ...) authenticate to it without the test
// saying so.
var authByBroker sync.Map

// RegisterAuth makes the Kafka helpers of this package connect to brokers with a (until t ends): for a
// test that starts a secured Kafka itself (kafkatest.Options.Security).
func RegisterAuth(t testing.TB, brokers []string, a *kafka.Auth) {
	for _, b := range brokers {
		authByBroker.Store(b, a)
	}
	t.Cleanup(func() {
		for _, b := range brokers {
			authByBroker.Delete(b)
		}
	})
}

// saramaConfig is the engine's sarama configuration with the credentials registered for brokers (none:
// plaintext).
func saramaConfig(brokers []string) *sarama.Config {
	var a *kafka.Auth
	if len(brokers) > 0 {
		if v, ok := authByBroker.Load(brokers[0]); ok {
			a = v.(*kafka.Auth)
		}
	}
	return kafka.SaramaConfig(kafka.Settings{Auth: a})
}

// SecureKafka is a Kafka private to one test that requires TLS and SASL.
type SecureKafka struct {
	Brokers []string
	// Real is set when it is real Apache Kafka (SLUICE_TEST_KAFKA=real), not the embedded broker.
	Real bool
	// CAFile is the PEM file of the CA that signed the brokers' certificate.
	CAFile string
	// Cluster is the real cluster (nil on the embedded broker).
	Cluster *kafkatest.Cluster
}

// Security returns the client settings of user with password over mechanism (PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512), over TLS trusting the test CA.
func (k SecureKafka) Security(mechanism, user, password string) kafka.Security {
	return kafka.Security{TLS: true, TLSCAFile: k.CAFile, SASLMechanism: mechanism, SASLUsername: user, SASLPassword: password}
}

// SecureBrokers starts a Kafka that accepts only TLS connections authenticated with SASL, for users (name
// -> password, each valid for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512): with SLUICE_TEST_KAFKA=real a
// 1-node real Apache Kafka with a SASL_SSL listener (kafkatest.Security), else the embedded broker (kfake)
// with TLS and SASL in this test process. Both stop when the test ends. The package's Kafka helpers
// authenticate to it as a superuser.
func SecureBrokers(t testing.TB, users map[string]string) SecureKafka {
	t.Helper()
	if kafkatest.Real() {
		c := kafkatest.Start(t, kafkatest.Options{Security: &kafkatest.Security{TLS: true, Users: users}})
		k := SecureKafka{Brokers: c.Addrs(), Real: true, CAFile: c.CAFile(), Cluster: c}
		registerAdmin(t, k.Brokers, c.AdminSecurity())
		return k
	}
	caFile, keystore, err := kafkatest.TestCertificates(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(keystore, keystore)
	if err != nil {
		t.Fatal(err)
	}
	const admin, adminPassword = "admin", "admin-secret"
	opts := []kfake.Opt{kfake.Ports(0), kfake.EnableSASL(), kfake.GroupMinSessionTimeout(1000),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})}
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512} {
		opts = append(opts, kfake.Superuser(mech, admin, adminPassword))
		for u, p := range users {
			opts = append(opts, kfake.Superuser(mech, u, p))
		}
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	k := SecureKafka{Brokers: cluster.ListenAddrs(), CAFile: caFile}
	registerAdmin(t, k.Brokers, k.Security(kafka.SASLScramSHA512, admin, adminPassword))
	return k
}

func registerAdmin(t testing.TB, brokers []string, sec kafka.Security) {
	a, err := kafka.NewAuth(sec)
	if err != nil {
		t.Fatal(err)
	}
	RegisterAuth(t, brokers, a)
}

// Env returns the environment that points a child pipeline process at k as user with password over
// mechanism: SLUICE_BROKERS and the SLUICE_KAFKA_* variables (TLS with the test CA, SASL).
func (k SecureKafka) Env(mechanism, user, password string) []string {
	return []string{
		"SLUICE_BROKERS=" + strings.Join(k.Brokers, ","),
		"SLUICE_KAFKA_TLS=true",
		"SLUICE_KAFKA_TLS_CA_FILE=" + k.CAFile,
		"SLUICE_KAFKA_SASL_MECHANISM=" + mechanism,
		"SLUICE_KAFKA_SASL_USERNAME=" + user,
		"SLUICE_KAFKA_SASL_PASSWORD=" + password,
	}
}
