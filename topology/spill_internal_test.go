package topology

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSpillQueueRoundTrip: records appended across several segments (reads interleaved with appends) come
// back whole and in order, nil keys and values stay nil, and read segments are removed as soon as read.
func TestSpillQueueRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spill")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spill-000001.seg"), []byte("left from an earlier run"), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := newSpillQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(i int) origin {
		o := origin{partition: int32(i % 3), offset: int64(i), timestamp: time.UnixMilli(int64(1_700_000_000_000 + i)),
			value: bytes.Repeat([]byte{byte(i)}, 10_000)}
		if i%7 != 0 {
			o.key = []byte(fmt.Sprintf("k%d", i))
		}
		if i%11 == 0 {
			o.value = nil
		}
		if i%5 == 0 {
			o.headers = []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(fmt.Sprint(i))}, {Key: []byte("empty"), Value: nil}}
		}
		return o
	}
	next := 0
	check := func() {
		t.Helper()
		got, err := q.next()
		if err != nil {
			t.Fatal(err)
		}
		want := mk(next)
		if got.partition != want.partition || got.offset != want.offset || !got.timestamp.Equal(want.timestamp) ||
			!bytes.Equal(got.key, want.key) || (got.key == nil) != (want.key == nil) ||
			!bytes.Equal(got.value, want.value) || (got.value == nil) != (want.value == nil) || len(got.headers) != len(want.headers) {
			t.Fatalf("entry %d came back as partition %d offset %d key %q (%d value bytes, %d headers)",
				next, got.partition, got.offset, got.key, len(got.value), len(got.headers))
		}
		for i, h := range want.headers {
			if !bytes.Equal(got.headers[i].Key, h.Key) || !bytes.Equal(got.headers[i].Value, h.Value) {
				t.Fatalf("entry %d header %d: %q=%q, want %q=%q", next, i, got.headers[i].Key, got.headers[i].Value, h.Key, h.Value)
			}
		}
		next++
	}
	maxFiles := 0
	for i := range 2000 {
		if err := q.append(mk(i)); err != nil {
			t.Fatal(err)
		}
		maxFiles = max(maxFiles, q.files())
		if i%3 == 0 {
			check()
		}
	}
	if maxFiles < 3 {
		t.Errorf("at most %d segment files for ~13 MB of entries in %d-byte segments", maxFiles, spillSegmentBytes)
	}
	for q.count() > 0 {
		check()
	}
	if next != 2000 || q.bytes() != 0 {
		t.Fatalf("read %d entries, %d bytes still counted", next, q.bytes())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("files left after everything was read: %v", left)
	}
}

// TestProcessSpillDir: the default spill directory is per process; those of processes that are gone are
// removed, those of live ones kept.
func TestProcessSpillDir(t *testing.T) {
	base := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(base, fmt.Sprintf("pid-%d", gone.Process.Pid))
	live := filepath.Join(base, fmt.Sprintf("pid-%d", os.Getppid()))
	for _, d := range []string{stale, live} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "spill-000001.seg"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := processSpillDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(base, fmt.Sprintf("pid-%d", os.Getpid())); dir != want {
		t.Errorf("spill dir %s, want %s", dir, want)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the directory of a process that is gone is still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(live, "spill-000001.seg")); err != nil {
		t.Errorf("the directory of a live process was touched: %v", err)
	}
}
