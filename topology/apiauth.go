package topology

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/secret"
)

// Authentication of the operator API.
//
// With no token configured (neither Config.APIToken nor Config.APITokensFile) the API is open, as before,
// and start-up logs a warning when the HTTP address is not a loopback one. With tokens, every request but
// those to Config.APIOpenPaths (default /healthz, /readyz, /metrics) must carry one:
//   - `Authorization: Bearer <token>` on any request;
//   - or, for GET and HEAD only, the cookie sluice_api_token, which GET /ui?token=<token> sets (then
//     redirects to /ui without the token in the address), so a browser can show the status page.
//
// A missing or unknown token is answered 401 with `WWW-Authenticate: Bearer realm="sluice"`; a read-only
// token on anything but GET or HEAD is answered 403. Tokens are compared in constant time and never logged
// or echoed; a token's name (the admin token from SLUICE_API_TOKEN is named "admin") is what the audit log
// records as who acted.

// The roles of operator API tokens.
const (
	RoleAdmin    = "admin"     // may read and act (pause, resume, stop, restart, offsets, ...)
	RoleReadOnly = "read-only" // may GET and HEAD only
)

// minTokenLength is the shortest token accepted: a token is a random secret, not a password to remember
// (and the redaction of package secret would mask every occurrence of a short word).
const minTokenLength = 16

// apiTokenCookie is the cookie GET /ui?token=... sets for the status page.
const apiTokenCookie = "sluice_api_token"

// defaultOpenPaths are the paths served without a token unless Config.APIOpenPaths says otherwise.
var defaultOpenPaths = []string{"/healthz", "/readyz", "/metrics"}

// apiToken is one accepted token.
type apiToken struct {
	name, role string
	secret     []byte
}

// apiAuth decides who a request comes from and whether it may go on. A nil *apiAuth lets everything through.
type apiAuth struct {
	tokens []apiToken
	open   []string
}

// caller is who sent a request, as the audit log names it.
type caller struct {
	name, role string
}

type callerKey struct{}

// callerOf returns the request's caller: the token's name and role, or "anonymous" with no role when the
// API is open.
func callerOf(r *http.Request) caller {
	if c, ok := r.Context().Value(callerKey{}).(caller); ok {
		return c
	}
	return caller{name: "anonymous"}
}

// newAPIAuth reads the tokens of cfg; it returns nil (an open API) when none is configured. A malformed
// tokens file is an error naming the file and line, never the token.
func newAPIAuth(cfg Config) (*apiAuth, error) {
	a := &apiAuth{open: cfg.APIOpenPaths}
	if a.open == nil {
		a.open = defaultOpenPaths
	}
	if cfg.APIToken != "" {
		token := cfg.APIToken
		if err := secret.ResolveField("config", "APIToken (SLUICE_API_TOKEN)", &token, true); err != nil {
			return nil, err
		}
		if len(token) < minTokenLength {
			return nil, fmt.Errorf("config: APIToken (SLUICE_API_TOKEN) is shorter than %d characters: use a random one (e.g. openssl rand -hex 24)", minTokenLength)
		}
		a.tokens = append(a.tokens, apiToken{name: "admin", role: RoleAdmin, secret: []byte(token)})
	}
	if cfg.APITokensFile != "" {
		tokens, err := readTokensFile(cfg.APITokensFile)
		if err != nil {
			return nil, err
		}
		a.tokens = append(a.tokens, tokens...)
	}
	for _, t := range a.tokens {
		secret.Register(string(t.secret)) // redacted wherever the pipeline speaks (package secret)
	}
	if len(a.tokens) == 0 {
		return nil, nil
	}
	return a, nil
}

