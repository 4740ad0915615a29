package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// reader reads one task's file, following appends, rotation and truncation (see the package doc).
type reader struct {
	cfg  Config
	log  *slog.Logger
	path string   // the task's path
	dir  string   // its directory, where a rotated file is looked for by identity
	next Position // where to start, until a file is attached

	f      *os.File // the file being read: the one at path, or a rotated one being finished
	name   string   // the name f was found under
	id     identity // f's device and inode
	offset int64    // offset in f after the last complete line returned
	buf    []byte   // bytes read after offset, not yet returned (an incomplete line)
	chunk  []byte

	// format parses lines under Config.Format (nil for Lines); formatErr is a parse failure to return from
	// the next Read, after the lines before it were returned.
	format    *formatter
	formatErr error

	// missingSince is when the task first found no file at its path (zero once one was attached), and
	// missingWarned when it last said so (warnMissing).
	missingSince, missingWarned time.Time

	// progress is what Lag reads, from another goroutine: the file being read and the offset after the last
	// line returned, as of the last return of Read (publish).
	progress struct {
		sync.Mutex
		f      *os.File
		offset int64
	}
}

func newReader(cfg Config, log *slog.Logger, path string, start Position) *reader {
	r := &reader{
		cfg:  cfg,
		log:  log.With("path", path),
		path: path,
		dir:  filepath.Dir(path),
		next: start,
	}
	r.progress.offset = start.Offset
	return r
}

// Read returns the complete lines after the current offset, waiting for appends when there are none.
func (r *reader) Read(ctx context.Context) ([]stream.Record, error) {
	if r.formatErr != nil {
		return nil, r.formatErr
	}
	for {
		recs, err := r.read(ctx)
		r.publish()
		if r.format == nil || len(recs) == 0 {
			return recs, err
		}
		recs, r.formatErr = r.format.apply(recs, r.name)
		switch {
		case len(recs) > 0 || err != nil:
			return recs, err
		case r.formatErr != nil:
			return nil, r.formatErr
		}
		// Every line read was a header or an empty JSON line: wait for more, as Read does.
	}
}

// publish makes the file being read and the offset after the last line returned what Lag sees.
func (r *reader) publish() {
	r.progress.Lock()
	r.progress.f, r.progress.offset = r.f, r.offset
	r.progress.Unlock()
}

// Lag is how many bytes of the task's files are not read yet (sources.Lagger), as of the last return of
// Read: the size of the file being read minus the offset after the last line returned, plus, while a
// rotated file is being finished, the size of the new file at the path. Before a file was found at the path
// it is that file's size past the starting offset (0 while there is none). It stats the files; it is 0 once
// the task has read every complete line, and counts an incomplete last line (not read until its newline
// arrives) as behind.
func (r *reader) Lag() (value float64, unit string, ok bool) {
	r.progress.Lock()
	defer r.progress.Unlock()
	var behind int64
	if f := r.progress.f; f != nil {
		info, err := f.Stat()
		if err != nil {
			return 0, "bytes", false
		}
		behind = info.Size() - r.progress.offset
		if now, err := os.Stat(r.path); err == nil && !os.SameFile(info, now) {
			behind += now.Size() // rotated: the new file is all ahead
		}
	} else if info, err := os.Stat(r.path); err == nil {
		behind = info.Size() - r.progress.offset
	}
	return float64(max(behind, 0)), "bytes", true
}

