package kafka

import "github.com/sluicehq/sluice/secret"

// ResolveSecrets expands the ${env:NAME} and ${file:PATH} references (package secret) of s's string
// settings in place and registers the SASL password and the OAuth client secret, however they were given,
// as secrets, so that no log line, error or API answer prints them. An error names the field, its
// variable and the reference, never a value. NewAuth calls it; the pipeline calls it before it starts the
// embedded broker (whose superuser is SASLUsername/SASLPassword). A resolved s resolves to itself unless a
// value itself holds a reference.
func (s *Security) ResolveSecrets() error {
	for _, f := range []struct {
		name    string
		setting *string
		secret  bool
	}{
		{"TLSCAFile", &s.TLSCAFile, false}, {"TLSCertFile", &s.TLSCertFile, false}, {"TLSKeyFile", &s.TLSKeyFile, false},
		{"SASLUsername", &s.SASLUsername, false}, {"SASLPassword", &s.SASLPassword, true},
		{"OAuthTokenURL", &s.OAuthTokenURL, false}, {"OAuthClientID", &s.OAuthClientID, false},
		{"OAuthClientSecret", &s.OAuthClientSecret, true}, {"OAuthScope", &s.OAuthScope, false},
	} {
		if err := secret.ResolveField("config", field(f.name), f.setting, f.secret); err != nil {
			return err
		}
	}
	return nil
}
