package file_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stream"
)

// seqLine is the text of line seq of a test writer.
func seqLine(seq int) string { return fmt.Sprintf("l-%08d", seq) }

// logWriter is a writer that appends seqLine lines to path at a steady rate (perTick lines every
// millisecond, each tick one write) and, every rotateEvery lines, either rotates the file or truncates it,
// as logrotate does:
//   - rotate: rename path to path.<n>, append a few lines to the renamed file (a writer late to reopen),
//     create an empty file at path, append a few more to the renamed file, then go on in the new file; on
//     the third rotation the renamed file's last line gets no newline.
//   - truncate (copytruncate): once the reader has every line written so far (read, a counter the reader
//     keeps), truncate the file to 0 through a second handle, and go on appending.
type logWriter struct {
	t           *testing.T
	path        string
	perTick     int
	rotateEvery int
	rotations   int
	truncate    bool
	read        *atomic.Int64 // lines the reader has so far (for truncate)

	written atomic.Int64
	done    chan struct{}
}

func (w *logWriter) run(ctx context.Context) {
	defer close(w.done)
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Error(err)
		return
	}
	defer func() { f.Close() }()
	seq := 0
	write := func(f *os.File, n int, last bool) bool {
		var b strings.Builder
		for range n {
			b.WriteString(seqLine(seq))
			seq++
			if !last || seq%n != 0 {
				b.WriteByte('\n')
			}
		}
		if _, err := f.WriteString(b.String()); err != nil {
			w.t.Error(err)
			return false
		}
		w.written.Store(int64(seq))
		return true
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for n := 0; n <= w.rotations; n++ {
		for since := 0; since < w.rotateEvery; since += w.perTick {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if !write(f, w.perTick, false) {
				return
			}
		}
		if n == w.rotations {
			return
		}
		if w.truncate {
			for w.read.Load() < int64(seq) {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			if err := os.Truncate(w.path, 0); err != nil {
				w.t.Error(err)
				return
			}
			continue
		}
		if err := os.Rename(w.path, fmt.Sprintf("%s.%d", w.path, n+1)); err != nil {
			w.t.Error(err)
			return
		}
		if !write(f, 5, false) {
			return
		}
		next, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			w.t.Error(err)
			return
		}
		if !write(f, 5, n == 2) {
			next.Close()
			return
		}
		f.Close()
		f = next
	}
}

// consume reads from a reader of path until it has want lines or ctx ends. With reopenEvery > 0 it closes
// the reader after every reopenEvery Reads and opens a new one at the last record's position, as the engine
// does after a crash (here with nothing in flight, so nothing may come twice).
func consume(t *testing.T, ctx context.Context, src *file.Source, path string, want *atomic.Int64, final int, reopenEvery int, read *atomic.Int64) []stream.Record {
	t.Helper()
	task := sources.Task{Key: "file:" + path}
	var all []stream.Record
	var last stream.Position
	r, err := src.Open(ctx, task, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { r.Close() }()
	for reads := 1; len(all) < final; reads++ {
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d lines (%d written): %v", len(all), want.Load(), err)
		}
		all = append(all, recs...)
		read.Store(int64(len(all)))
		last = recs[len(recs)-1].Position
		if reopenEvery > 0 && reads%reopenEvery == 0 {
			if err := r.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if r, err = src.Open(ctx, task, last); err != nil {
				t.Fatalf("reopen at %s: %v", last, err)
			}
		}
	}
	return all
}

// checkSequence reports lost, duplicated and reordered lines of recs against 0..n-1 in order.
func checkSequence(t *testing.T, recs []stream.Record, n int) {
	t.Helper()
	got := values(recs)
	seen := map[string]int{}
	var dups, reordered int
	for i, v := range got {
		seen[v]++
		if seen[v] > 1 {
			dups++
		}
		if i < n && v != seqLine(i) && reordered == 0 {
			reordered++
			t.Errorf("line %d = %q, want %q", i, v, seqLine(i))
		}
	}
	lost := 0
	for i := range n {
		if seen[seqLine(i)] == 0 {
			lost++
		}
	}
	if lost != 0 || dups != 0 || len(got) != n {
		t.Errorf("%d lines read of %d written: lost %d, duplicates %d", len(got), n, lost, dups)
	}
}

