package mysql

import (
	"context"
	"errors"
)

// requestIncrementalSnapshot queues an incremental snapshot of tables, as if an execute-snapshot signal
// naming them had arrived: their rows are read again in primary-key chunks between watermarks while the
// stream goes on (see doc.go, "Incremental snapshots"). reason is logged. It needs Config.SignalTable (the
// watermarks are rows written there).
func (r *binlogReader) requestIncrementalSnapshot(ctx context.Context, tables []tableName, reason string) error {
	return errors.New("mysql source: incremental snapshots are not implemented yet")
}
