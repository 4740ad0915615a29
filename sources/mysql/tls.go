package mysql

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLS modes of TLSConfig.Mode, named as MySQL's --ssl-mode.
const (
	TLSDisabled   = "disabled"    // no TLS, whatever the DSN's tls= parameter says
	TLSPreferred  = "preferred"   // TLS when the server offers it, without checking its certificate; plaintext otherwise (queries only: the binlog connection then fails)
	TLSRequired   = "required"    // TLS, without checking the server's certificate
	TLSVerifyCA   = "verify-ca"   // TLS; the server's certificate must chain to CAFile (or the system roots); its name is not checked
	TLSVerifyFull = "verify-full" // TLS; the certificate must chain to CAFile and name ServerName (default: the DSN's host)
)

// TLSConfig encrypts the source's connections to the server: its queries (snapshot, schema, checks) and its
// binlog connection use the same settings. The zero value leaves TLS to the DSN's tls= parameter (true,
// skip-verify, preferred or false, as go-sql-driver/mysql reads it), which then applies to the binlog
// connection as well.
type TLSConfig struct {
	// Mode is disabled, preferred, required, verify-ca or verify-full; empty means the DSN's tls=
	// parameter, or verify-full when CAFile, CertFile or ServerName is set.
	Mode string
	// CAFile is a PEM file of the certificate authorities the server's certificate must chain to
	// (verify-ca, verify-full); empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's PEM certificate and key, for a user created REQUIRE X509 or
	// REQUIRE SUBJECT; both or neither.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry (verify-full); empty means the DSN's host.
	ServerName string
}

// build returns the crypto/tls configuration of t for a server at host, nil when t asks for nothing (the
// DSN decides), and whether a server without TLS may be reached in plaintext. Files are read here, so a
// missing or malformed one fails Validate naming the field.
func (t TLSConfig) build(host string) (cfg *tls.Config, fallback bool, err error) {
	mode := t.Mode
	if mode == "" {
		if t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" && t.ServerName == "" {
			return nil, false, nil
		}
		mode = TLSVerifyFull
	}
	if mode == TLSDisabled {
		return nil, false, nil
	}
	cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, false, errors.New("TLS.CertFile and TLS.KeyFile go together: give both or neither")
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, false, fmt.Errorf("TLS.CertFile %s / TLS.KeyFile %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	var roots *x509.CertPool
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, false, fmt.Errorf("TLS.CAFile: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, false, fmt.Errorf("TLS.CAFile %s: no PEM certificate in it", t.CAFile)
		}
	}
	switch mode {
	case TLSPreferred, TLSRequired:
		cfg.InsecureSkipVerify = true
		return cfg, mode == TLSPreferred, nil
	case TLSVerifyCA:
		// crypto/tls checks chain and name together; checking the chain alone takes a callback.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return fmt.Errorf("the server's certificate: %w", err)
				}
				certs[i] = c
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
		return cfg, false, nil
	case TLSVerifyFull:
		cfg.RootCAs = roots
		cfg.ServerName = t.ServerName
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		return cfg, false, nil
	}
	return nil, false, fmt.Errorf("TLS.Mode %q is not one of %s, %s, %s, %s, %s", mode, TLSDisabled, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyFull)
}

// hostOf is the host part of a DSN address (host:port), or the address itself.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