// TestRotationUnderLoad: a writer appends 5,000 lines/s and rotates its file 5 times by rename + create
// (writing to the renamed file before and after the new one exists); the reader, following, or closed and
// reopened at its last position every few reads, gets every line once, in order.
func TestRotationUnderLoad(t *testing.T) {
	for _, reopenEvery := range []int{0, 3} {
		t.Run(fmt.Sprintf("reopen every %d reads", reopenEvery), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			logs := &testkit.LogBuffer{}
			src := newSource(t, file.Config{Paths: []string{path}, MaxBatch: 200,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w := &logWriter{t: t, path: path, perTick: 5, rotateEvery: 1500, rotations: 5, done: make(chan struct{})}
			writeFile(t, path, "")
			go w.run(ctx)
			const total = 6*1500 + 5*10
			var read atomic.Int64
			recs := consume(t, ctx, src, path, &w.written, total, reopenEvery, &read)
			<-w.done
			checkSequence(t, recs, total)

			// Each line's position names the file it was in: 6 files, offsets growing within each.
			var files []file.Position
			for i, rec := range recs {
				p, err := file.ParsePosition(rec.Position)
				if err != nil || p.Ino == 0 {
					t.Fatalf("record %d: position %s has no file identity (%v)", i, rec.Position, err)
				}
				if n := len(files); n == 0 || files[n-1].Ino != p.Ino {
					files = append(files, p)
				} else if p.Offset <= files[n-1].Offset {
					t.Fatalf("record %d: offset %d after %d in the same file", i, p.Offset, files[n-1].Offset)
				} else {
					files[n-1] = p
				}
			}
			if len(files) != 6 {
				t.Errorf("lines came from %d files, want 6: %v", len(files), files)
			}
			if n := len(logs.Lines("was rotated")); n < 5 {
				t.Errorf("%d rotations logged, want at least 5:\n%s", n, logs.String())
			}
			t.Logf("%d lines over 5 rotations; %d rotation notes", len(recs), len(logs.Lines("was rotated")))
		})
	}
}

// TestTruncationUnderLoad: a writer appends 5,000 lines/s and truncates its file 5 times (copytruncate,
// each once the reader has caught up); the reader reads every line once, in order, and warns each time.
func TestTruncationUnderLoad(t *testing.T) {
	for _, reopenEvery := range []int{0, 3} {
		t.Run(fmt.Sprintf("reopen every %d reads", reopenEvery), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			logs := &testkit.LogBuffer{}
			src := newSource(t, file.Config{Paths: []string{path}, MaxBatch: 200,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var read atomic.Int64
			w := &logWriter{t: t, path: path, perTick: 5, rotateEvery: 3000, rotations: 5, truncate: true, read: &read, done: make(chan struct{})}
			writeFile(t, path, "")
			go w.run(ctx)
			const total = 6 * 3000
			recs := consume(t, ctx, src, path, &w.written, total, reopenEvery, &read)
			<-w.done
			checkSequence(t, recs, total)
			if n := len(logs.Lines("truncated")); n != 5 {
				t.Errorf("%d truncation warnings, want 5:\n%s", n, logs.String())
			}
		})
	}
}

// TestReopenAroundRotation stands for a crash at every point around a rotation: a follower reads a file,
// the file is renamed, the writer appends a last line to it (without its newline in one case) and begins a
// new file at the path. A reader opened at each record's position (the one the engine saved before the
// crash, with the rotation done while the task was down) gets exactly the records after it: the rest of the
// rotated file, found by its inode, then the new file.
func TestReopenAroundRotation(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("last line without newline %v", partial), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			writeFile(t, path, "a0\na1\na2\n")
			src := newSource(t, file.Config{Paths: []string{path}})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			follower := openFile(t, src, path, nil)
			recs := readN(t, ctx, follower, 3)
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			late := "a3\n"
			if partial {
				late = "a3"
			}
			appendFile(t, path+".1", late) // the writer, late to reopen
			writeFile(t, path, "b0\nb1\n")
			recs = append(recs, readN(t, ctx, follower, 3)...)
			want := []string{"a0", "a1", "a2", "a3", "b0", "b1"}
			if got := values(recs); !slices.Equal(got, want) {
				t.Fatalf("follower read %q, want %q", got, want)
			}
			if got, want := string(recs[3].Position), string(offsetPos(path+".1", len("a0\na1\na2\n"+late))); got != want {
				t.Errorf("position of the rotated file's last line = %s, want %s", got, want)
			}

			// Every position reopens exactly after its record (StopAtEnd: finish the rotated file, then the
			// file at the path, then end).
			batch := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true})
			for i, rec := range recs {
				got := values(readToEnd(t, ctx, openFile(t, batch, path, rec.Position)))
				if !slices.Equal(got, want[i+1:]) {
					t.Errorf("reopened after %q at %s: read %q, want %q", want[i], rec.Position, got, want[i+1:])
				}
			}
			// The same in follow mode.
			for i, rec := range recs[:len(recs)-1] {
				got := values(readN(t, ctx, openFile(t, src, path, rec.Position), len(want)-i-1))
				if !slices.Equal(got, want[i+1:]) {
					t.Errorf("following from %s: read %q, want %q", rec.Position, got, want[i+1:])
				}
			}
		})
	}
}