func (r *reader) read(ctx context.Context) ([]stream.Record, error) {
	for {
		if r.f == nil {
			if err := r.attachStart(); err != nil {
				return nil, err
			}
		}
		if r.f != nil {
			recs, err := r.readLines()
			if err != nil || len(recs) > 0 {
				return recs, err
			}
			recs, moved, err := r.follow()
			if err != nil || len(recs) > 0 {
				return recs, err
			}
			if moved {
				continue
			}
			if r.cfg.StopAtEnd {
				return nil, sources.ErrEndOfInput
			}
		} else if r.cfg.StopAtEnd {
			return nil, fmt.Errorf("file source: %s does not exist", r.path)
		} else {
			r.warnMissing(time.Now())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

// missingWarnEvery is how often a task whose file does not exist says that it waits for it.
const missingWarnEvery = 30 * time.Second

// warnMissing logs, at the first look and then every missingWarnEvery, that the task's file does not exist
// and the task waits for it.
func (r *reader) warnMissing(now time.Time) {
	if r.missingSince.IsZero() {
		r.missingSince = now
	} else if now.Sub(r.missingWarned) < missingWarnEvery {
		return
	}
	r.missingWarned = now
	r.log.Warn("file source: the file does not exist: waiting for it (nothing is read until it appears)",
		"waited", now.Sub(r.missingSince).Round(time.Second).String())
}

// attachStart opens the file that r.next names: the file at the path when the position has no identity or
// the identity matches, else the rotated file with that identity in the path's directory, else (it is gone)
// the file at the path from its start. It leaves r.f nil while there is no file at the path yet.
func (r *reader) attachStart() error {
	f, err := os.Open(r.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("file source: %w", err)
	}
	var info os.FileInfo
	if f != nil {
		if info, err = f.Stat(); err != nil {
			f.Close()
			return fmt.Errorf("file source: %w", err)
		}
	}
	want := identity{dev: r.next.Dev, ino: r.next.Ino}
	if !want.known() {
		if f == nil {
			return nil
		}
		if info.Size() < r.next.Offset {
			f.Close()
			return fmt.Errorf("file source: %s has %d bytes, fewer than its stored position %d: it was truncated or replaced; reset the task's position to reread it",
				r.path, info.Size(), r.next.Offset)
		}
		return r.attach(f, r.path, info, r.next.Offset)
	}
	if dir, err := os.Stat(r.dir); err == nil {
		if d := identityOf(dir); d.known() && d.dev != want.dev {
			// Device numbers may change when a disk is mounted again (a reboot, another enumeration order);
			// inode numbers do not. The files of the directory are on the directory's device.
			r.log.Info("file source: the directory's device number differs from the stored position's (mounted again?): matching the file by its inode alone",
				"dir", r.dir, "stored_dev", want.dev, "dev", d.dev)
			want.dev = d.dev
		}
	}
	if f != nil && identityOf(info) == want {
		return r.attach(f, r.path, info, r.next.Offset)
	}
	if name, rf, rinfo := r.findRotated(want); rf != nil {
		if f != nil {
			f.Close()
		}
		r.log.Info("file source: the file of the stored position was rotated while the task was down: finishing it before the file now at the path",
			"rotated", name, "offset", r.next.Offset)
		return r.attach(rf, name, rinfo, r.next.Offset)
	}
	r.log.Warn("file source: the file of the stored position is gone (deleted, or compressed by log rotation, while the task was down): the lines after the stored offset in it, if any, are lost; reading the file at the path from its start",
		"offset", r.next.Offset, "file", want.String())
	r.next = Position{}
	if f == nil {
		return nil
	}
	return r.attach(f, r.path, info, 0)
}

// findRotated looks in the path's directory for the file with identity id and opens it.
func (r *reader) findRotated(id identity) (string, *os.File, os.FileInfo) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return "", nil, nil
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || identityOf(info) != id {
			continue
		}
		name := filepath.Join(r.dir, e.Name())
		f, err := os.Open(name)
		if err != nil {
			return "", nil, nil
		}
		if info, err = f.Stat(); err != nil || identityOf(info) != id { // renamed again meanwhile
			f.Close()
			return "", nil, nil
		}
		return name, f, info
	}
	return "", nil, nil
}

// attach makes f, found under name and described by info, the file being read, at offset. A file with the
// position's identity but fewer bytes than offset was truncated: it is read from its start, with a warning.
func (r *reader) attach(f *os.File, name string, info os.FileInfo, offset int64) error {
	if info.Size() < offset {
		r.log.Warn("file source: the file was truncated while the task was down: reading it again from its start",
			"file", name, "size", info.Size(), "offset", offset)
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("file source: seek %s to %d: %w", name, offset, err)
	}
	r.f, r.name, r.id, r.offset, r.buf = f, name, identityOf(info), offset, nil
	if !r.missingSince.IsZero() {
		r.log.Info("file source: the file exists now: reading it", "waited", time.Since(r.missingSince).Round(time.Second).String())
		r.missingSince, r.missingWarned = time.Time{}, time.Time{}
	}
	if r.format != nil {
		return r.format.attached(f, r.cfg.MaxLineBytes)
	}
	return nil
}

// follow is called when the file being read has nothing more for now. It restarts a truncated file at 0,
// and moves to a new file at the path once the writer has begun it, after finishing the old one. moved
// reports that there may be more to read at once.
func (r *reader) follow() (recs []stream.Record, moved bool, err error) {
	cur, err := r.f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("file source: %s: %w", r.name, err)
	}
	now, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		// Renamed or deleted, no successor yet: the writer may still append to the file held open.
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("file source: %w", err)
	}
	if os.SameFile(cur, now) {
		if read := r.offset + int64(len(r.buf)); cur.Size() < read {
			r.log.Warn("file source: the file was truncated (copytruncate?): reading it again from its start",
				"size", cur.Size(), "offset", read)
			if _, err := r.f.Seek(0, io.SeekStart); err != nil {
				return nil, false, fmt.Errorf("file source: seek %s to 0: %w", r.name, err)
			}
			r.offset, r.buf = 0, nil
			return nil, true, nil
		}
		return nil, false, nil
	}
	// Another file is at the path: the one being read was rotated (renamed or deleted). Until the writer has
	// begun the new file, it may still append to the old one.
	if now.Size() == 0 && !r.cfg.StopAtEnd {
		return nil, false, nil
	}
	// The writer has moved on: what it wrote to the old file before is there now. Finish it.
	if recs, err := r.readLines(); err != nil || len(recs) > 0 {
		return recs, false, err
	}
	if len(r.buf) > 0 {
		// The old file ends without a newline and will not get one: its last line is returned as it is.
		line := string(r.buf)
		r.offset += int64(len(r.buf))
		r.buf = nil
		return []stream.Record{r.record(line, time.Now())}, false, nil
	}
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("file source: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("file source: %w", err)
	}
	r.log.Info("file source: the file was rotated: read the old file to its end, now reading the new one from its start",
		"old", r.id.String(), "old_bytes", r.offset, "new", identityOf(info).String())
	old := r.f
	r.f = nil
	r.progress.Lock() // Lag no longer looks at the old file, which is closed now; the new one is read from 0
	r.progress.f, r.progress.offset = nil, 0
	r.progress.Unlock()
	if err := old.Close(); err != nil {
		r.log.Warn("file source: closing the rotated file", "error", err)
	}
	if err := r.attach(f, r.path, info, 0); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// record returns the record of line, which ends at r.offset of the current file.
