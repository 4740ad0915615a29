// Package file is a source that reads lines from files and follows appends, rotation and truncation, like
// Kafka Connect's FileStreamSource and `tail -F`.
//
// Each file is one task, keyed "file:<absolute path>", so replicas share files between them. A task's
// position is the byte offset after the last complete line it read, and the device and inode numbers of the
// file that offset belongs to, as JSON: {"offset":1234,"dev":2049,"ino":131075} (see Position). A last line
// without its newline is not read until the newline arrives, so a writer caught mid-line is never split.
//
// Records: the key is the file's absolute path (a string), which keeps each file's lines in order on one
// partition; the value is the line without its trailing "\n" (a string, other bytes kept as they are), or,
// with Config.Format, the line parsed as JSON (file.JSONLines) or CSV (file.CSV). Keys therefore do not
// identify records: the source's Shape says so, and a sink that would take keys as document ids (the
// Elasticsearch sink's default) is refused by Validate until it is told how to make ids.
//
// # Rotation and truncation
//
// A task follows its path, not one file. When it has read its file to the end it looks at the path:
//   - Rotation (the file renamed or deleted, a new file created at the path, as logrotate's default or
//     `mv app.log app.log.1 && touch app.log`): the task keeps reading the old file through its open handle,
//     so whatever the writer appends to it after the rename is read, until the new file at the path has
//     data (the writer has moved on). It then reads the old file to its end once more, returns a last line
//     without its newline as it is, and goes on with the new file from its start. While the path holds no
//     file, or an empty one, the task stays with the old file.
//   - Truncation (the same file, now shorter than what was read, as logrotate's copytruncate): the task
//     logs a warning and reads the file again from its start.
//
// Positions stay exact across a crash at any point, because each names the file its offset belongs to. On
// Open, the task reads from the stored offset of the file at the path if it is the same file (from its
// start, with a warning, if it is now shorter: truncated while the task was down); else of the file with
// the stored identity in the path's directory (rotated while the task was down, under any name), which it
// finishes before the file at the path; else (that file is gone) it logs a warning and reads the file at
// the path from its start. A position without the identity ({"offset":N}, written before the source
// followed rotation, or by an operator resetting a task) means offset N of the file at the path; a file
// shorter than that is then an error, as it cannot tell a truncation from a replacement. When the path's
// directory is now on another device number than the position's (a disk mounted again after a reboot), files
// are matched by inode alone.
//
// What is guaranteed: every line appended to the file at the path is read, in order (once, apart from what
// the engine reads again after a crash), if it was written before the writer began a new file at the path
// (or the file was truncated) and the file it was written to is still reachable when the task gets to it:
// open in this process (a running task holds its file open, so a rotated file deleted or compressed
// meanwhile is still read to its end), or by inode in the path's directory after a restart. What is not:
//   - Lines of a rotated file that is deleted or compressed (logrotate's compress, without delaycompress)
//     while the task is down, before it finished the file: the task says so in a warning and goes on with
//     the file at the path. With delaycompress, the rotated file stays until the next rotation.
//   - A rotated file moved to another directory while the task was down (it is looked for in the path's
//     directory only), or a file rotated twice while the task was down (the file after the one of the stored
//     position but before the file at the path is not read). "Down" lasts until the task first reads: a
//     restarted pipeline may take seconds to start its tasks (joining its group on a real cluster).
//   - Lines appended to the old file after the writer began writing the new one (two writers, one of them
//     late to reopen).
//   - With copytruncate, the lines written after the task's last read and before the truncation: they are
//     only in the copy, which the task does not read. And a truncation after which the writer has written
//     more than was read before the task looks again (PollInterval, or a restart): the file is not seen to
//     shrink, and the task goes on at its old offset. These are tail's limitations too; prefer rename
//     rotation.
//   - An inode number reused: a new file given the number of a deleted one (at the path, or in its directory
//     while the task was down) is taken for it; at the path it is mostly shorter, so read as a truncation.
//   - Patterns that match rotated names (app.log*) make each rotated file a task of its own at the next start,
//     whose lines are then read again: name only the live files (app.log, *.log).
//
// Tasks are found once, at start-up: a file that begins to match a pattern later is not read until the
// pipeline restarts.
package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Config configures a file source.
type Config struct {
	// Paths are files or glob patterns (filepath.Match syntax). A plain path that does not exist yet is
	// waited for, with a warning naming it at once and every 30 s until it appears; a pattern must match at
	// least one file at start-up.
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
	// PollInterval is how often a task at the end of its file looks for appended data, a truncation or a
	// new file at its path (default 50ms).
	PollInterval time.Duration
	// Format says how each line becomes a record value: file.Lines (default) a string, file.JSONLines a
	// parsed JSON object, file.CSV a row of CSV (see Format). A line that does not parse stops the task
	// with an error naming the file and the line's byte offset: for files that may hold bad lines, keep
	// Lines and parse with stages.ParseJSON or stages.ParseCSV under a dead-letter topic instead.
	Format Format
	// CSV configures Format file.CSV: the columns (default: each file's first line names them, all text),
	// their types and the delimiter.
	CSV stages.CSVConfig
	// Logger receives the warnings about truncated and vanished files and the notes about rotations.
	// Default: the logger of the pipeline that opens the task (metrics.From of Open's context), or
	// slog.Default() outside a pipeline.
	Logger *slog.Logger
}

// Source reads lines from files. Create it with New.
type Source struct {
	cfg Config
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
	if err := checkFormat(cfg); err != nil {
		return nil, err
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

// Open starts reading the task's file at pos (the beginning when nil). The file need not exist yet: Read
// waits for it (StopAtEnd: fails). A position names the file it belongs to; see the package doc for how a
// file rotated or truncated while the task was down is found.
func (s *Source) Open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	path, ok := strings.CutPrefix(task.Key, "file:")
	if !ok {
		return nil, fmt.Errorf("file source: task key %q does not name a file", task.Key)
	}
	var start Position
	if len(pos) > 0 {
		var err error
		if start, err = ParsePosition(pos); err != nil {
			return nil, fmt.Errorf("file source: position %s of %s: %w", pos, path, err)
		}
	}
	log := s.cfg.Logger
	if log == nil {
		log = metrics.From(ctx).Logger
	}
	r := newReader(s.cfg, log, path, start)
	if s.cfg.Format != Lines {
		f, err := newFormatter(s.cfg)
		if err != nil {
			return nil, fmt.Errorf("file source: %w", err)
		}
		r.format = f
	}
	return r, nil
}
