package mysql

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// testPKI is a test CA with a server certificate for 127.0.0.1/localhost and a client certificate, as PEM
// files in a directory.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, kind string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, name string) (string, string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "PRIVATE KEY", kder)
	}
	p := testPKI{caFile: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf(2, "mariadb", x509.ExtKeyUsageServerAuth, "server")
	p.clientCert, p.clientKey = leaf(3, "cdc", x509.ExtKeyUsageClientAuth, "client")
	return p
}

// TestTLSSnapshotAndBinlog is acceptance 5 of issue 16: a private MariaDB started with a test CA, a CDC user
// created REQUIRE X509 (so that a connection without TLS and a client certificate is refused: the
// queries' and the binlog's connections can only be encrypted), the source over TLS verify-full copies the
// table and streams a later insert; the session's Ssl_cipher is not empty; without TLS, and with a server
// name the certificate does not carry, the source fails.
func TestTLSSnapshotAndBinlog(t *testing.T) {
	pki := newTestPKI(t)
	srv := mariadbtest.Start(t, mariadbtest.TLS(pki.caFile, pki.serverCert, pki.serverKey))
	srv.Exec(t, "CREATE DATABASE tlsdb",
		"CREATE TABLE tlsdb.items (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO tlsdb.items VALUES (1,'one'),(2,'two'),(3,'three')",
		"CREATE USER 'cdc'@'%' IDENTIFIED BY 'cdc-pw' REQUIRE X509",
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR, REPLICATION CLIENT ON *.* TO 'cdc'@'%'")
	dsn := fmt.Sprintf("cdc:cdc-pw@tcp(127.0.0.1:%d)/", srv.Port)
	tlsOpts := TLSConfig{Mode: TLSVerifyFull, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}
	cfg := Config{DSN: dsn, ServerID: serverIDs.Add(1), Tables: []string{"tlsdb.items"}, Logger: quiet, TLS: tlsOpts}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })

	// The session is encrypted: a connection made as the source makes its connections reports a cipher.
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	connector, err := driver.NewConnector(cfg.driverConfig())
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var name, cipher string
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
		t.Fatalf("Ssl_cipher %q: %v", cipher, err)
	}
	t.Logf("session cipher %s", cipher)

	r := openTask(t, src, nil)
	defer r.Close()
	snap := readUntil(t, r, isRow("tlsdb.items", "3"))
	for _, rec := range snap {
		if rec.Operation != stream.OpRead {
			t.Errorf("snapshot record %s", describe(t, rec))
		}
	}
	if len(snap) != 3 {
		t.Fatalf("snapshot: %d records, want 3", len(snap))
	}
	srv.Exec(t, "INSERT INTO tlsdb.items VALUES (4,'four')")
	streamed := readUntil(t, r, isRow("tlsdb.items", "4"))
	if last := streamed[len(streamed)-1]; last.Operation != stream.OpCreate {
		t.Fatalf("binlog record %s, want a create", describe(t, last))
	}

	// verify-ca checks the chain, not the name; required checks neither.
	for what, opts := range map[string]TLSConfig{
		"verify-ca, another name": {Mode: TLSVerifyCA, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "db.example"},
		"required":                {Mode: TLSRequired, CertFile: pki.clientCert, KeyFile: pki.clientKey},
	} {
		ok, err := New(Config{DSN: dsn, Tables: []string{"tlsdb.items"}, SnapshotMode: SnapshotInitialOnly, Logger: quiet, TLS: opts})
		if err != nil {
			t.Fatal(err)
		}
		if recs := readTask(t, ok, nil, 0); len(recs) != 4 {
			t.Errorf("%s: %d records, want 4", what, len(recs))
		}
		ok.Close()
	}

	// The DSN's tls= parameter alone reaches the binlog connection too: a user created REQUIRE SSL streams
	// with tls=skip-verify.
	srv.Exec(t, "CREATE USER 'cdcssl'@'%' IDENTIFIED BY 'ssl-pw' REQUIRE SSL",
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR, REPLICATION CLIENT ON *.* TO 'cdcssl'@'%'")
	viaDSN, err := New(Config{DSN: fmt.Sprintf("cdcssl:ssl-pw@tcp(127.0.0.1:%d)/?tls=skip-verify", srv.Port), ServerID: serverIDs.Add(1),
		Tables: []string{"tlsdb.items"}, SnapshotMode: SnapshotNever, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { viaDSN.Close() })
	r2 := openTask(t, viaDSN, nil)
	defer r2.Close()
	srv.Exec(t, "INSERT INTO tlsdb.items VALUES (5,'five')")
	if got := readUntil(t, r2, isRow("tlsdb.items", "5")); got[len(got)-1].Operation != stream.OpCreate {
		t.Fatalf("tls=skip-verify: %s", describe(t, got[len(got)-1]))
	}

	// Without TLS, and with a name the server's certificate does not carry, the source cannot connect.
	for what, opts := range map[string]TLSConfig{
		"no TLS":           {Mode: TLSDisabled},
		"wrong ServerName": {Mode: TLSVerifyFull, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "db.example"},
	} {
		bad, err := New(Config{DSN: dsn, ServerID: serverIDs.Add(1), Tables: []string{"tlsdb.items"}, Logger: quiet, TLS: opts})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		_, err = bad.Open(ctx, sources.Task{Key: bad.TaskKey()}, nil)
		cancel()
		bad.Close()
		if err == nil {
			t.Errorf("%s: Open succeeded", what)
		} else {
			t.Logf("%s: %v", what, err)
			if strings.Contains(err.Error(), "cdc-pw") {
				t.Errorf("%s: the error shows the password", what)
			}
		}
	}
}

// Validate names the TLS field at fault.
func TestTLSConfigErrors(t *testing.T) {
	for _, c := range []struct {
		tls  TLSConfig
		want string
	}{
		{TLSConfig{Mode: "sometimes"}, "TLS.Mode"},
		{TLSConfig{CAFile: "/nonexistent/ca.pem"}, "TLS.CAFile"},
		{TLSConfig{Mode: TLSRequired, CertFile: "/x.pem"}, "TLS.CertFile and TLS.KeyFile"},
	} {
		cfg := Config{DSN: "u:p@tcp(127.0.0.1:3306)/", ServerID: 1, Tables: []string{"a.b"}, TLS: c.tls}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.tls, err, c.want)
		}
	}
}
