package mariadb_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mariadb"
)

// A server given DataDir keeps its port across launches while the port is free, takes a free one when it
// is not (and keeps that one next time), and its ClientCommand opens a session as printed.
func TestDataDirKeepsPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "db")
	first, err := mariadb.Launch(ctx, mariadb.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	port := first.Port
	want := fmt.Sprintf("mariadb -h 127.0.0.1 -P %d -u root shop", port)
	if got := first.ClientCommand("shop"); got != want {
		t.Errorf("ClientCommand = %q, want %q", got, want)
	}
	if _, err := first.DB().ExecContext(ctx, "CREATE DATABASE shop"); err != nil {
		first.Stop()
		t.Fatal(err)
	}
	if client, err := exec.LookPath("mariadb"); err == nil {
		args := strings.Fields(first.ClientCommand("shop"))[1:]
		out, err := exec.CommandContext(ctx, client, append(args, "-N", "-e", "SELECT DATABASE()")...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "shop" {
			t.Errorf("%s -e 'SELECT DATABASE()': %v, %q", first.ClientCommand("shop"), err, out)
		}
	} else {
		t.Logf("no mariadb client in PATH (%v): the printed command is not run", err)
	}
	first.Stop()

	second, err := mariadb.Launch(ctx, mariadb.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if second.Port != port {
		t.Errorf("relaunch on the same data dir listens on %d, want the previous port %d", second.Port, port)
	}
	second.Stop()

	// Someone else takes the port meanwhile: a free one, kept from then on.
	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("taking port %d: %v", port, err)
	}
	third, err := mariadb.Launch(ctx, mariadb.DataDir(dir))
	taken.Close()
	if err != nil {
		t.Fatal(err)
	}
	moved := third.Port
	third.Stop()
	if moved == port {
		t.Fatalf("launched on port %d although it was taken", port)
	}
	fourth, err := mariadb.Launch(ctx, mariadb.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer fourth.Stop()
	if fourth.Port != moved {
		t.Errorf("relaunch after moving listens on %d, want %d", fourth.Port, moved)
	}
}
