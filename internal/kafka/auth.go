package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// SASL mechanisms Sluice speaks to Kafka.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
	SASLOAuthBearer = "OAUTHBEARER"
)

// Security says how every Kafka client of the engine encrypts its connections and authenticates. The zero
// value is plaintext without authentication. Its fields are plain data (no sarama types): topology.Config
// carries an identical public struct and converts it.
type Security struct {
	// TLS encrypts every connection (SLUICE_KAFKA_TLS=true).
	TLS bool
	// TLSCAFile is a PEM file of the CAs that sign the brokers' certificates; empty: the system's roots
	// (SLUICE_KAFKA_TLS_CA_FILE).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client's PEM certificate and key, for brokers that require client
	// certificates (SLUICE_KAFKA_TLS_CERT_FILE, SLUICE_KAFKA_TLS_KEY_FILE); both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// TLSServerName is the name the brokers' certificates must carry; empty: the host of each address
	// (SLUICE_KAFKA_TLS_SERVER_NAME).
	TLSServerName string
	// TLSInsecureSkipVerify accepts any broker certificate: for tests only
	// (SLUICE_KAFKA_TLS_INSECURE_SKIP_VERIFY).
	TLSInsecureSkipVerify bool
	// SASLMechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; empty: no SASL
	// (SLUICE_KAFKA_SASL_MECHANISM).
	SASLMechanism string
	// SASLUsername and SASLPassword are the credentials of PLAIN and SCRAM (SLUICE_KAFKA_SASL_USERNAME,
	// SLUICE_KAFKA_SASL_PASSWORD).
	SASLUsername string
	SASLPassword string
	// OAUTHBEARER: tokens come from an OAuth 2 client-credentials grant at OAuthTokenURL and are cached
	// until shortly before they expire (SLUICE_KAFKA_OAUTH_TOKEN_URL, SLUICE_KAFKA_OAUTH_CLIENT_ID,
	// SLUICE_KAFKA_OAUTH_CLIENT_SECRET, SLUICE_KAFKA_OAUTH_SCOPE; the scope may be empty).
	OAuthTokenURL     string
	OAuthClientID     string
	OAuthClientSecret string
	OAuthScope        string
}

// securityEnv maps each field of Security to its environment variable, in the order of the struct.
var securityEnv = []struct {
	env, field string
	set        func(*Security, string) error
}{
	{"SLUICE_KAFKA_TLS", "TLS", func(s *Security, v string) (err error) { s.TLS, err = strconv.ParseBool(v); return }},
	{"SLUICE_KAFKA_TLS_CA_FILE", "TLSCAFile", func(s *Security, v string) error { s.TLSCAFile = v; return nil }},
	{"SLUICE_KAFKA_TLS_CERT_FILE", "TLSCertFile", func(s *Security, v string) error { s.TLSCertFile = v; return nil }},
	{"SLUICE_KAFKA_TLS_KEY_FILE", "TLSKeyFile", func(s *Security, v string) error { s.TLSKeyFile = v; return nil }},
	{"SLUICE_KAFKA_TLS_SERVER_NAME", "TLSServerName", func(s *Security, v string) error { s.TLSServerName = v; return nil }},
	{"SLUICE_KAFKA_TLS_INSECURE_SKIP_VERIFY", "TLSInsecureSkipVerify", func(s *Security, v string) (err error) {
		s.TLSInsecureSkipVerify, err = strconv.ParseBool(v)
		return
	}},
	{"SLUICE_KAFKA_SASL_MECHANISM", "SASLMechanism", func(s *Security, v string) error { s.SASLMechanism = strings.ToUpper(v); return nil }},
	{"SLUICE_KAFKA_SASL_USERNAME", "SASLUsername", func(s *Security, v string) error { s.SASLUsername = v; return nil }},
	{"SLUICE_KAFKA_SASL_PASSWORD", "SASLPassword", func(s *Security, v string) error { s.SASLPassword = v; return nil }},
	{"SLUICE_KAFKA_OAUTH_TOKEN_URL", "OAuthTokenURL", func(s *Security, v string) error { s.OAuthTokenURL = v; return nil }},
	{"SLUICE_KAFKA_OAUTH_CLIENT_ID", "OAuthClientID", func(s *Security, v string) error { s.OAuthClientID = v; return nil }},
	{"SLUICE_KAFKA_OAUTH_CLIENT_SECRET", "OAuthClientSecret", func(s *Security, v string) error { s.OAuthClientSecret = v; return nil }},
	{"SLUICE_KAFKA_OAUTH_SCOPE", "OAuthScope", func(s *Security, v string) error { s.OAuthScope = v; return nil }},
}

// field names a field of Security as the user wrote it: "Kafka.SASLUsername (SLUICE_KAFKA_SASL_USERNAME)".
func field(name string) string {
	for _, e := range securityEnv {
		if e.field == name {
			return "Kafka." + name + " (" + e.env + ")"
		}
	}
	return "Kafka." + name
}

