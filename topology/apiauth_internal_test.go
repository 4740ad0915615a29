package topology

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tokens file is checked at start-up; each error names the file and line, never the token.
func TestAPIAuthTokensFileErrors(t *testing.T) {
	dir := t.TempDir()
	long := "0123456789abcdef-secret"
	for _, c := range []struct{ text, want string }{
		{"ops admin", "want `name role token`, got 2 fields"},
		{"ops root " + long, `role "root" is neither admin nor read-only`},
		{"ops admin short-one", "shorter than 16 characters"},
		{"ops admin " + long + "\nops read-only " + long + "x", `token name "ops" is used twice`},
		{"# nothing\n\n", "no token in it"},
	} {
		path := filepath.Join(dir, "tokens")
		if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := newAPIAuth(Config{APITokensFile: path})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v, want an error naming %s and %q", c.text, err, path, c.want)
		} else if strings.Contains(err.Error(), long) || strings.Contains(err.Error(), "short-one") {
			t.Errorf("%q: the error shows the token: %v", c.text, err)
		}
	}
	if _, err := newAPIAuth(Config{APIToken: "too-short"}); err == nil || strings.Contains(err.Error(), "too-short") {
		t.Errorf("a short APIToken: %v", err)
	}
	if a, err := newAPIAuth(Config{}); a != nil || err != nil {
		t.Errorf("no token: %v %v, want an open API", a, err)
	}
	path := filepath.Join(dir, "ok")
	if err := os.WriteFile(path, []byte("# name role token\nviewer read-only "+long+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := newAPIAuth(Config{APIToken: long + "-admin", APITokensFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok := a.lookup(long); !ok || tok.name != "viewer" || tok.role != RoleReadOnly {
		t.Errorf("lookup viewer: %+v %v", tok, ok)
	}
	if tok, ok := a.lookup(long + "-admin"); !ok || tok.name != "admin" || tok.role != RoleAdmin {
		t.Errorf("lookup admin: %+v %v", tok, ok)
	}
	if _, ok := a.lookup(long[:10]); ok {
		t.Error("a prefix of a token is accepted")
	}
}

// SLUICE_API_* and SLUICE_HTTP_TLS_* reach Config; a lone certificate file is refused.
func TestAPIAuthConfigFromEnv(t *testing.T) {
	t.Setenv("SLUICE_API_TOKEN", "x")
	t.Setenv("SLUICE_API_TOKENS_FILE", "/etc/sluice/tokens")
	t.Setenv("SLUICE_API_OPEN_PATHS", "/healthz, /readyz")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.APIToken != "x" || c.APITokensFile != "/etc/sluice/tokens" || strings.Join(c.APIOpenPaths, ",") != "/healthz,/readyz" {
		t.Errorf("config %q %q %q", c.APIToken, c.APITokensFile, c.APIOpenPaths)
	}
	t.Setenv("SLUICE_API_OPEN_PATHS", "none")
	if c, err = ConfigFromEnv(); err != nil || c.APIOpenPaths == nil || len(c.APIOpenPaths) != 0 {
		t.Errorf("none: %q %v", c.APIOpenPaths, err)
	}
	t.Setenv("SLUICE_HTTP_TLS_CERT_FILE", "/c.pem")
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "SLUICE_HTTP_TLS_KEY_FILE") {
		t.Errorf("a certificate without a key: %v", err)
	}
}

// addrListener is a net.Listener that only reports an address, for warnOpenAPI.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

// An open API warns when it listens beyond loopback, and only then.
func TestAPIAuthOpenWarning(t *testing.T) {
	for _, c := range []struct {
		ip     string
		tokens bool
		warns  bool
	}{{"10.1.2.3", false, true}, {"0.0.0.0", false, true}, {"127.0.0.1", false, false}, {"::1", false, false}, {"10.1.2.3", true, false}} {
		var buf bytes.Buffer
		p := &pipelineRun{log: slog.New(slog.NewTextHandler(&buf, nil))}
		var a *apiAuth
		if c.tokens {
			a = &apiAuth{tokens: []apiToken{{name: "x"}}}
		}
		p.warnOpenAPI(a, addrListener{addr: &net.TCPAddr{IP: net.ParseIP(c.ip), Port: 8083}})
		if got := strings.Contains(buf.String(), "has no token"); got != c.warns {
			t.Errorf("%s tokens=%v: warned %v, want %v: %s", c.ip, c.tokens, got, c.warns, buf.String())
		}
	}
}