func (r *reader) record(line string, now time.Time) stream.Record {
	return stream.Record{
		KeySchema:   stream.StringSchema(),
		Key:         r.path,
		ValueSchema: stream.StringSchema(),
		Value:       line,
		Timestamp:   now,
		Position:    Position{Offset: r.offset, Dev: r.id.dev, Ino: r.id.ino}.Encode(),
	}
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
			recs = append(recs, r.record(line, now))
		}
		// Below MaxBatch, r.buf holds only an incomplete line (beyond it, complete lines checked later).
		if len(recs) < r.cfg.MaxBatch && len(r.buf) > r.cfg.MaxLineBytes {
			tooLong = true
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file source: read %s at offset %d: %w", r.name, r.offset+int64(len(r.buf)), err)
		}
		if n == 0 || err != nil {
			break
		}
	}
	// What is left is at most an incomplete line (or lines beyond MaxBatch): move it to the front so that a
	// long-running tail does not keep growing the buffer.
	r.buf = append(r.buf[:0:0], r.buf...)
	if tooLong && len(recs) == 0 {
		return nil, fmt.Errorf("file source: %s: line at offset %d is longer than MaxLineBytes (%d)", r.name, r.offset, r.cfg.MaxLineBytes)
	}
	// The lines before a long one are returned first; the next Read reports the long line.
	return recs, nil
}

// Close closes the file.
func (r *reader) Close() error {
	r.progress.Lock()
	r.progress.f = nil
	r.progress.Unlock()
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
