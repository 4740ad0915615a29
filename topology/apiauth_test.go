package topology_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
)

const (
	authAdminSecret  = "adm-7f3c9e21b4d8a6"
	authViewerSecret = "view-51c0d9ee27aa43"
	authRootSecret   = "root-0b8e4f7719c2d5"
)

// authCall sends method path with the bearer token (none when token is empty) and returns the answer.
func authCall(t *testing.T, addr, method, path, token string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, out
}

func authExpect(t *testing.T, addr, method, path, token string, want int) []byte {
	t.Helper()
	res, out := authCall(t, addr, method, path, token, nil)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, out, want)
	}
	return out
}

// TestAPIAuthAndAuditLog is acceptance 4 of issue 16: without a token the API answers 401, a read-only
// token may read but not pause (403), an admin token pauses, resumes, stops and resets offsets, and every
// action, refusals included, appears exactly once in the log ("audit" lines) and on <pipeline>.audit.
func TestAPIAuthAndAuditLog(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	lines := writeInputs(t, []string{in}, 20)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# name role token\nops admin "+authAdminSecret+"\nviewer read-only "+authViewerSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const name = "api-auth"
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	cfg.APIToken, cfg.APITokensFile = authRootSecret, tokens
	logs := &testkit.LogBuffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(w, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- controlPipeline(t, name, []string{in}, out).RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunWith: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("RunWith did not return within 60s of its context's end")
		}
	}()
	addr := cfg.HTTPAddr

	// /readyz is open: poll it until the pipeline runs (its commands topic is read by then).
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancelReq := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		cancelReq()
		if err == nil && res.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 45s (last: %v %v)", res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	awaitLines(t, len(lines), 45*time.Second, out)
	authExpect(t, addr, http.MethodGet, "/healthz", "", http.StatusOK)
	authExpect(t, addr, http.MethodGet, "/metrics", "", http.StatusOK)

	p := "/pipelines/" + name
	// No token, an unknown token: 401 with WWW-Authenticate and an opsapi.Error.
	for _, tok := range []string{"", "not-a-token"} {
		res, body := authCall(t, addr, http.MethodGet, p+"/status", tok, nil)
		var e opsapi.Error
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") ||
			json.Unmarshal(body, &e) != nil || e.ErrorCode != http.StatusUnauthorized {
			t.Fatalf("GET status with token %q: %d %q %s", tok, res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
		}
	}
	authExpect(t, addr, http.MethodPut, p+"/pause", "", http.StatusUnauthorized) // audited: anonymous, refused

	// Read-only: GET works, pause is 403.
	authExpect(t, addr, http.MethodGet, p+"/status", authViewerSecret, http.StatusOK)
	authExpect(t, addr, http.MethodGet, p+"/offsets", authViewerSecret, http.StatusOK)
	body := authExpect(t, addr, http.MethodPut, p+"/pause", authViewerSecret, http.StatusForbidden) // audited: viewer, refused
	if !strings.Contains(string(body), "admin token") {
		t.Errorf("403 body: %s", body)
	}

	// The status page: ?token= sets a cookie and redirects to /ui without the token.
	res, _ := authCall(t, addr, http.MethodGet, "/ui?token="+authViewerSecret, "", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui" || len(res.Cookies()) != 1 || !res.Cookies()[0].HttpOnly {
		t.Fatalf("/ui?token=: %d Location %q cookies %v", res.StatusCode, res.Header.Get("Location"), res.Cookies())
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/ui", nil)
	req.AddCookie(res.Cookies()[0])
	if uiRes, err := http.DefaultClient.Do(req); err != nil || uiRes.StatusCode != http.StatusOK {
		t.Fatalf("/ui with the cookie: %v %v", uiRes, err)
	} else {
		uiRes.Body.Close()
	}

	// Admin: pause, resume, stop, offsets reset (while stopped), resume; the root token acts as "admin".
	authExpect(t, addr, http.MethodPut, p+"/pause", authAdminSecret, http.StatusAccepted)
	authExpect(t, addr, http.MethodPut, p+"/resume", authRootSecret, http.StatusAccepted)
	authExpect(t, addr, http.MethodPut, p+"/stop", authAdminSecret, http.StatusAccepted)
	awaitStateWithToken(t, addr, name, authAdminSecret, opsapi.StateStopped)
	if res, body := authCall(t, addr, http.MethodPatch, p+"/offsets", authAdminSecret, strings.NewReader(`{"offsets":[]}`)); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH offsets: %d %s", res.StatusCode, body)
	}
	authExpect(t, addr, http.MethodDelete, p+"/offsets", authAdminSecret, http.StatusOK)
	authExpect(t, addr, http.MethodPut, p+"/resume", authAdminSecret, http.StatusAccepted)
	awaitStateWithToken(t, addr, name, authAdminSecret, opsapi.StateRunning)
	authExpect(t, addr, http.MethodDelete, p+"/offsets", authAdminSecret, http.StatusConflict) // running: audited, refused
	authExpect(t, addr, http.MethodPost, p+"/restart?flow=copy", authAdminSecret, http.StatusAccepted)

	type want struct {
		who, action, result string
		status              int
	}
	wants := []want{
		{"anonymous", "pause", "refused", 401},
		{"viewer", "pause", "refused", 403},
		{"ops", "pause", "accepted", 202},
		{"admin", "resume", "accepted", 202},
		{"ops", "stop", "accepted", 202},
		{"ops", "offsets change", "accepted", 200},
		{"ops", "offsets reset", "accepted", 200},
		{"ops", "resume", "accepted", 202},
		{"ops", "offsets reset", "refused", 409},
		{"ops", "restart", "accepted", 202},
	}
	type entry struct {
		Msg    string `json:"msg"`
		ID     string `json:"id"`
		Who    string `json:"who"`
		Action string `json:"action"`
		Target string `json:"target"`
		Result string `json:"result"`
		Status int    `json:"status"`
	}
	var logged []entry
	for _, l := range logs.Lines(`"msg":"audit"`) {
		var e entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %s: %v", l, err)
		}
		logged = append(logged, e)
	}
	msgs := testkit.WaitRecords(t, brokers, name+".audit", len(wants), 30*time.Second)
	var onTopic []entry
	for _, m := range msgs {
		var e entry
		if err := json.Unmarshal(m.Value, &e); err != nil || string(m.Key) != e.ID {
			t.Fatalf("audit record %s: %v (key must be the id)", m, err)
		}
		onTopic = append(onTopic, e)
	}
	for what, got := range map[string][]entry{"log": logged, "topic": onTopic} {
		if len(got) != len(wants) {
			t.Errorf("%s: %d audit entries, want %d: %+v", what, len(got), len(wants), got)
			continue
		}
		for i, w := range wants {
			g := got[i]
			target := "pipeline " + name
			if w.action == "restart" {
				target += ` flow "copy"`
			}
			if g.Who != w.who || g.Action != w.action || g.Result != w.result || g.Status != w.status || g.Target != target {
				t.Errorf("%s entry %d: %+v, want %+v", what, i, g, w)
			}
		}
	}
	ids := func(es []entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	if !slices.Equal(ids(logged), ids(onTopic)) {
		t.Errorf("log ids %v, topic ids %v", ids(logged), ids(onTopic))
	}
	all := logs.String()
	for _, m := range msgs {
		all += string(m.Value)
	}
	for _, s := range []string{authAdminSecret, authViewerSecret, authRootSecret} {
		if strings.Contains(all, s) {
			t.Errorf("a token appears in the logs or the audit topic")
		}
	}
}

