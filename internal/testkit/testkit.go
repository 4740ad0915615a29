// Package testkit holds helpers shared by Sluice's integration tests: free ports, waiting for files to fill,
// and reading the lines back.
package testkit

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// CountLines returns the number of complete lines in path (0 if it does not exist).
func CountLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

// WaitLines waits until path holds at least n lines, or fails the test after timeout.
func WaitLines(t testing.TB, path string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := CountLines(path)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines after %v, want %d", path, got, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReadLines returns the lines of path.
func ReadLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
