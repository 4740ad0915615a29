package broker

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	first, err := Start(Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(Config{Addr: "127.0.0.1:0", DataDir: dir})
	if !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), filepath.Join(dir, LockFileName)) {
		t.Fatalf("second Start on a locked dir: %v; want ErrDataDirLocked naming the lock file", err)
	}
	first.Close()
	again, err := Start(Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	again.Close()
}

func TestAddressChecks(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9092", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"} {
		if _, err := Start(Config{Addr: addr}); err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("Start(%q) = %v, want an error naming the address", addr, err)
		}
	}
}