// TestReopenAfterTheRotatedFileIsGone: when the file a position names was deleted (or compressed) while the
// task was down, the task warns and reads the file at the path from its start.
func TestReopenAfterTheRotatedFileIsGone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "a0\na1\na2\n")
	logs := &testkit.LogBuffer{}
	src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	recs := readN(t, ctx, openFile(t, src, path, nil), 3)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "b0\nb1\n")
	// Compressed by logrotate: the rotated file is replaced by another (a new inode).
	if err := os.Remove(path + ".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path+".1.gz", "not text")

	got := values(readToEnd(t, ctx, openFile(t, src, path, recs[0].Position)))
	if want := []string{"b0", "b1"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	warn := logs.Lines("level=WARN", "gone")
	p, err := file.ParsePosition(recs[0].Position)
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], path) || !strings.Contains(warn[0], fmt.Sprintf("offset=3 file=\"dev %d inode %d\"", p.Dev, p.Ino)) {
		t.Errorf("warnings %q, want one naming %s and the position %s", warn, path, recs[0].Position)
	}
}

// TestReopenAfterTruncation: a position in a file truncated while the task was down (same inode, fewer
// bytes) reads the file again from its start, with a warning; a position without identity beyond the end
// stays an error (TestLegacyPositionBeyondTheEndIsAnError), and one within the file means the file at the
// path.
func TestReopenAfterTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a0\na1\na2\n")
	logs := &testkit.LogBuffer{}
	src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	recs := readN(t, ctx, openFile(t, src, path, nil), 3)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b0\n")
	got := values(readToEnd(t, ctx, openFile(t, src, path, recs[2].Position)))
	if want := []string{"b0"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if warn := logs.Lines("level=WARN", "truncated"); len(warn) != 1 {
		t.Errorf("warnings %q, want one about the truncation", warn)
	}

	// A position written before positions named the file: offset 3 of the file at the path.
	got = values(readToEnd(t, ctx, openFile(t, src, path, legacyPos(0))))
	if want := []string{"b0"}; !slices.Equal(got, want) {
		t.Errorf("from {\"offset\":0}: read %q, want %q", got, want)
	}
}

// TestFollowTruncationWarns: a follower whose file shrinks reads it again from the start, with a warning
// that names the file.
func TestFollowTruncationWarns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a0\na1\n")
	logs := &testkit.LogBuffer{}
	src := newSource(t, file.Config{Paths: []string{path}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := openFile(t, src, path, nil)
	readN(t, ctx, r, 2)
	writeFile(t, path, "b\n") // O_TRUNC: the same inode, shorter
	recs := readN(t, ctx, r, 1)
	if got := values(recs); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after truncation read %q, want [b]", got)
	}
	if want := offsetPos(path, 2); string(recs[0].Position) != string(want) {
		t.Errorf("position %s, want %s", recs[0].Position, want)
	}
	warn := logs.Lines("level=WARN", "truncated")
	if len(warn) != 1 || !strings.Contains(warn[0], path) {
		t.Errorf("warnings %q, want one naming %s", warn, path)
	}
}

