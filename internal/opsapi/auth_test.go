package opsapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// The client's Token reaches a real replica's API: no token is 401, a read-only token reads and is 403 on
// pause, an admin token pauses; each refusal is an *opsapi.Error with the status.
func TestAPIAuthClientToken(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: filepath.Join(dir, "out.log")})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("client-auth")
	lines := tp.Topic("client-auth.lines", topology.ValueCodec("string"))
	tp.Source("files", src).To(lines)
	tp.Flow("copy").From(lines).To(sink)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("viewer read-only v-93c1e5d0a7b2f4c81\nops admin a-27f0b9e6c3d1a5f42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir, cfg.APITokensFile = brokers, testkit.FreeAddr(t), t.TempDir(), tokens
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()

	call := func(token string, f func(c *opsapi.Client, ctx context.Context) error) error {
		c := &opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr, Token: token}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return f(c, ctx)
	}
	status := func(c *opsapi.Client, ctx context.Context) error { _, err := c.Status(ctx, "client-auth"); return err }
	pause := func(c *opsapi.Client, ctx context.Context) error { _, err := c.Pause(ctx, "client-auth"); return err }
	deadline := time.Now().Add(45 * time.Second)
	for { // the replica is starting: its API answers once it listens, its control side once it read its commands
		err := call("a-27f0b9e6c3d1a5f42", pause)
		if err == nil {
			break
		}
		var e *opsapi.Error
		if time.Now().After(deadline) || (errors.As(err, &e) && e.ErrorCode != http.StatusServiceUnavailable) {
			t.Fatalf("pause with the admin token: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range []struct {
		token string
		f     func(*opsapi.Client, context.Context) error
		want  int
	}{{"", status, 401}, {"nope", status, 401}, {"v-93c1e5d0a7b2f4c81", status, 0}, {"v-93c1e5d0a7b2f4c81", pause, 403}, {"a-27f0b9e6c3d1a5f42", status, 0}} {
		err := call(c.token, c.f)
		var e *opsapi.Error
		switch {
		case c.want == 0 && err != nil:
			t.Errorf("token %q: %v", c.token, err)
		case c.want != 0 && (!errors.As(err, &e) || e.ErrorCode != c.want):
			t.Errorf("token %q: %v, want a %d", c.token, err, c.want)
		}
	}
}
