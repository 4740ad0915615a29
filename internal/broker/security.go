package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/kafka"
)

// Files of the embedded broker's TLS, in DataDir/tls.
const (
	CAFileName       = "ca.pem"              // the CA that signed the broker's certificate: clients trust it
	KeystoreFileName = "broker-keystore.pem" // the broker's PKCS#8 key and certificate
)

// securityOpts returns kfake's options for sec: TLS with the certificate of tlsDir (generated there on the
// first start, kept afterwards so that clients keep trusting the same CA), and SASL with the configured
// user as superuser. It returns the CA file ("" without TLS).
func securityOpts(sec kafka.Security, tlsDir string) ([]kfake.Opt, string, error) {
	var opts []kfake.Opt
	caFile := ""
	if sec.TLS {
		if err := os.MkdirAll(tlsDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("embedded broker TLS: %w", err)
		}
		caFile = filepath.Join(tlsDir, CAFileName)
		keystore := filepath.Join(tlsDir, KeystoreFileName)
		if _, err := os.Stat(keystore); errors.Is(err, os.ErrNotExist) {
			if err := GenerateCertificates(caFile, keystore); err != nil {
				return nil, "", err
			}
		}
		cert, err := tls.LoadX509KeyPair(keystore, keystore)
		if err != nil {
			return nil, "", fmt.Errorf("embedded broker TLS: certificate %s: %w (remove %s to have a new one generated)", keystore, err, tlsDir)
		}
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	switch sec.SASLMechanism {
	case "":
	case kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512:
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(sec.SASLMechanism, sec.SASLUsername, sec.SASLPassword))
	default:
		return nil, "", fmt.Errorf("embedded broker: SASL mechanism %s is not supported (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are)", sec.SASLMechanism)
	}
	return opts, caFile, nil
}

// GenerateCertificates writes a new CA (caFile, PEM) and a certificate it signed for 127.0.0.1 and
// localhost, valid for ten years, with its PKCS#8 private key (keystore: key then certificate in one PEM
// file, which both tls.LoadX509KeyPair(keystore, keystore) and Kafka's ssl.keystore.type=PEM read). For
// local and test brokers only: the CA's key is not kept.
func GenerateCertificates(caFile, keystore string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "Sluice local broker CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("generate CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("generate CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate broker key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, // a client certificate too, for tests
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("generate broker certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("generate broker key: %w", err)
	}
	ks := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	if err := os.WriteFile(keystore, ks, 0o600); err != nil {
		return err
	}
	return os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
}