func awaitStateWithToken(t *testing.T, addr, name, token, want string) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	var last []byte
	for time.Now().Before(deadline) {
		res, out := authCall(t, addr, http.MethodGet, "/pipelines/"+name+"/status", token, nil)
		last = out
		var st opsapi.Status
		if res.StatusCode == http.StatusOK && json.Unmarshal(out, &st) == nil && len(st.Replicas) == 1 && st.Replicas[0].State == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not %s within 40s; last status: %s", want, last)
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key into dir and returns the
// files and the certificate pool that trusts it.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice api test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "api.pem"), filepath.Join(dir, "api-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With HTTPTLSCertFile/KeyFile the API speaks HTTPS only; with APIOpenPaths empty even /healthz needs the
// token; opsapi.Client reaches it with an https URL and the token.
func TestAPIAuthOverTLS(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	writeInputs(t, []string{in}, 3)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, testkit.FreeAddr(t), t.TempDir()
	cfg.APIToken, cfg.APIOpenPaths = authRootSecret, []string{}
	var pool *x509.CertPool
	cfg.HTTPTLSCertFile, cfg.HTTPTLSKeyFile, pool = writeTestCert(t, dir)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- controlPipeline(t, "api-tls", []string{in}, out).RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path, token string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+cfg.HTTPAddr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		code, err := get("/readyz", authRootSecret)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz over HTTPS not 200 within 45s: %d %v", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, err := get("/healthz", ""); code != http.StatusUnauthorized {
		t.Errorf("/healthz without a token, no open paths: %d %v", code, err)
	}
	c := &opsapi.Client{BaseURL: "https://" + cfg.HTTPAddr, HTTP: hc, Token: authRootSecret}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if names, err := c.Pipelines(cctx); err != nil || len(names) != 1 || names[0] != "api-tls" {
		t.Errorf("Pipelines over HTTPS: %v %v", names, err)
	}
	plain := &opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr, Token: authRootSecret}
	if _, err := plain.Pipelines(cctx); err == nil {
		t.Error("plain HTTP to the HTTPS port succeeded")
	}
}
