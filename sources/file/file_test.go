package file_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stream"
)

// testTimeout bounds every test that waits on a Read, so that a reader that never returns fails the test
// instead of hanging it.
const testTimeout = 10 * time.Second

func newSource(t testing.TB, cfg file.Config) *file.Source {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	src, err := file.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return src
}

// openFile opens the task of path at pos and closes the reader when the test ends.
func openFile(t testing.TB, src *file.Source, path string, pos stream.Position) sources.Reader {
	t.Helper()
	r, err := src.Open(context.Background(), sources.Task{Key: "file:" + path}, pos)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", path, pos, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// readN calls Read as the engine does until it has n records.
func readN(t testing.TB, ctx context.Context, r sources.Reader, n int) []stream.Record {
	t.Helper()
	var all []stream.Record
	for len(all) < n {
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d of %d records: %v", len(all), n, err)
		}
		if len(recs) == 0 {
			t.Fatalf("Read returned no records and no error after %d of %d records", len(all), n)
		}
		all = append(all, recs...)
	}
	if len(all) != n {
		t.Fatalf("read %d records, want %d: %q", len(all), n, values(all))
	}
	return all
}

// readToEnd calls Read until ErrEndOfInput (the reader must be StopAtEnd).
func readToEnd(t testing.TB, ctx context.Context, r sources.Reader) []stream.Record {
	t.Helper()
	var all []stream.Record
	for {
		recs, err := r.Read(ctx)
		all = append(all, recs...)
		if errors.Is(err, sources.ErrEndOfInput) {
			return all
		}
		if err != nil {
			t.Fatalf("Read after %d records: %v", len(all), err)
		}
	}
}

func values(recs []stream.Record) []string {
	vs := make([]string, len(recs))
	for i, r := range recs {
		vs[i], _ = r.Value.(string)
	}
	return vs
}

// legacyPos is a position without the file's identity, as the source wrote them before it followed
// rotation.
func legacyPos(n int) stream.Position {
	return stream.Position(fmt.Sprintf(`{"offset":%d}`, n))
}

// offsetPos is the position after n bytes of the file now at path.
func offsetPos(path string, n int) stream.Position {
	return file.PositionAt(path, int64(n))
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, data string) {
	t.Helper()
	if err := appendBytes(path, data); err != nil {
		t.Fatal(err)
	}
}

