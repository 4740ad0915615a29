package mysql

import (
	"context"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Bounded returns the source as a batch run reads it (sources.Bounded): when the task opens, it asks the
// server for its current binlog position (flavor.currentPosition: its GTID position, or on MySQL with
// gtid_mode OFF its file and offset), reads as it would (the
// snapshot when one is due, then the binlog from the saved position), and ends with sources.ErrEndOfInput
// once it has read every transaction up to that position, instead of waiting for more. The next batch run
// goes on from there. The returned source shares the receiver's connection pool, which the engine closes
// with the receiver.
func (s *Source) Bounded() sources.Source { return boundedSource{s} }

// boundedSource is a Source whose task ends at the binlog position the server had when it opened.
type boundedSource struct{ *Source }

func (b boundedSource) Open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	pool, err := b.pool()
	if err != nil {
		return nil, transientIfConnection(err)
	}
	// Before the snapshot or stream opens: whatever they read from is at or before it.
	fl, err := detectFlavor(ctx, pool)
	if err != nil {
		return nil, transientIfConnection(err)
	}
	now, err := fl.currentPosition(ctx, pool)
	if err != nil {
		return nil, transientIfConnection(err)
	}
	end := &binlogEnd{file: now.File, pos: now.Pos}
	if now.GTID != "" {
		if end.gtid, err = fl.parseGTID(now.GTID); err != nil {
			return nil, fmt.Errorf("mysql source: the server's GTID position %q: %w", now.GTID, err)
		}
	}
	rd, err := b.Source.Open(ctx, task, pos)
	if err != nil {
		return nil, err
	}
	if r, ok := rd.(*taskReader); ok {
		r.end = end
		b.cfg.Logger.Debug("mysql source: batch run: reading up to the server's current binlog position",
			"gtid", now.GTID, "binlog_file", now.File, "binlog_pos", now.Pos)
	}
	return rd, nil
}

// binlogEnd is where a batch run's stream ends: a GTID position, or (gtid nil: MySQL with gtid_mode OFF, or a
// stream that started by file and offset) the binlog file and offset.
type binlogEnd struct {
	gtid gomysql.GTIDSet
	file string
	pos  uint64
}

// reachedEnd reports whether a bounded stream read every transaction up to its end (and is between
// transactions): its GTID position contains the end's, or (by file and offset) it read the end's file up
// to the end's offset.
func (r *binlogReader) reachedEnd() bool {
	if r.end == nil || r.inTrx {
		return false
	}
	if r.end.gtid != nil && r.trackGTID {
		return r.gtid.Contain(r.end.gtid)
	}
	return r.file > r.end.file || r.file == r.end.file && r.logPos >= r.end.pos
}

var _ sources.Bounded = (*Source)(nil)
