package broker

import (
	"net"
	"strings"
	"testing"
)

// ResolveAddr replaces port 0 by a port that is free (a broker starts on it) and leaves other addresses.
func TestResolveAddr(t *testing.T) {
	if got, err := ResolveAddr("127.0.0.1:9092"); err != nil || got != "127.0.0.1:9092" {
		t.Errorf("ResolveAddr(127.0.0.1:9092) = %q, %v", got, err)
	}
	got, err := ResolveAddr("127.0.0.1:0")
	if err != nil || !strings.HasPrefix(got, "127.0.0.1:") || strings.HasSuffix(got, ":0") {
		t.Fatalf("ResolveAddr(127.0.0.1:0) = %q, %v", got, err)
	}
	b, err := Start(Config{Addr: got})
	if err != nil {
		t.Fatalf("starting on the resolved %s: %v", got, err)
	}
	defer b.Close()
	if b.Addrs()[0] != got {
		t.Errorf("broker listens on %s, resolved %s", b.Addrs()[0], got)
	}
	if _, err := net.Dial("tcp", got); err != nil {
		t.Errorf("dial %s: %v", got, err)
	}
	if _, err := ResolveAddr("no-port"); err == nil || !strings.Contains(err.Error(), `"no-port"`) {
		t.Errorf("ResolveAddr(no-port): %v", err)
	}
}
