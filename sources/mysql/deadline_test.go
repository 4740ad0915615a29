package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// TestBlackHoleServer: a MySQL address that accepts connections and never answers fails the source's
// start-up (Tasks runs Check) within its ConnectTimeout, naming the address, instead of hanging.
func TestBlackHoleServer(t *testing.T) {
	addr := testkit.StartBlackHole(t).Addr()
	src, err := New(Config{DSN: "root@tcp(" + addr + ")/", Tables: []string{"shop.orders"}, ServerID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = src.Tasks(ctx)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Tasks against a black-hole server: %v after %v; want an error naming %s", err, took, addr)
	}
	if took > 30*time.Second {
		t.Errorf("failed after %v, want within 30s", took)
	}
	t.Logf("failed after %v: %v", took.Round(time.Millisecond), err)
}
