package postgres

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// As root without user namespaces (a container without CAP_SYS_ADMIN), the server runs as the user postgres
// (or nobody) with its data directory chowned to it; a later launch on that directory runs as its owner.
func TestRootWithoutUserNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: this is the path a root caller takes when user namespaces are not allowed; run the tests as root, as .ci/run does")
	}
	useUserns = false
	defer func() { useUserns = true }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv, err := Launch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "postgres"
	if _, err := user.Lookup(want); err != nil {
		want = "nobody"
	}
	u, err := user.Lookup(want)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if got := ownerOf(t, srv.Dir); got != uid {
		t.Errorf("temporary data directory owned by uid %d, want %d (%s)", got, uid, want)
	}
	srv.Stop()

	// A DataDir's parent must be searchable by that user: t.TempDir's is not (0700, root).
	parent, err := os.MkdirTemp("", "postgres-runas-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(parent)
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "db")
	first, err := Launch(ctx, DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.DB().ExecContext(ctx, "CREATE TABLE kept (id INT)"); err != nil {
		first.Stop()
		t.Fatal(err)
	}
	first.Stop()
	useUserns = true // the owner of the directory decides, not the user namespace
	second, err := Launch(ctx, DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	if _, err := second.DB().ExecContext(ctx, "INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if got := ownerOf(t, dir); got != uid {
		t.Errorf("data directory owned by uid %d after relaunch, want %d", got, uid)
	}
}

func ownerOf(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}
