// Package file is a sink that appends each record's value as a line to a file, like Kafka Connect's
// FileStreamSink. A write is acknowledged only after the lines were flushed and fsynced.
//
// Values: a string or []byte is written as it is; any other value as its plain JSON (the "json" codec, with
// the record's value schema when it has one); a nil value (a tombstone) writes nothing.
//
// Numbers are written with the digits they hold: integers as they are, Decimals with every digit and their
// scale (DECIMAL(12,2) 2.00 as 2.00, in Java's BigDecimal notation), float32 and float64 in their shortest
// text (float32 0.1 as 0.1, not 0.10000000149011612). Values the json codec decoded without a schema (see
// stream.JSONCodec) are written back with the same digits they were read with.
package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sluicehq/sluice/stream"
)

// Config configures a file sink.
type Config struct {
	// Path of the file to append to; created if missing.
	Path string
}

// Sink appends lines to a file. Create it with New.
type Sink struct {
	cfg  Config
	f    *os.File
	w    *bufio.Writer
	json stream.Codec
}

// New validates cfg and returns the sink.
func New(cfg Config) (*Sink, error) {
	if cfg.Path == "" {
		return nil, errors.New("file sink: Path is empty")
	}
	json, err := stream.LookupCodec("json")
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, json: json}, nil
}

// Open opens the file for appending.
func (s *Sink) Open(context.Context) error {
	f, err := os.OpenFile(s.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	return nil
}

// Write appends one line per record, then flushes and fsyncs. A batch whose ctx is already cancelled is not
// written (local file writes are not interruptible once started, and take no longer than the disk).
func (s *Sink) Write(ctx context.Context, batch []stream.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file sink: %s: write of %d records cancelled: %w", s.cfg.Path, len(batch), err)
	}
	if s.f == nil {
		return fmt.Errorf("file sink: %s is not open: %w", s.cfg.Path, os.ErrClosed)
	}
	for i := range batch {
		r := &batch[i]
		switch v := r.Value.(type) {
		case nil:
			continue
		case string:
			s.w.WriteString(v)
		case []byte:
			s.w.Write(v)
		default:
			b, err := s.json.Encode(r.ValueSchema, v)
			if err != nil {
				s.w.Reset(s.f) // drop this batch's buffered lines: the whole batch is delivered again
				return fmt.Errorf("file sink: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			s.w.Write(b)
		}
		s.w.WriteByte('\n')
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("file sink: write %s: %w", s.cfg.Path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("file sink: fsync %s: %w", s.cfg.Path, err)
	}
	return nil
}

// String names the sink for the engine's logs and /readyz.
func (s *Sink) String() string { return "file " + s.cfg.Path }

// Close flushes and closes the file.
func (s *Sink) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}