// SecurityFromEnv reads the SLUICE_KAFKA_* variables (unset ones keep the zero value). A malformed value is
// an error naming the variable; the combination is not checked here (see Validate).
func SecurityFromEnv() (Security, error) {
	var s Security
	for _, e := range securityEnv {
		if v, ok := os.LookupEnv(e.env); ok && v != "" {
			if err := e.set(&s, v); err != nil {
				return s, fmt.Errorf("%s: %q is not a boolean", e.env, v)
			}
		}
	}
	return s, nil
}

// Enabled reports whether s asks for TLS or SASL.
func (s Security) Enabled() bool { return s.TLS || s.SASLMechanism != "" }

// Validate reports the first field that cannot work, naming it and its variable: an unknown mechanism, a
// mechanism without its credentials, a certificate without its key, TLS files without TLS.
func (s Security) Validate() error {
	switch s.SASLMechanism {
	case "":
		for name, v := range map[string]string{"SASLUsername": s.SASLUsername, "SASLPassword": s.SASLPassword, "OAuthTokenURL": s.OAuthTokenURL} {
			if v != "" {
				return fmt.Errorf("config: %s is set but %s is empty: say which SASL mechanism to use", field(name), field("SASLMechanism"))
			}
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.SASLUsername == "" {
			return fmt.Errorf("config: %s is %s but %s is empty", field("SASLMechanism"), s.SASLMechanism, field("SASLUsername"))
		}
		if s.SASLPassword == "" {
			return fmt.Errorf("config: %s is %s but %s is empty", field("SASLMechanism"), s.SASLMechanism, field("SASLPassword"))
		}
	case SASLOAuthBearer:
		if s.OAuthTokenURL == "" {
			return fmt.Errorf("config: %s is OAUTHBEARER but %s is empty", field("SASLMechanism"), field("OAuthTokenURL"))
		}
		if !strings.HasPrefix(s.OAuthTokenURL, "https://") && !strings.HasPrefix(s.OAuthTokenURL, "http://") {
			return fmt.Errorf("config: %s %q is not an http(s) URL", field("OAuthTokenURL"), s.OAuthTokenURL)
		}
		if s.OAuthClientID == "" {
			return fmt.Errorf("config: %s is OAUTHBEARER but %s is empty", field("SASLMechanism"), field("OAuthClientID"))
		}
	default:
		return fmt.Errorf("config: %s %q is none of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER", field("SASLMechanism"), s.SASLMechanism)
	}
	if !s.TLS {
		for name, v := range map[string]string{"TLSCAFile": s.TLSCAFile, "TLSCertFile": s.TLSCertFile, "TLSKeyFile": s.TLSKeyFile, "TLSServerName": s.TLSServerName} {
			if v != "" {
				return fmt.Errorf("config: %s is set but %s is false", field(name), field("TLS"))
			}
		}
		if s.TLSInsecureSkipVerify {
			return fmt.Errorf("config: %s is set but %s is false", field("TLSInsecureSkipVerify"), field("TLS"))
		}
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return fmt.Errorf("config: %s and %s go together: set both or neither", field("TLSCertFile"), field("TLSKeyFile"))
	}
	return nil
}

// Auth is a checked Security, ready to apply to sarama configurations: its files are read and its token
// source is shared by every client (so OAUTHBEARER tokens are fetched once per expiry, not per connection).
// A nil *Auth is plaintext without authentication.
type Auth struct {
	sec    Security
	tls    *tls.Config
	tokens *tokenSource
}

// NewAuth resolves sec's ${env:NAME}/${file:PATH} references (package secret; the password and client
// secret are then redacted from all output), validates sec and reads its files. It returns nil (plaintext)
// when sec enables nothing. Errors name the field and the file.
func NewAuth(sec Security) (*Auth, error) {
	if err := sec.ResolveSecrets(); err != nil { // ${env:}/${file:} references (secrets.go)
		return nil, err
	}
	if err := sec.Validate(); err != nil {
		return nil, err
	}
	if !sec.Enabled() {
		return nil, nil
	}
	a := &Auth{sec: sec}
	if sec.TLS {
		a.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: sec.TLSServerName, InsecureSkipVerify: sec.TLSInsecureSkipVerify}
		if sec.TLSCAFile != "" {
			pem, err := os.ReadFile(sec.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("config: %s: %w", field("TLSCAFile"), err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("config: %s: %s holds no PEM certificate", field("TLSCAFile"), sec.TLSCAFile)
			}
			a.tls.RootCAs = pool
		}
		if sec.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(sec.TLSCertFile, sec.TLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("config: %s / %s: %w", field("TLSCertFile"), field("TLSKeyFile"), err)
			}
			a.tls.Certificates = []tls.Certificate{cert}
		}
	}
	if sec.SASLMechanism == SASLOAuthBearer {
		a.tokens = newTokenSource(sec.OAuthTokenURL, sec.OAuthClientID, sec.OAuthClientSecret, sec.OAuthScope)
	}
	return a, nil
}

// Security returns the settings a was built from.
func (a *Auth) Security() Security {
	if a == nil {
		return Security{}
	}
	return a.sec
}

