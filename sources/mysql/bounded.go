package mysql

import (
	"context"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Bounded returns the source as a batch run reads it (sources.Bounded): when the task opens, it asks the
// server for its current GTID position (SHOW MASTER STATUS and BINLOG_GTID_POS), reads as it would (the
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
	now, err := currentBinlogPosition(ctx, pool)
	if err != nil {
		return nil, transientIfConnection(err)
	}
	end, err := gomysql.ParseMariadbGTIDSet(now.GTID)
	if err != nil {
		return nil, fmt.Errorf("mysql source: the server's GTID position %q: %w", now.GTID, err)
	}
	rd, err := b.Source.Open(ctx, task, pos)
	if err != nil {
		return nil, err
	}
	if r, ok := rd.(*taskReader); ok {
		r.end = end.(*gomysql.MariadbGTIDSet)
		b.cfg.Logger.Debug("mysql source: batch run: reading up to the server's current binlog position",
			"gtid", now.GTID, "binlog_file", now.File, "binlog_pos", now.Pos)
	}
	return rd, nil
}

// reachedEnd reports whether a bounded stream read every transaction up to its end (and is between
// transactions).
func (r *binlogReader) reachedEnd() bool {
	return r.end != nil && r.trxGTID == "" && r.gtid.Contain(r.end)
}

var _ sources.Bounded = (*Source)(nil)
