package main

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// API commands send --token, else $SLUICE_API_TOKEN, as a bearer token; a 401 is reported as the server's
// message, without the token.
func TestAPIAuthCLIToken(t *testing.T) {
	got := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pipelines" {
			got <- r.Header.Get("Authorization")
		}
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error_code":401,"message":"the token is not one this replica accepts"}`))
			return
		}
		if r.URL.Path == "/pipelines" {
			w.Write([]byte(`["p"]`))
			return
		}
		w.Write([]byte(`{"name":"p"}`))
	}))
	defer srv.Close()

	t.Setenv("SLUICE_API_TOKEN", "good")
	if _, err := run(t, context.Background(), "pipelines", "--url", srv.URL); err != nil {
		t.Fatalf("with $SLUICE_API_TOKEN: %v", err)
	}
	if h := <-got; h != "Bearer good" {
		t.Errorf("$SLUICE_API_TOKEN sent %q", h)
	}
	_, err := run(t, context.Background(), "pipelines", "--url", srv.URL, "--token", "bad-secret")
	if h := <-got; h != "Bearer bad-secret" {
		t.Errorf("--token sent %q", h)
	}
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "bad-secret") {
		t.Errorf("--token with a wrong token: %v", err)
	}
}

// --ca-file (default $SLUICE_API_CA_FILE) trusts the API's HTTPS certificate; without it a private CA's
// certificate is refused.
func TestAPIAuthCLICAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pipelines" {
			w.Write([]byte(`["p"]`))
			return
		}
		w.Write([]byte(`{"name":"p"}`))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, context.Background(), "pipelines", "--url", srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without --ca-file: %v, want a certificate error", err)
	}
	if out, err := run(t, context.Background(), "pipelines", "--url", srv.URL, "--ca-file", ca); err != nil || !strings.Contains(out, "p") {
		t.Errorf("--ca-file: %q %v", out, err)
	}
	t.Setenv("SLUICE_API_CA_FILE", ca)
	if _, err := run(t, context.Background(), "pipelines", "--url", srv.URL); err != nil {
		t.Errorf("$SLUICE_API_CA_FILE: %v", err)
	}
}