// appendBytes appends data to path, creating it if needed, in one write. Unlike appendFile it can be
// called from a goroutine other than the test's.
func appendBytes(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func TestNewRejectsBadPaths(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  string // in the error
		is    error  // wrapped by the error, if not nil
	}{
		{"nil", nil, "Paths", nil},
		{"empty list", []string{}, "Paths", nil},
		{"empty entry", []string{""}, "Paths[0]", nil},
		{"blank entry after a good one", []string{"/var/log/app.log", "  "}, "Paths[1]", nil},
		{"unclosed bracket", []string{"/var/log/[.log"}, `Paths[0] "/var/log/[.log"`, filepath.ErrBadPattern},
		{"trailing backslash", []string{"/tmp/ok.log", `/var/log/app\`}, "Paths[1]", filepath.ErrBadPattern},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := file.New(file.Config{Paths: tt.paths})
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", tt.paths, src)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%q) error %q does not mention %q", tt.paths, err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("New(%q) error %q does not wrap %v", tt.paths, err, tt.is)
			}
		})
	}
}

func TestTasks(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.log", "a.log", "c.txt"} {
		writeFile(t, filepath.Join(dir, name), "x\n")
	}
	key := func(name string) string { return "file:" + filepath.Join(dir, name) }

	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"one file", []string{filepath.Join(dir, "a.log")}, []string{key("a.log")}},
		{"sorted", []string{filepath.Join(dir, "c.txt"), filepath.Join(dir, "a.log")},
			[]string{key("a.log"), key("c.txt")}},
		{"pattern", []string{filepath.Join(dir, "*.log")}, []string{key("a.log"), key("b.log")}},
		{"file named twice", []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "a.log")},
			[]string{key("a.log")}},
		{"file named twice, spelled differently", []string{filepath.Join(dir, "a.log"), dir + "/./a.log"},
			[]string{key("a.log")}},
		{"file named and matched", []string{filepath.Join(dir, "b.log"), filepath.Join(dir, "*.log")},
			[]string{key("a.log"), key("b.log")}},
		{"matched by two patterns", []string{filepath.Join(dir, "*.log"), filepath.Join(dir, "[ab]*")},
			[]string{key("a.log"), key("b.log")}},
		{"plain path that does not exist yet", []string{filepath.Join(dir, "later.log"), filepath.Join(dir, "c.txt")},
			[]string{key("c.txt"), key("later.log")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tasks, err := newSource(t, file.Config{Paths: tt.paths}).Tasks(context.Background())
			if err != nil {
				t.Fatalf("Tasks: %v", err)
			}
			var got []string
			for _, task := range tasks {
				got = append(got, task.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Tasks(%q) = %q, want %q", tt.paths, got, tt.want)
			}
		})
	}
}

func TestTasksRelativePathIsAbsolute(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.log"), "x\n")
	t.Chdir(dir)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := newSource(t, file.Config{Paths: []string{"a.log", "*.log"}}).Tasks(context.Background())
	if err != nil {
		t.Fatalf("Tasks: %v", err)
	}
	want := []sources.Task{{Key: "file:" + filepath.Join(wd, "a.log")}}
	if !slices.Equal(tasks, want) {
		t.Errorf("Tasks = %v, want %v", tasks, want)
	}
}

func TestTasksPatternMatchingNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.log"), "x\n")
	pattern := filepath.Join(dir, "*.csv")
	tasks, err := newSource(t, file.Config{Paths: []string{filepath.Join(dir, "a.log"), pattern}}).Tasks(context.Background())
	if err == nil {
		t.Fatalf("Tasks = %v, want an error for a pattern that matches nothing", tasks)
	}
	if !strings.Contains(err.Error(), pattern) {
		t.Errorf("Tasks error %q does not name the pattern %q", err, pattern)
	}
}

func TestOpenRejectsForeignTaskKeyAndBadPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	src := newSource(t, file.Config{Paths: []string{path}})
	tests := []struct {
		name string
		task sources.Task
		pos  stream.Position
	}{
		{"key of another connector", sources.Task{Key: "mysql:db1"}, nil},
		{"position that is not JSON", sources.Task{Key: "file:" + path}, stream.Position(`offset=3`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := src.Open(context.Background(), tt.task, tt.pos)
			if err == nil {
				r.Close()
				t.Fatalf("Open(%v, %s) succeeded, want an error", tt.task, tt.pos)
			}
		})
	}
}

func TestReadLinesAndResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	lines := []string{"first", "second line", "", "fourth"}
	writeFile(t, path, strings.Join(lines, "\n")+"\n")
	src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	recs := readToEnd(t, ctx, openFile(t, src, path, nil))
	if got := values(recs); !slices.Equal(got, lines) {
		t.Fatalf("values = %q, want %q", got, lines)
	}
	offset := 0
	for i, rec := range recs {
		offset += len(lines[i]) + 1
		if rec.Key != path {
			t.Errorf("record %d: Key = %v, want %q", i, rec.Key, path)
		}
		if want := offsetPos(path, offset); !bytes.Equal(rec.Position, want) {
			t.Errorf("record %d: Position = %s, want %s", i, rec.Position, want)
		}
		if rec.KeySchema == nil || rec.KeySchema.Type != stream.TypeString ||
			rec.ValueSchema == nil || rec.ValueSchema.Type != stream.TypeString {
			t.Errorf("record %d: schemas %v/%v, want string/string", i, rec.KeySchema, rec.ValueSchema)
		}
	}

	// Reopening at each record's Position continues with the record after it.
	for i, rec := range recs {
		t.Run(fmt.Sprintf("resume after record %d", i), func(t *testing.T) {
			rest := readToEnd(t, ctx, openFile(t, src, path, rec.Position))
			if got, want := values(rest), lines[i+1:]; !slices.Equal(got, want) {
				t.Errorf("values = %q, want %q", got, want)
			}
		})
	}
}

func TestReadWaitsForTheRestOfAPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "done\nhalf a li")
	src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := openFile(t, src, path, nil)

	recs, err := r.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := values(recs); !slices.Equal(got, []string{"done"}) {
		t.Fatalf("values = %q, want only the complete line", got)
	}
	if recs, err := r.Read(ctx); !errors.Is(err, sources.ErrEndOfInput) {
		t.Fatalf("Read with only a partial line left = %q, %v; want no records and ErrEndOfInput", values(recs), err)
	}

	// A reader reopened at the last position does not see the partial line either.
	r2 := openFile(t, src, path, recs[len(recs)-1].Position)
	if recs, err := r2.Read(ctx); !errors.Is(err, sources.ErrEndOfInput) {
		t.Fatalf("reopened Read = %q, %v; want no records and ErrEndOfInput", values(recs), err)
	}

	appendFile(t, path, "ne\nnext\n")
	for _, r := range []sources.Reader{r, r2} {
		recs := readToEnd(t, ctx, r)
		if got, want := values(recs), []string{"half a line", "next"}; !slices.Equal(got, want) {
			t.Errorf("values after the append = %q, want %q", got, want)
		}
		if got, want := recs[0].Position, offsetPos(path, len("done\nhalf a line\n")); !bytes.Equal(got, want) {
			t.Errorf("Position of the completed line = %s, want %s", got, want)
		}
	}
}

func TestFollowReturnsAppendedLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "old\n")
		src := newSource(t, file.Config{Paths: []string{path}, PollInterval: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		r := openFile(t, src, path, nil)
		readN(t, ctx, r, 1)

		go func() {
			time.Sleep(200 * time.Millisecond)
			if err := appendBytes(path, "new 1\nnew 2\n"); err != nil {
				t.Error(err)
			}
		}()
		recs := readN(t, ctx, r, 2)
		if got, want := values(recs), []string{"new 1", "new 2"}; !slices.Equal(got, want) {
			t.Errorf("values = %q, want %q", got, want)
		}
		if got, want := recs[1].Position, offsetPos(path, len("old\nnew 1\nnew 2\n")); !bytes.Equal(got, want) {
			t.Errorf("Position = %s, want %s", got, want)
		}
	})
}

func TestFollowReturnsCtxErrWhenCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "only\n")
		src := newSource(t, file.Config{Paths: []string{path}})
		ctx, cancel := context.WithCancel(context.Background())
		r := openFile(t, src, path, nil)
		readN(t, ctx, r, 1)

		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		recs, err := r.Read(ctx)
		if !errors.Is(err, context.Canceled) || len(recs) != 0 {
			t.Errorf("Read = %q, %v; want no records and context.Canceled", values(recs), err)
		}
	})
}

func TestFollowReturnsCtxErrAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "")
		src := newSource(t, file.Config{Paths: []string{path}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		recs, err := openFile(t, src, path, nil).Read(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || len(recs) != 0 {
			t.Errorf("Read = %q, %v; want no records and context.DeadlineExceeded", values(recs), err)
		}
	})
}

func TestStopAtEnd(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"empty file", "", nil},
		{"lines", "a\nb\n", []string{"a", "b"}},
		{"partial last line is left unread", "a\nb", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, tt.data)
			src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			r := openFile(t, src, path, nil)
			var got []string
			for {
				recs, err := r.Read(ctx)
				got = append(got, values(recs)...)
				if errors.Is(err, sources.ErrEndOfInput) {
					break
				}
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("values = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFileCreatedAfterOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "later.log")
		src := newSource(t, file.Config{Paths: []string{path}})
		tasks, err := src.Tasks(context.Background())
		if err != nil {
			t.Fatalf("Tasks: %v", err)
		}
		if want := []sources.Task{{Key: "file:" + path}}; !slices.Equal(tasks, want) {
			t.Fatalf("Tasks = %v, want %v", tasks, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		r, err := src.Open(ctx, tasks[0], nil)
		if err != nil {
			t.Fatalf("Open of a file that does not exist yet: %v", err)
		}
		defer r.Close()

		go func() {
			time.Sleep(300 * time.Millisecond)
			if err := appendBytes(path, "hello\n"); err != nil {
				t.Error(err)
			}
		}()
		recs := readN(t, ctx, r, 1)
		if got := values(recs); !slices.Equal(got, []string{"hello"}) {
			t.Errorf("values = %q, want [hello]", got)
		}
	})
}

func TestLegacyPositionBeyondTheEndIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "short\n")
	src := newSource(t, file.Config{Paths: []string{path}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	recs, err := openFile(t, src, path, legacyPos(100)).Read(ctx)
	if err == nil {
		t.Fatalf("Read past the end of a truncated file = %q, want an error", values(recs))
	}
	for _, want := range []string{path, "stored position 100"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestMaxBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "1\n2\n3\n4\n5\n")
	src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true, MaxBatch: 2})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := openFile(t, src, path, nil)
	for _, want := range [][]string{{"1", "2"}, {"3", "4"}, {"5"}} {
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if got := values(recs); !slices.Equal(got, want) {
			t.Fatalf("Read = %q, want %q", got, want)
		}
	}
	if _, err := r.Read(ctx); !errors.Is(err, sources.ErrEndOfInput) {
		t.Fatalf("last Read: %v, want ErrEndOfInput", err)
	}
}

func TestMaxLineBytes(t *testing.T) {
	const maxLine = 8
	long := strings.Repeat("x", maxLine+1)
	tests := []struct {
		name     string
		data     string
		maxBatch int
		want     []string // records before the error
		wantErr  bool
	}{
		{"line of exactly MaxLineBytes", strings.Repeat("x", maxLine) + "\n", 0, []string{strings.Repeat("x", maxLine)}, false},
		{"complete long line", long + "\n", 0, nil, true},
		{"long line without its newline yet", long, 0, nil, true},
		{"short lines before a long one are read first", "a\nb\n" + long + "\nc\n", 0, []string{"a", "b"}, true},
		{"short line before a long unfinished one is read first", "a\n" + long, 0, []string{"a"}, true},
		// Lines buffered beyond MaxBatch add up to more than MaxLineBytes, but none of them is long.
		{"many short lines, small batches", strings.Repeat("abc\n", 10), 1, slices.Repeat([]string{"abc"}, 10), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, tt.data)
			src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true, MaxLineBytes: maxLine, MaxBatch: tt.maxBatch})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			r := openFile(t, src, path, nil)
			var got []string
			var err error
			for {
				var recs []stream.Record
				recs, err = r.Read(ctx)
				got = append(got, values(recs)...)
				if err != nil {
					break
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("values = %q, want %q", got, tt.want)
			}
			if !tt.wantErr {
				if !errors.Is(err, sources.ErrEndOfInput) {
					t.Errorf("Read: %v, want ErrEndOfInput", err)
				}
				return
			}
			if err == nil || errors.Is(err, sources.ErrEndOfInput) {
				t.Fatalf("Read: %v, want an error about the long line", err)
			}
			if !strings.Contains(err.Error(), "MaxLineBytes") {
				t.Errorf("error %q does not name MaxLineBytes", err)
			}
		})
	}
}

func TestLinesRoundTripByteExactly(t *testing.T) {
	lines := []string{"", "", "\r", "carriage return\r", "mid\rline", "\xff\xfe not UTF-8 \xc3", "tab\tand \x00 NUL", "日本語", ""}
	path := filepath.Join(t.TempDir(), "app.log")
	data := strings.Join(lines, "\n") + "\n"
	writeFile(t, path, data)
	src := newSource(t, file.Config{Paths: []string{path}, StopAtEnd: true})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	recs := readToEnd(t, ctx, openFile(t, src, path, nil))
	if got := values(recs); !slices.Equal(got, lines) {
		t.Errorf("values = %q, want %q", got, lines)
	}
	if got, want := recs[len(recs)-1].Position, offsetPos(path, len(data)); !bytes.Equal(got, want) {
		t.Errorf("last Position = %s, want %s", got, want)
	}
}

// FuzzReadLines writes data in two writes, split at an arbitrary point, to a followed file, and checks that
// the lines read are exactly the input up to its last newline.
func FuzzReadLines(f *testing.F) {
	f.Add([]byte("a\nb\n"), uint16(1), uint8(0))
	f.Add([]byte("half a li"+"ne\n"), uint16(9), uint8(1))
	f.Add([]byte("\n\n\r\n\xff\n"), uint16(3), uint8(2))
	f.Add([]byte("no newline at all"), uint16(4), uint8(0))
	f.Add([]byte("x\ny\nz"), uint16(0), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, split uint16, maxBatch uint8) {
		k := int(split) % (len(data) + 1)
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, string(data[:k]))
		src := newSource(t, file.Config{Paths: []string{path}, MaxBatch: int(maxBatch%8) + 1})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		r := openFile(t, src, path, nil)

		recs := readN(t, ctx, r, bytes.Count(data[:k], []byte("\n")))
		appendFile(t, path, string(data[k:]))
		recs = append(recs, readN(t, ctx, r, bytes.Count(data[k:], []byte("\n")))...)

		want := data[:bytes.LastIndexByte(data, '\n')+1]
		var got []byte
		for i, rec := range recs {
			got = append(got, rec.Value.(string)...)
			got = append(got, '\n')
			if pos := offsetPos(path, len(got)); !bytes.Equal(rec.Position, pos) {
				t.Fatalf("record %d: Position = %s, want %s", i, rec.Position, pos)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("lines read = %q, want %q", got, want)
		}
		if len(recs) > 0 {
			if last := recs[len(recs)-1].Position; !bytes.Equal(last, offsetPos(path, len(want))) {
				t.Fatalf("last Position = %s, want %s", last, offsetPos(path, len(want)))
			}
		}
	})
}

func ExampleNew() {
	dir, err := os.MkdirTemp("", "sluice-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, []byte("hello\nworld\nhalf a li"), 0o644); err != nil {
		fmt.Println(err)
		return
	}

	src, err := file.New(file.Config{Paths: []string{filepath.Join(dir, "*.log")}, StopAtEnd: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	tasks, err := src.Tasks(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := src.Open(ctx, tasks[0], nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	var last stream.Position
	for {
		recs, err := r.Read(ctx)
		for _, rec := range recs {
			fmt.Println(rec.Value)
			last = rec.Position
		}
		if errors.Is(err, sources.ErrEndOfInput) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	final, err := file.ParsePosition(last)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(tasks), "task, final offset", final.Offset)
	// Output:
	// hello
	// world
	// 1 task, final offset 12
}
