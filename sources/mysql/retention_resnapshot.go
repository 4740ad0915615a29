package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// resnapshotAffected is when_needed's recovery from a purged position, from: instead of a new blocking
// snapshot of every captured table, the stream restarts at the server's CURRENT binlog position (what
// happened between from and now is in no binlog any more, and the rows as they are now are what the
// snapshot reads), and an incremental snapshot (incremental.go) re-reads only the captured tables that may
// have changed since from: those whose information_schema.TABLES.UPDATE_TIME is at or after from's binlog
// time minus a second, and every table whose UPDATE_TIME is unknown (NULL: InnoDB forgets it at a server
// restart), or all of them when from carries no time. It logs which tables and why. handled is false, with
// the new stream closed, when the incremental snapshot cannot run (no Config.SignalTable): the caller then
// takes today's full snapshot, and the log names the setting that would have avoided it.
func (r *taskReader) resnapshotAffected(ctx context.Context, from Position, purged error) (handled bool, err error) {
	affected, why, err := affectedTables(ctx, r.pool, r.tables, from.TS)
	if err != nil {
		return false, err
	}
	if r.cfg.SignalTable == "" {
		r.cfg.Logger.Warn("mysql source: snapshot mode when_needed: Config.SignalTable is not set, so the tables that changed cannot be re-snapshotted incrementally; taking a new snapshot of every captured table instead. Set SignalTable to re-snapshot only the tables that changed, without stopping the stream",
			"name", r.cfg.TopicPrefix, "tables_changed", len(affected), "why", why)
		return false, nil
	}
	for _, t := range affected {
		lctx, cancel := context.WithTimeout(ctx, retentionQueryTimeout)
		tbl, err := loadTable(lctx, r.pool, t, "")
		cancel()
		if err != nil {
			return false, fmt.Errorf("mysql source: when_needed: table %s: %w", t, err)
		}
		if len(tbl.pk) == 0 {
			r.cfg.Logger.Warn("mysql source: snapshot mode when_needed: a table that changed has no primary key, and an incremental snapshot reads by primary key; taking a new snapshot of every captured table instead",
				"name", r.cfg.TopicPrefix, "table", t.String(), "why", why)
			return false, nil
		}
	}
	now, err := currentBinlogPosition(ctx, r.pool)
	if err != nil {
		return false, err
	}
	stream, err := openBinlog(ctx, r.cfg, r.pool, r.tables, streamStart(now))
	if err != nil {
		return false, err
	}
	names := make([]string, len(affected))
	for i, t := range affected {
		names[i] = t.String()
	}
	attrs := []any{"name", r.cfg.TopicPrefix, "gtid", from.GTID, "binlog_file", from.File, "binlog_pos", from.Pos,
		"stream_gtid", now.GTID, "stream_binlog_file", now.File, "stream_binlog_pos", now.Pos, "error", purged}
	if len(affected) == 0 {
		r.cfg.Logger.Warn("mysql source: snapshot mode when_needed: the saved binlog position is no longer on the server; no captured table changed since it ("+why+"): streaming from the current binlog position, no table re-snapshotted", attrs...)
		r.stream = stream
		return true, nil
	}
	reason := fmt.Sprintf("when_needed: the saved binlog position (gtid %q, file %s, pos %d) was purged; %s", from.GTID, from.File, from.Pos, why)
	if err := stream.requestIncrementalSnapshot(ctx, affected, reason); err != nil {
		stream.Close()
		r.cfg.Logger.Warn("mysql source: snapshot mode when_needed: the tables that changed cannot be re-snapshotted incrementally; taking a new snapshot of every captured table instead. Set Config.SignalTable to re-snapshot only the tables that changed, without stopping the stream",
			append(attrs, "tables", strings.Join(names, ","), "cause", err)...)
		return false, nil
	}
	r.cfg.Logger.Warn("mysql source: snapshot mode when_needed: the saved binlog position is no longer on the server; streaming from the current binlog position and re-snapshotting incrementally only the captured tables that may have changed since ("+why+"); rows deleted meanwhile get no delete event",
		append(attrs, "tables", strings.Join(names, ","))...)
	r.stream = stream
	return true, nil
}

// affectedTables returns the tables of names that may have changed since the binlog time since (unix
// seconds; 0: unknown, every table), and why, for the log.
func affectedTables(ctx context.Context, pool *sql.DB, names []tableName, since int64) ([]tableName, string, error) {
	if since <= 0 {
		return names, "the saved position carries no binlog time: every captured table", nil
	}
	threshold := time.Unix(since-1, 0).UTC()
	updated := map[tableName]sql.NullString{}
	dbs := map[string]bool{}
	for _, n := range names {
		dbs[n.DB] = true
	}
	qctx, cancel := context.WithTimeout(ctx, retentionQueryTimeout)
	defer cancel()
	conn, err := pool.Conn(qctx)
	if err != nil {
		return nil, "", fmt.Errorf("mysql source: when_needed: read UPDATE_TIME: %w", err)
	}
	defer conn.Close()
	// MySQL 8 caches information_schema.TABLES' statistics, UPDATE_TIME included, for
	// information_schema_stats_expiry (a day by default): read them fresh. MariaDB has no such cache (nor the
	// variable: its error is ignored).
	conn.ExecContext(qctx, "SET SESSION information_schema_stats_expiry = 0")
	for db := range dbs {
		rows, err := conn.QueryContext(qctx, "SELECT TABLE_NAME, UPDATE_TIME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", db)
		if err != nil {
			return nil, "", fmt.Errorf("mysql source: when_needed: read UPDATE_TIME of database %s: %w", db, err)
		}
		for rows.Next() {
			var table string
			var t sql.NullString
			if err := rows.Scan(&table, &t); err != nil {
				rows.Close()
				return nil, "", fmt.Errorf("mysql source: when_needed: read UPDATE_TIME of database %s: %w", db, err)
			}
			updated[tableName{DB: db, Table: table}] = t
		}
		err = rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, "", fmt.Errorf("mysql source: when_needed: read UPDATE_TIME of database %s: %w", db, err)
		}
	}
	var out []tableName
	var changed, unknown []string
	for _, n := range names {
		t := updated[n]
		when, err := time.Parse(time.DateTime, t.String) // the session's time_zone is '+00:00'
		switch {
		case !t.Valid || err != nil:
			unknown = append(unknown, n.String())
		case !when.Before(threshold):
			changed = append(changed, n.String())
		default:
			continue
		}
		out = append(out, n)
	}
	why := fmt.Sprintf("changed at or after %s (UPDATE_TIME): [%s]; UPDATE_TIME unknown: [%s]; %d other captured tables unchanged",
		threshold.Format(time.RFC3339), strings.Join(changed, " "), strings.Join(unknown, " "), len(names)-len(out))
	return out, why, nil
}