// readTokensFile reads lines `name role token` (role admin or read-only); blank lines and lines starting
// with # are skipped.
func readTokensFile(path string) ([]apiToken, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: APITokensFile (SLUICE_API_TOKENS_FILE): %w", err)
	}
	defer f.Close()
	var out []apiToken
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		where := fmt.Sprintf("config: APITokensFile (SLUICE_API_TOKENS_FILE) %s line %d", path, line)
		switch {
		case len(fields) != 3:
			return nil, fmt.Errorf("%s: want `name role token`, got %d fields", where, len(fields))
		case fields[1] != RoleAdmin && fields[1] != RoleReadOnly:
			return nil, fmt.Errorf("%s: token %q: role %q is neither %s nor %s", where, fields[0], fields[1], RoleAdmin, RoleReadOnly)
		case len(fields[2]) < minTokenLength:
			return nil, fmt.Errorf("%s: token %q is shorter than %d characters: use a random one (e.g. openssl rand -hex 24)", where, fields[0], minTokenLength)
		case names[fields[0]]:
			return nil, fmt.Errorf("%s: token name %q is used twice: the audit log could not tell them apart", where, fields[0])
		}
		names[fields[0]] = true
		out = append(out, apiToken{name: fields[0], role: fields[1], secret: []byte(fields[2])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config: APITokensFile (SLUICE_API_TOKENS_FILE) %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("config: APITokensFile (SLUICE_API_TOKENS_FILE) %s: no token in it", path)
	}
	return out, nil
}

// lookup returns the token whose secret is given, comparing against every token in constant time.
func (a *apiAuth) lookup(secret string) (apiToken, bool) {
	var found apiToken
	ok := 0
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(t.secret, []byte(secret)) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}

// safeMethod reports whether the method only reads.
func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// authenticate returns next behind authentication and the audit log al (audit.go): open paths pass untouched,
// others need a token as the comment at the top of this file says, and every operator action is audited,
// refusals included.
func (p *pipelineRun) authenticate(a *apiAuth, al *auditLog, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a != nil && slices.Contains(a.open, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if a == nil {
			al.audited(w, r, next)
			return
		}
		secret, fromQuery := "", false
		if h := r.Header.Get("Authorization"); h != "" {
			if s, ok := strings.CutPrefix(h, "Bearer "); ok {
				secret = strings.TrimSpace(s)
			}
		} else if safeMethod(r.Method) {
			if r.URL.Path == "/ui" && r.URL.Query().Has("token") {
				secret, fromQuery = r.URL.Query().Get("token"), true
			} else if c, err := r.Cookie(apiTokenCookie); err == nil {
				secret = c.Value
			}
		}
		tok, ok := a.lookup(secret)
		if !ok {
			who := "anonymous"
			msg := "this endpoint needs a token: send `Authorization: Bearer <token>` (the CLI: --token or $SLUICE_API_TOKEN)"
			if secret != "" {
				who, msg = "unknown token", "the token is not one this replica accepts"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			al.audited(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{name: who})), http.HandlerFunc(
				func(w http.ResponseWriter, r *http.Request) { writeOpsError(w, http.StatusUnauthorized, "%s", msg) }))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{name: tok.name, role: tok.role}))
		if fromQuery {
			http.SetCookie(w, &http.Cookie{Name: apiTokenCookie, Value: secret, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q := r.URL.Query()
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		if tok.role != RoleAdmin && !safeMethod(r.Method) {
			al.audited(w, r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeOpsError(w, http.StatusForbidden, "token %q is %s: %s %s needs an admin token", tok.name, tok.role, r.Method, r.URL.Path)
			}))
			return
		}
		al.audited(w, r, next)
	})
}

// warnOpenAPI logs a warning when the API has no token and listens on an address other machines may reach.
func (p *pipelineRun) warnOpenAPI(a *apiAuth, ln net.Listener) {
	if a != nil {
		return
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return
	}
	p.log.Warn("the operator API has no token and listens beyond this machine: anyone who reaches it may pause, stop and change offsets; set SLUICE_API_TOKEN or SLUICE_API_TOKENS_FILE",
		"addr", ln.Addr().String())
}

// errNoTLSPair is returned when only one of the API's certificate and key files is given.
var errNoTLSPair = errors.New("config: HTTPTLSCertFile (SLUICE_HTTP_TLS_CERT_FILE) and HTTPTLSKeyFile (SLUICE_HTTP_TLS_KEY_FILE) go together: give both or neither")

// count is the number of tokens accepted, 0 for an open API.
func (a *apiAuth) count() int {
	if a == nil {
		return 0
	}
	return len(a.tokens)
}