// TestFollowWaitsForTheWriterToBeginTheNewFile: after a rename, the follower keeps reading the old file
// while the path has no file or an empty one, and moves on once the new file has data.
func TestFollowWaitsForTheWriterToBeginTheNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a0\n")
	src := newSource(t, file.Config{Paths: []string{path}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := openFile(t, src, path, nil)
	readN(t, ctx, r, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", "a1\n")
	if got := values(readN(t, ctx, r, 1)); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("with no file at the path: read %q, want [a1]", got)
	}
	writeFile(t, path, "")
	appendFile(t, path+".1", "a2\n")
	if got := values(readN(t, ctx, r, 1)); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("with an empty file at the path: read %q, want [a2]", got)
	}
	appendFile(t, path+".1", "a3\n")
	appendFile(t, path, "b0\n")
	if got := values(readN(t, ctx, r, 2)); !slices.Equal(got, []string{"a3", "b0"}) {
		t.Fatalf("once the new file has data: read %q, want [a3 b0]", got)
	}
	// The old file is let go: what is written to it now is not read.
	appendFile(t, path+".1", "late\n")
	appendFile(t, path, "b1\n")
	if got := values(readN(t, ctx, r, 1)); !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("read %q, want [b1]", got)
	}
}

// TestReopenAfterTheDeviceNumberChanged: device numbers may change when a disk is mounted again, inode
// numbers do not; a position whose device differs from its directory's is matched by inode alone.
func TestReopenAfterTheDeviceNumberChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "a0\na1\n")
	logs := &testkit.LogBuffer{}
	src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	recs := readN(t, ctx, openFile(t, src, path, nil), 2)
	p, err := file.ParsePosition(recs[0].Position)
	if err != nil {
		t.Fatal(err)
	}
	p.Dev++
	got := values(readToEnd(t, ctx, openFile(t, src, path, p.Encode())))
	if want := []string{"a1"}; !slices.Equal(got, want) {
		t.Errorf("read %q after %s, want %q", got, p.Encode(), want)
	}
	if notes := logs.Lines("device number"); len(notes) != 1 {
		t.Errorf("notes %q, want one about the device number", notes)
	}
	if warn := logs.Lines("level=WARN"); len(warn) != 0 {
		t.Errorf("warnings %q, want none", warn)
	}
}

// TestLogsWithThePipelinesLogger: without Config.Logger the warnings go to the logger of the pipeline that
// opens the task (metrics.From of Open's context).
func TestLogsWithThePipelinesLogger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a0\na1\n")
	src, err := file.New(file.Config{Paths: []string{path}, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.LogBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ctx = metrics.WithEnv(ctx, metrics.Env{Logger: slog.New(slog.NewTextHandler(logs, nil)).With("source", "files")})
	r, err := src.Open(ctx, sources.Task{Key: "file:" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	readN(t, ctx, r, 2)
	writeFile(t, path, "b\n")
	readN(t, ctx, r, 1)
	if warn := logs.Lines("level=WARN", "truncated", "source=files", "path="+path); len(warn) != 1 {
		t.Errorf("pipeline log %q, want one truncation warning with source=files", logs.String())
	}
}

// TestReopenAfterTwoRotations is the sequence of a failed file-to-file run on a real cluster: the stored
// position is in A; while the task is down A is renamed (app.log.2), the writer fills B at the path, B is
// renamed too (app.log.3) and C begun. The reopened task finishes A (found by its inode), then reads C:
// B's lines are not read, as the package doc says (a file rotated twice while the task was down). Once the
// task has attached its file, a rotation while it runs is followed as usual.
func TestReopenAfterTwoRotations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "a0\na1\n")
	src := newSource(t, file.Config{Paths: []string{path}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	recs := readN(t, ctx, openFile(t, src, path, nil), 2)
	// Down (this reader is not read again): a last line in A, and two rotations.
	appendFile(t, path, "a2\n")
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "b0\nb1\n")
	if err := os.Rename(path, path+".3"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "c0\n")

	r := openFile(t, src, path, recs[1].Position)
	if got, want := values(readN(t, ctx, r, 2)), []string{"a2", "c0"}; !slices.Equal(got, want) {
		t.Fatalf("reopened after a1: read %q, want %q (b0, b1 of the middle file are not read)", got, want)
	}
	// Running again: a rotation is followed.
	appendFile(t, path, "c1\n")
	if err := os.Rename(path, path+".4"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".4", "c2\n")
	writeFile(t, path, "d0\n")
	if got, want := values(readN(t, ctx, r, 3)), []string{"c1", "c2", "d0"}; !slices.Equal(got, want) {
		t.Errorf("after a rotation while running: read %q, want %q", got, want)
	}
}