// Apply sets TLS and SASL on c. A nil a leaves c as it is.
func (a *Auth) Apply(c *sarama.Config) {
	if a == nil {
		return
	}
	if a.tls != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = a.tls.Clone()
	}
	if a.sec.SASLMechanism == "" {
		return
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.Version = sarama.SASLHandshakeV1
	c.Net.SASL.Mechanism = sarama.SASLMechanism(a.sec.SASLMechanism)
	c.Net.SASL.User = a.sec.SASLUsername
	c.Net.SASL.Password = a.sec.SASLPassword
	switch a.sec.SASLMechanism {
	case SASLScramSHA256:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case SASLScramSHA512:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	case SASLOAuthBearer:
		c.Net.SASL.TokenProvider = a.tokens
	}
}

// who describes the credentials for error messages: `user "x" (SASL SCRAM-SHA-512)`, `client "id" (SASL
// OAUTHBEARER)` or "TLS".
func (a *Auth) who() string {
	switch {
	case a == nil:
		return "no credentials"
	case a.sec.SASLMechanism == SASLOAuthBearer:
		return fmt.Sprintf("OAuth client %q (SASL OAUTHBEARER)", a.sec.OAuthClientID)
	case a.sec.SASLMechanism != "":
		return fmt.Sprintf("user %q (SASL %s)", a.sec.SASLUsername, a.sec.SASLMechanism)
	}
	return "the TLS client"
}

// scramClient adapts xdg-go/scram to sarama.SCRAMClient, as sarama's own example does.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *scramClient) Done() bool                            { return c.conv.Done() }

// AuthError means Kafka refused the client's credentials or the TLS handshake failed: not transient, so it
// is never retried (see Retriable).
type AuthError struct {
	Brokers []string
	Who     string // `user "x" (SASL SCRAM-SHA-512)`
	Err     error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("Kafka at %s refused the credentials of %s: %v", strings.Join(e.Brokers, ","), e.Who, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// TLSError means the TLS handshake with Kafka failed (an untrusted or mismatched certificate, a plaintext
// listener): not transient.
type TLSError struct {
	Brokers []string
	Err     error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS handshake with Kafka at %s failed: %v", strings.Join(e.Brokers, ","), e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// authFailed reports whether err says Kafka refused the SASL credentials or mechanism.
func authFailed(err error) bool {
	if errors.Is(err, sarama.ErrSASLAuthenticationFailed) || errors.Is(err, sarama.ErrUnsupportedSASLMechanism) ||
		errors.Is(err, sarama.ErrIllegalSASLState) {
		return true
	}
	msg := err.Error()
	for _, k := range []sarama.KError{sarama.ErrSASLAuthenticationFailed, sarama.ErrUnsupportedSASLMechanism, sarama.ErrIllegalSASLState} {
		if strings.Contains(msg, k.Error()) {
			return true
		}
	}
	return false
}

// tlsFailed reports whether err is a failed TLS handshake (certificate not trusted or not matching, or the
// peer does not speak TLS).
func tlsFailed(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	if errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify) || errors.As(err, &rec) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "x509: ") || strings.Contains(msg, "remote error: tls: ") ||
		strings.Contains(msg, "tls: failed to verify") || strings.Contains(msg, "tls: first record does not look like a TLS handshake")
}

// ExplainAuth returns err as an *AuthError or *TLSError naming the brokers and credentials of a when it
// is an authentication or TLS failure, else err unchanged.
func ExplainAuth(err error, brokers []string, a *Auth) error {
	if err == nil {
		return nil
	}
	var ae *AuthError
	var te *TLSError
	if errors.As(err, &ae) || errors.As(err, &te) {
		return err
	}
	if tokenRefused(err) {
		return err // it names the endpoint and the client already
	}
	if authFailed(err) {
		return &AuthError{Brokers: brokers, Who: a.who(), Err: err}
	}
	if tlsFailed(err) {
		return &TLSError{Brokers: brokers, Err: err}
	}
	return err
}

// NotTransient reports whether err is an authentication or TLS failure, which waiting does not cure:
// Kafka refused the credentials, the TLS handshake failed, or the OAuth token endpoint refused the client.
func NotTransient(err error) bool {
	if err == nil {
		return false
	}
	var ae *AuthError
	var te *TLSError
	var re *TokenRefusedError
	return errors.As(err, &ae) || errors.As(err, &te) || errors.As(err, &re) || authFailed(err) || tlsFailed(err) ||
		tokenRefused(err)
}

// tokenRefused reports whether the text of err carries a TokenRefusedError's (flattened by a library).
func tokenRefused(err error) bool {
	msg := err.Error()
	i := strings.Index(msg, tokenRefusedText)
	return i >= 0 && strings.Contains(msg[i:], " refused client ") && !strings.Contains(msg[i:], "(HTTP 5") &&
		!strings.Contains(msg[i:], "(HTTP 429)")
}

// AuthFromEnv is NewAuth of SecurityFromEnv: the TLS and SASL of Kafka clients built outside a pipeline
// run (Positions, the CLI's topic and offset commands, verify's repair), which have no Config.
func AuthFromEnv() (*Auth, error) {
	sec, err := SecurityFromEnv()
	if err != nil {
		return nil, err
	}
	return NewAuth(sec)
}
