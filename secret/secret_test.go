package secret_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/secret"
)

func TestSecretResolve(t *testing.T) {
	t.Setenv("SLUICE_TEST_SECRET_PW", "env-Pw-81723")
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("file-Pw-99112\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"plain":                                  "plain",
		"${env:SLUICE_TEST_SECRET_PW}":           "env-Pw-81723",
		"u:${env:SLUICE_TEST_SECRET_PW}@tcp(h)/": "u:env-Pw-81723@tcp(h)/",
		"${file:" + file + "}":                   "file-Pw-99112",
		"a $${env:X} b":                          "a ${env:X} b",
		"${other} stays":                         "${other} stays",
	} {
		got, err := secret.Resolve(in)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got := secret.Redact("x env-Pw-81723 y file-Pw-99112"); got != "x **** y ****" {
		t.Errorf("resolved values are not registered: %q", got)
	}
	for in, want := range map[string]string{
		"${env:SLUICE_TEST_SECRET_UNSET}": "ES: Password: ${env:SLUICE_TEST_SECRET_UNSET} is not set",
		"${file:/nonexistent/pw}":         "ES: Password: ${file:/nonexistent/pw}: no such file or directory",
		"${env:}":                         "ES: Password: ${env:} names no variable",
		"${env:X":                         `ES: Password: a reference starting "${env:" has no closing }`,
	} {
		s := in
		err := secret.ResolveField("ES", "Password", &s, true)
		if err == nil || err.Error() != want || !errors.Is(err, secret.ErrUnresolved) {
			t.Errorf("ResolveField(%q) = %v; want %q (ErrUnresolved)", in, err, want)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"cdc:pa:ss@w0rd@tcp(127.0.0.1:3306)/shop?tls=true": "cdc:****@tcp(127.0.0.1:3306)/shop?tls=true",
		"cdc:pw1234@/shop": "cdc:****@/shop",
		"cdc@tcp(h:1)/":    "cdc@tcp(h:1)/",
		"postgres://u:p%40ss@host:5432/db?sslmode=disable": "postgres://u:****@host:5432/db?sslmode=disable",
		"host=h user=u password='a b c' dbname=d":          "host=h user=u password=**** dbname=d",
		"http://elastic:changeme@es:9200":                  "http://elastic:****@es:9200",
		"http://es:9200":                                   "http://es:9200",
	} {
		if got := secret.RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q; want %q", in, got, want)
		}
	}
	// DSNs inside any text are found too.
	msg := `connect "u:zz9@tcp(h:3306)/" and postgres://a:b0b@h/db failed: password=hunter2x`
	want := `connect "u:****@tcp(h:3306)/" and postgres://a:****@h/db failed: password=****`
	if got := secret.Redact(msg); got != want {
		t.Errorf("Redact(%q) = %q; want %q", msg, got, want)
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

func TestRedactHandler(t *testing.T) {
	const pw = `Lit"Key<42>\x`
	secret.Register(pw, "abc") // "abc" is under MinLength: not registered
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if format == "json" {
			h = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(secret.NewHandler(h)).With("dsn", "u:"+pw+"@tcp(h)/")
		log.WithGroup("g").Info("msg "+pw, "s", pw, "err", fmt.Errorf("wrapped: %s", pw),
			"str", stringer{pw}, "any", map[string]string{"k": pw}, slog.Group("in", "x", pw), "n", 7, "abc", "abc")
		out := buf.String()
		for _, form := range []string{pw, `Lit\"Key`, `Lit\"Key\u003c42\u003e`, "Key<42>"} {
			if strings.Contains(out, form) {
				t.Errorf("%s log holds the secret (%q): %s", format, form, out)
			}
		}
		if !strings.Contains(out, "****") || !strings.Contains(out, "n=7") && !strings.Contains(out, `"n":7`) || !strings.Contains(out, "abc") {
			t.Errorf("%s log lost its shape: %s", format, out)
		}
	}
}

func TestRedactHTTPAndError(t *testing.T) {
	const pw = "http-Secret-7731"
	secret.Register(pw)
	h := secret.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"last_error":"http-Sec`)
		io.WriteString(w, `ret-7731 failed"}`)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || string(body) != `{"last_error":"**** failed"}` {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
	base := errors.New("dial: " + pw)
	err = secret.Error(fmt.Errorf("sink: %w", base))
	if strings.Contains(err.Error(), pw) || !errors.Is(err, base) {
		t.Errorf("Error: %v (Is base: %v)", err, errors.Is(err, base))
	}
}
