package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
)

// lagOf asks r for its lag, as the engine does, and checks the unit.
func lagOf(t *testing.T, r sources.Reader) float64 {
	t.Helper()
	l, ok := r.(sources.Lagger)
	if !ok {
		t.Fatal("the file source's reader does not implement sources.Lagger")
	}
	v, unit, ok := l.Lag()
	if !ok || unit != "bytes" {
		t.Fatalf("Lag() = %v, %q, %v; want bytes, ok", v, unit, ok)
	}
	return v
}

// Lag is the bytes not yet returned: the file's size minus the offset of the last line returned, an
// incomplete last line included, and the new file at the path while a rotated one is being finished.
func TestLagIsBytesNotYetRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	src := newSource(t, file.Config{Paths: []string{path}, MaxBatch: 4})
	r := openFile(t, src, path, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	if got := lagOf(t, r); got != 0 {
		t.Fatalf("lag with no file at the path = %v, want 0", got)
	}
	writeFile(t, path, strings.Repeat("line-x\n", 10)) // 70 bytes
	if got := lagOf(t, r); got != 70 {
		t.Fatalf("lag before the first Read = %v, want 70", got)
	}
	readN(t, ctx, r, 4)
	if got := lagOf(t, r); got != 70-28 {
		t.Fatalf("lag after 4 of 10 lines = %v, want 42", got)
	}
	readN(t, ctx, r, 6)
	if got := lagOf(t, r); got != 0 {
		t.Fatalf("lag once every line was read = %v, want 0", got)
	}
	appendFile(t, path, "partial")
	if got := lagOf(t, r); got != 7 {
		t.Fatalf("lag with an incomplete last line = %v, want 7", got)
	}
	appendFile(t, path, "\n")
	readN(t, ctx, r, 1)

	// Rotation: the old file gets a last line after its rename, the new file has data.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", "late\n")
	writeFile(t, path, "new-1\nnew-2\n")
	if got := lagOf(t, r); got != 5+12 {
		t.Fatalf("lag while a rotated file has 5 bytes left and the new one 12 = %v, want 17", got)
	}
	if got := values(readN(t, ctx, r, 3)); strings.Join(got, ",") != "late,new-1,new-2" {
		t.Fatalf("read %q after the rotation", got)
	}
	if got := lagOf(t, r); got != 0 {
		t.Fatalf("lag after the rotation was read = %v, want 0", got)
	}
}

// Lag may be called while Read runs on another goroutine (run with -race), and reports from where a
// stored position starts.
func TestLagWhileReading(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, strings.Repeat("0123456789\n", 100)) // 1100 bytes
	src := newSource(t, file.Config{Paths: []string{path}, MaxBatch: 10})
	r := openFile(t, src, path, offsetPos(path, 550))
	if got := lagOf(t, r); got != 550 {
		t.Fatalf("lag of a task opened at offset 550 of 1100 = %v, want 550", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if _, unit, ok := r.(sources.Lagger).Lag(); !ok || unit != "bytes" {
					t.Errorf("Lag() while reading: unit %q, ok %v", unit, ok)
					return
				}
			}
		}
	}()
	readN(t, ctx, r, 50)
	close(stop)
	wg.Wait()
	if got := lagOf(t, r); got != 0 {
		t.Fatalf("lag after reading to the end = %v, want 0", got)
	}
}
