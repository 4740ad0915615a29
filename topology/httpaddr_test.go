package topology_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
)

// holdDefaultHTTPAddr makes sure topology.DefaultHTTPAddr is taken for the rest of the test: by a listener
// of the test's own, or by whoever already holds it.
func holdDefaultHTTPAddr(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", topology.DefaultHTTPAddr)
	if err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("listening on %s: %v", topology.DefaultHTTPAddr, err)
		}
		return // taken already, which is what the test needs
	}
	t.Cleanup(func() { ln.Close() })
}

// TestDefaultHTTPAddrTakenFallsBackToFreePort: a replica started with the default HTTP address while it is
// taken (another replica on the same machine) serves on a free port of 127.0.0.1, says which in one INFO
// line, and answers /healthz there.
func TestDefaultHTTPAddrTakenFallsBackToFreePort(t *testing.T) {
	t.Setenv("SLUICE_HTTP_ADDR", "")
	holdDefaultHTTPAddr(t)
	brokers := testkit.Brokers(t, 1)
	cfg := topology.DefaultConfig()
	cfg.Brokers = brokers
	log := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- lifecycleTopology(&countedSource{n: 5}, &lifecycleStage{name: "opened"}, &flakySink{}).RunWith(ctx, cfg)
	}()
	var lines []string
	for lines = log.Lines("default HTTP address taken"); len(lines) == 0; lines = log.Lines("default HTTP address taken") {
		select {
		case err := <-done:
			t.Fatalf("RunWith ended before serving HTTP: %v; log:\n%s", err, log.String())
		case <-ctx.Done():
			t.Fatalf("no fallback line after 60s; log:\n%s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "default="+topology.DefaultHTTPAddr) {
		t.Fatalf("want one INFO line naming the default address, got %q", lines)
	}
	m := regexp.MustCompile(` addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(lines[0])
	if m == nil || m[1] == topology.DefaultHTTPAddr {
		t.Fatalf("the line does not name a free port: %q", lines[0])
	}
	if body := httpGet(t, "http://"+m[1]+"/healthz"); !strings.Contains(body, "ok") && !strings.Contains(body, "alive") {
		t.Errorf("/healthz on %s answered %q", m[1], body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestExplicitHTTPAddrTakenFailsStartup: an address the operator chose (SLUICE_HTTP_ADDR set, even to the
// default, or any other address in Config) fails start-up naming it when it is taken.
func TestExplicitHTTPAddrTakenFailsStartup(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ name, env, addr string }{
		{"env set to the default", topology.DefaultHTTPAddr, topology.DefaultHTTPAddr},
		{"other address in Config", "", taken.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SLUICE_HTTP_ADDR", tc.env)
			if tc.addr == topology.DefaultHTTPAddr {
				holdDefaultHTTPAddr(t)
			}
			cfg := topology.DefaultConfig()
			cfg.Brokers, cfg.HTTPAddr = brokers, tc.addr
			cfg.Logger = slog.New(slog.NewTextHandler(&testkit.LogBuffer{}, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := lifecycleTopology(&countedSource{n: 5}, &lifecycleStage{name: "opened"}, &flakySink{}).RunWith(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), "HTTP address "+tc.addr+" (SLUICE_HTTP_ADDR)") || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("want start-up to fail naming %s, got %v", tc.addr, err)
			}
		})
	}
}
