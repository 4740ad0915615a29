package kafkatest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
)

// Security makes Start add a client listener that requires SASL (SASL_SSL, or SASL_PLAINTEXT without TLS),
// which Addrs then returns, as production clusters have it:
//   - Mechanisms PLAIN (users in the listener's JAAS configuration), SCRAM-SHA-256 and SCRAM-SHA-512
//     (credentials written into the metadata log at format time: kafka-storage format --add-scram), for
//     the superuser "admin" (password Cluster.AdminPassword) and every user of Users.
//   - TLS: a test CA and a server certificate for 127.0.0.1 and localhost, generated with crypto/x509 into
//     the cluster directory and read by Kafka as PEM (ssl.keystore.type=PEM); clients trust CAFile.
//   - Authorizer: the StandardAuthorizer (KRaft's ACLs) with super.users=User:admin;User:ANONYMOUS, and no
//     access for anyone else without an ACL.
//
// The PLAINTEXT listener stays for the traffic between brokers and for the harness's own calls (Admin,
// CreateTopic, the console tools, readiness); with the authorizer its principal User:ANONYMOUS is a
// superuser. Clients under test must connect to Addrs only.
type Security struct {
	// TLS makes the client listener SASL_SSL; false: SASL_PLAINTEXT.
	TLS bool
	// Users are name -> password, created for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (letters, digits,
	// '-' and '_' only: they are written into JAAS and format arguments).
	Users map[string]string
	// Authorizer enables the StandardAuthorizer (see above).
	Authorizer bool
	// OAuthBearer also enables OAUTHBEARER with Kafka's default server-side validator, which accepts
	// unsigned JWTs (header {"alg":"none"}; the principal is the "sub" claim, "exp" is required): for tests
	// of the client side, as Kafka's own documentation describes for non-production use.
	OAuthBearer bool
	// ClientCertificates makes the TLS listener require a client certificate signed by a second test CA
	// (ssl.client.auth=required, a PEM truststore); ClientKeystore is a certificate it signed.
	ClientCertificates bool
}

// AdminUser is the superuser of a secured cluster.
const AdminUser = "admin"

// secured is a cluster's Security with its generated secrets and files.
type secured struct {
	Security
	adminPassword string
	caFile        string // PEM of the test CA, for clients
	keystore      string // PEM private key and certificate chain of the brokers
	clientCA      string // PEM of the CA of client certificates (ClientCertificates)
	clientKeys    string // PEM private key and certificate of a client
}

// listenerName is the client listener's name, as in listener.security.protocol.map.
func (s *secured) listenerName() string {
	if s.TLS {
		return "SASL_SSL"
	}
	return "SASL_PLAINTEXT"
}

// users returns every user, admin included, sorted by name.
func (s *secured) users() [][2]string {
	all := [][2]string{{AdminUser, s.adminPassword}}
	for u, p := range s.Users {
		if u != AdminUser {
			all = append(all, [2]string{u, p})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i][0] < all[j][0] })
	return all
}

// prepare checks the user names, draws the admin password and writes the certificates into dir.
func (s *secured) prepare(dir string) error {
	for u, p := range s.Users {
		if !safeWord(u) || !safeWord(p) {
			return fmt.Errorf("kafkatest: Security.Users: user %q or its password has characters other than letters, digits, '-' and '_'", u)
		}
	}
	secret := make([]byte, 12)
	rand.Read(secret)
	s.adminPassword = "admin-" + hex.EncodeToString(secret)
	if !s.TLS {
		return nil
	}
	s.caFile = filepath.Join(dir, "ca.pem")
	s.keystore = filepath.Join(dir, "broker-keystore.pem")
	if err := broker.GenerateCertificates(s.caFile, s.keystore); err != nil {
		return fmt.Errorf("kafkatest: %w", err)
	}
	if s.ClientCertificates {
		s.clientCA = filepath.Join(dir, "client-ca.pem")
		s.clientKeys = filepath.Join(dir, "client-keystore.pem")
		if err := broker.GenerateCertificates(s.clientCA, s.clientKeys); err != nil {
			return fmt.Errorf("kafkatest: %w", err)
		}
	}
	return nil
}

func safeWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// configure adds the client listener of node n and the SASL, TLS and authorizer settings to conf.
func (s *secured) configure(conf map[string]string, n *node) {
	name := s.listenerName()
	lower := strings.ToLower(name)
	conf["listeners"] += fmt.Sprintf(",%s://127.0.0.1:%d", name, n.saslPort)
	conf["advertised.listeners"] += fmt.Sprintf(",%s://127.0.0.1:%d", name, n.saslPort)
	conf["listener.security.protocol.map"] += "," + name + ":" + name
	conf["sasl.enabled.mechanisms"] = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
	if s.OAuthBearer {
		conf["sasl.enabled.mechanisms"] += ",OAUTHBEARER"
		conf["listener.name."+lower+".oauthbearer.sasl.jaas.config"] = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
	}
	var plain strings.Builder
	fmt.Fprintf(&plain, `org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s"`, AdminUser, s.adminPassword)
	for _, u := range s.users() {
		fmt.Fprintf(&plain, ` user_%s="%s"`, u[0], u[1])
	}
	plain.WriteString(";")
	conf["listener.name."+lower+".plain.sasl.jaas.config"] = plain.String()
	for _, m := range []string{"scram-sha-256", "scram-sha-512"} {
		conf["listener.name."+lower+"."+m+".sasl.jaas.config"] = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
	}
	if s.TLS {
		conf["listener.name."+lower+".ssl.keystore.type"] = "PEM"
		conf["listener.name."+lower+".ssl.keystore.location"] = s.keystore
		conf["listener.name."+lower+".ssl.client.auth"] = "none"
		if s.ClientCertificates {
			conf["listener.name."+lower+".ssl.client.auth"] = "required"
			conf["listener.name."+lower+".ssl.truststore.type"] = "PEM"
			conf["listener.name."+lower+".ssl.truststore.location"] = s.clientCA
		}
	}
	if s.Authorizer {
		conf["authorizer.class.name"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
		conf["super.users"] = "User:" + AdminUser + ";User:ANONYMOUS"
		conf["allow.everyone.if.no.acl.found"] = "false"
	}
}

// formatArgs are the StorageTool arguments that create every user's SCRAM credentials.
func (s *secured) formatArgs() []string {
	var args []string
	for _, u := range s.users() {
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			args = append(args, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", m, u[0], u[1]))
		}
	}
	return args
}

// AdminPassword is the password of the superuser AdminUser ("" when the cluster is not secured).
func (c *Cluster) AdminPassword() string {
	if c.sec == nil {
		return ""
	}
	return c.sec.adminPassword
}

// CAFile is the PEM file of the test CA that signed the brokers' certificate ("" without TLS).
func (c *Cluster) CAFile() string {
	if c.sec == nil {
		return ""
	}
	return c.sec.caFile
}

// ClientSecurity returns the settings of a Sluice client that connects to Addrs as user with password
// over mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), trusting the test CA when the listener has TLS.
// The zero Security when the cluster is not secured.
func (c *Cluster) ClientSecurity(mechanism, user, password string) kafka.Security {
	if c.sec == nil {
		return kafka.Security{}
	}
	s := kafka.Security{SASLMechanism: mechanism, SASLUsername: user, SASLPassword: password}
	if c.sec.TLS {
		s.TLS, s.TLSCAFile = true, c.sec.caFile
	}
	return s
}

// ClientKeystore is a PEM file holding a client's private key and certificate, signed by the CA the
// listener requires with Security.ClientCertificates ("" without): pass it as both TLSCertFile and
// TLSKeyFile.
func (c *Cluster) ClientKeystore() string {
	if c.sec == nil {
		return ""
	}
	return c.sec.clientKeys
}

// AdminSecurity is ClientSecurity of the superuser over SCRAM-SHA-512.
func (c *Cluster) AdminSecurity() kafka.Security {
	return c.ClientSecurity(kafka.SASLScramSHA512, AdminUser, c.AdminPassword())
}

// TestCertificates writes a fresh test CA and a server certificate for 127.0.0.1 and localhost into dir:
// caFile (the CA, for clients) and keystore (the server's PKCS#8 key and certificate in one PEM file, which
// tls.LoadX509KeyPair(keystore, keystore) reads too). For an embedded broker with TLS in tests.
func TestCertificates(dir string) (caFile, keystore string, err error) {
	caFile, keystore = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "broker-keystore.pem")
	return caFile, keystore, broker.GenerateCertificates(caFile, keystore)
}
