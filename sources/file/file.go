// Package file is a source that reads lines from files and follows appends, like Kafka Connect's
// FileStreamSource and `tail -F`.
//
// Each file is one task, keyed "file:<absolute path>", so replicas share files between them. A task's
// position is the byte offset after the last complete line it read, as JSON: {"offset":1234}. A last line
// without its newline is not read until the newline arrives, so a writer caught mid-line is never split.
//
// Records: the key is the file's absolute path (a string), which keeps each file's lines in order on one
// partition; the value is the line without its trailing "\n" (a string, other bytes kept as they are).
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Config configures a file source.
type Config struct {
	// Paths are files or glob patterns (filepath.Match syntax). A plain path that does not exist yet is
	// waited for; a pattern must match at least one file at start-up.
	Paths []string
	// StopAtEnd makes each task end at the end of its file instead of following appends (a batch job); a
	// file that does not exist is then an error rather than waited for.
	StopAtEnd bool
	// MaxBatch caps the lines returned by one Read (default 1000).
	MaxBatch int
	// MaxLineBytes is the longest line accepted (default 1 MiB); a longer one stops the task with an error.
	// A line Kafka refuses (its topic takes 1,000,000 bytes unless configured otherwise) goes to the
	// source's dead-letter topic or stops the task; the pipeline warns at start-up when the two disagree.
	MaxLineBytes int
	// PollInterval is how often a task at the end of its file looks for appended data (default 50ms).
	PollInterval time.Duration
}

// Source reads lines from files. Create it with New.
type Source struct {
	cfg Config
}

// Position is a file task's position.
type Position struct {
	Offset int64 `json:"offset"`
}

// New validates cfg and returns the source. An empty Paths list is an error.
func New(cfg Config) (*Source, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("file source: Paths is empty: name at least one file or glob pattern")
	}
	for i, p := range cfg.Paths {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("file source: Paths[%d] is empty", i)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("file source: Paths[%d] %q: %w", i, p, err)
		}
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = 1 << 20
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	return &Source{cfg: cfg}, nil
}

// MaxRecordBytes is MaxLineBytes: no line longer than that is read (sources.RecordSizeLimiter). The
// default, 1 MiB, is more than a Kafka topic takes by default (1,000,000 bytes in Sluice); a longer line goes
// to the source's dead-letter topic, or stops the task without one.
func (s *Source) MaxRecordBytes() int { return s.cfg.MaxLineBytes }

// Tasks returns one task per file, patterns expanded.
func (s *Source) Tasks(context.Context) ([]sources.Task, error) {
	seen := map[string]bool{}
	var tasks []sources.Task
	for _, p := range s.cfg.Paths {
		files := []string{p}
		if strings.ContainsAny(p, `*?[\`) {
			matches, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("file source: pattern %q: %w", p, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("file source: pattern %q matches no file", p)
			}
			files = matches
		}
		for _, f := range files {
			abs, err := filepath.Abs(f)
			if err != nil {
				return nil, fmt.Errorf("file source: %q: %w", f, err)
			}
			if !seen[abs] {
				seen[abs] = true
				tasks = append(tasks, sources.Task{Key: "file:" + abs})
			}
		}
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Key < tasks[j].Key })
	return tasks, nil
}

// Open starts reading the task's file at pos (the beginning when nil).
func (s *Source) Open(_ context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	path, ok := strings.CutPrefix(task.Key, "file:")
	if !ok {
		return nil, fmt.Errorf("file source: task key %q does not name a file", task.Key)
	}
	var start Position
	if len(pos) > 0 {
		if err := json.Unmarshal(pos, &start); err != nil {
			return nil, fmt.Errorf("file source: position %s of %s: %w", pos, path, err)
		}
	}
	return &reader{cfg: s.cfg, path: path, offset: start.Offset}, nil
}

type reader struct {
	cfg    Config
	path   string
	f      *os.File
	offset int64  // file offset after the last complete line returned
	buf    []byte // bytes read after offset, not yet returned (an incomplete line)
	chunk  []byte
}

// Read returns the complete lines after the current offset, waiting for appends when there are none.
func (r *reader) Read(ctx context.Context) ([]stream.Record, error) {
	for {
		if r.f == nil {
			f, err := os.Open(r.path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("file source: %w", err)
			}
			if f != nil {
				if err := r.attach(f); err != nil {
					return nil, err
				}
			} else if r.cfg.StopAtEnd {
				return nil, fmt.Errorf("file source: %s does not exist", r.path)
			}
		}
		if r.f != nil {
			recs, err := r.readLines()
			if err != nil || len(recs) > 0 {
				return recs, err
			}
			if r.cfg.StopAtEnd {
				return nil, sources.ErrEndOfInput
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

func (r *reader) attach(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file source: %w", err)
	}
	if info.Size() < r.offset {
		f.Close()
		return fmt.Errorf("file source: %s has %d bytes, fewer than its stored position %d: it was truncated or replaced; reset the task's position to reread it",
			r.path, info.Size(), r.offset)
	}
	if _, err := f.Seek(r.offset, 0); err != nil {
		f.Close()
		return fmt.Errorf("file source: seek %s to %d: %w", r.path, r.offset, err)
	}
	r.f = f
	return nil
}

func (r *reader) readLines() ([]stream.Record, error) {
	if r.chunk == nil {
		r.chunk = make([]byte, 64<<10)
	}
	chunk := r.chunk
	var recs []stream.Record
	var tooLong bool // the next line in r.buf is longer than MaxLineBytes
	now := time.Now()
read:
	for len(recs) < r.cfg.MaxBatch {
		n, err := r.f.Read(chunk)
		r.buf = append(r.buf, chunk[:n]...)
		for len(recs) < r.cfg.MaxBatch {
			i := bytes.IndexByte(r.buf, '\n')
			if i < 0 {
				break
			}
			if i > r.cfg.MaxLineBytes {
				tooLong = true
				break read
			}
			line := string(r.buf[:i])
			r.buf = r.buf[i+1:]
			r.offset += int64(i + 1)
			pos, _ := json.Marshal(Position{Offset: r.offset})
			recs = append(recs, stream.Record{
				KeySchema:   stream.StringSchema(),
				Key:         r.path,
				ValueSchema: stream.StringSchema(),
				Value:       line,
				Timestamp:   now,
				Position:    pos,
			})
		}
		// Below MaxBatch, r.buf holds only an incomplete line (beyond it, complete lines checked later).
		if len(recs) < r.cfg.MaxBatch && len(r.buf) > r.cfg.MaxLineBytes {
			tooLong = true
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file source: read %s at offset %d: %w", r.path, r.offset+int64(len(r.buf)), err)
		}
		if n == 0 || err != nil {
			break
		}
	}
	// What is left is at most an incomplete line (or lines beyond MaxBatch): move it to the front so that a
	// long-running tail does not keep growing the buffer.
	r.buf = append(r.buf[:0:0], r.buf...)
	if tooLong && len(recs) == 0 {
		return nil, fmt.Errorf("file source: %s: line at offset %d is longer than MaxLineBytes (%d)", r.path, r.offset, r.cfg.MaxLineBytes)
	}
	// The lines before a long one are returned first; the next Read reports the long line.
	return recs, nil
}

// Close closes the file.
func (r *reader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
