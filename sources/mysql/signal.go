package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Signal types of the signal table's "type" column, as Debezium names them.
const (
	SignalExecuteSnapshot = "execute-snapshot"
	SignalStopSnapshot    = "stop-snapshot"
	SignalPauseSnapshot   = "pause-snapshot"
	SignalResumeSnapshot  = "resume-snapshot"
	SignalLog             = "log"
)

// snapshotSignal is the "data" of execute-snapshot and stop-snapshot signals (Debezium's format).
type snapshotSignal struct {
	DataCollections      []string `json:"data-collections"`
	Type                 string   `json:"type"`
	AdditionalConditions []struct {
		DataCollection string `json:"data-collection"`
		Filter         string `json:"filter"`
	} `json:"additional-conditions"`
	// AdditionalCondition is Debezium 1.x's single condition, applied to every table of the signal.
	AdditionalCondition string `json:"additional-condition"`
	Message             string `json:"message"` // of a log signal
}

var _ sources.Snapshotter = (*Source)(nil)

// Snapshot requests an incremental snapshot of req.Tables ("db.table", captured tables), with an optional
// condition per table, by inserting an execute-snapshot row into Config.SignalTable: the task reads it from
// the binlog, in order with the changes, whichever replica runs it (see the package doc, "Incremental
// snapshots"). It returns once the row is committed; an error names the signal table.
func (s *Source) Snapshot(ctx context.Context, req sources.SnapshotRequest) error {
	if s.cfg.SignalTable == "" {
		return fmt.Errorf("mysql source %s: %w: Config.SignalTable is not set (an incremental snapshot is requested and watermarked through rows of a signal table)",
			s.cfg.TopicPrefix, sources.ErrSnapshotUnsupported)
	}
	if len(req.Tables) == 0 {
		return fmt.Errorf("mysql source %s: %w: it names no table", s.cfg.TopicPrefix, sources.ErrSnapshotRequest)
	}
	for name := range req.Conditions {
		if !slices.Contains(req.Tables, name) {
			return fmt.Errorf("mysql source %s: %w: a condition for %s, which the request does not name in its tables", s.cfg.TopicPrefix, sources.ErrSnapshotRequest, name)
		}
	}
	pool, err := s.pool()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, incrementalQueryTimeout)
	defer cancel()
	captured, err := s.resolveTables(ctx, pool)
	if err != nil {
		return err
	}
	for _, name := range req.Tables {
		if regexp.QuoteMeta(name) != strings.ReplaceAll(name, ".", `\.`) {
			continue // a regular expression (Debezium's data-collections): the task matches it
		}
		if !slices.ContainsFunc(captured, func(t tableName) bool { return t.String() == name }) {
			return fmt.Errorf("mysql source %s: %w: table %s is not captured (Tables and Exclude decide which are)", s.cfg.TopicPrefix, sources.ErrSnapshotRequest, name)
		}
	}
	sig := map[string]any{"data-collections": req.Tables, "type": "incremental"}
	var conds []map[string]string
	for _, name := range req.Tables {
		if c := req.Conditions[name]; c != "" {
			conds = append(conds, map[string]string{"data-collection": name, "filter": c})
		}
	}
	if len(conds) > 0 {
		sig["additional-conditions"] = conds
	}
	data, err := json.Marshal(sig)
	if err != nil {
		return err
	}
	if len(data) > 2048 {
		return fmt.Errorf("mysql source %s: snapshot request is %d bytes of JSON; Debezium's signal table holds 2048 (name fewer tables per request)", s.cfg.TopicPrefix, len(data))
	}
	db, table, _ := strings.Cut(s.cfg.SignalTable, ".")
	signal := tableName{DB: db, Table: table}
	if _, err := pool.ExecContext(ctx, "INSERT INTO "+signal.quoted()+" (id, type, data) VALUES (?, ?, ?)",
		newUUID(), SignalExecuteSnapshot, string(data)); err != nil {
		return fmt.Errorf("mysql source %s: write the execute-snapshot signal into signal table %s: %w", s.cfg.TopicPrefix, signal, err)
	}
	s.cfg.Logger.Info("mysql source: incremental snapshot requested through the signal table", "name", s.cfg.TopicPrefix,
		"tables", req.Tables, "conditions", req.Conditions, "signal_table", signal.String())
	return nil
}

// handleSignal acts on one signal row read from the binlog; unknown or malformed signals are logged and
// ignored (Debezium does the same).
func (r *binlogReader) handleSignal(ctx context.Context, id, typ, data string) {
	inc := r.incr
	log := inc.log.With("signal_id", id, "signal_type", typ)
	var sig snapshotSignal
	if strings.TrimSpace(data) != "" {
		if err := json.Unmarshal([]byte(data), &sig); err != nil {
			log.Warn("signal ignored: its data is not JSON", "data", data, "error", err)
			return
		}
	}
	switch typ {
	case SignalExecuteSnapshot:
		if sig.Type != "" && !strings.EqualFold(sig.Type, "incremental") {
			log.Warn("signal ignored: only incremental snapshots can be requested while streaming", "snapshot_type", sig.Type)
			return
		}
		tables := r.matchCaptured(log, sig.DataCollections)
		if len(tables) == 0 {
			log.Warn("signal ignored: it names no captured table", "data-collections", sig.DataCollections)
			return
		}
		conds := map[string]string{}
		for _, c := range sig.AdditionalConditions {
			for _, name := range r.matchCaptured(nil, []string{c.DataCollection}) {
				conds[name] = c.Filter
			}
		}
		if sig.AdditionalCondition != "" {
			for _, name := range tables {
				if conds[name] == "" {
					conds[name] = sig.AdditionalCondition
				}
			}
		}
		inc.start(ctx, tables, conds, "signal "+id)
	case SignalStopSnapshot:
		var tables []string
		if len(sig.DataCollections) > 0 {
			if tables = r.matchCaptured(log, sig.DataCollections); len(tables) == 0 {
				return
			}
		}
		inc.stop(tables)
	case SignalPauseSnapshot, SignalResumeSnapshot:
		if inc.state == nil {
			log.Info("signal ignored: no incremental snapshot is under way")
			return
		}
		inc.state.Paused = typ == SignalPauseSnapshot
		log.Info("incremental snapshot "+map[bool]string{true: "paused", false: "resumed"}[inc.state.Paused], "snapshot_id", inc.state.ID)
	case SignalLog:
		log.Info("signal: " + sig.Message)
	default:
		log.Warn("signal ignored: unknown type (known: execute-snapshot, stop-snapshot, pause-snapshot, resume-snapshot, log)")
	}
}

// matchCaptured returns the captured tables that patterns match, in name order: each pattern is a regular
// expression matched against the whole "db.table" (Debezium's data-collections); a pattern that matches no
// captured table is logged (when log is not nil).
func (r *binlogReader) matchCaptured(log interface{ Warn(string, ...any) }, patterns []string) []string {
	var out []string
	for _, p := range patterns {
		re, err := regexp.Compile(`^(?:` + p + `)$`)
		if err != nil {
			re = regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `$`)
		}
		found := false
		for name := range r.include {
			if re.MatchString(name.String()) {
				found = true
				if !slices.Contains(out, name.String()) {
					out = append(out, name.String())
				}
			}
		}
		if !found && log != nil {
			log.Warn("signal: data collection matches no captured table (an incremental snapshot copies captured tables only)", "data-collection", p)
		}
	}
	slices.Sort(out)
	return out
}

// signalTableCheck validates Config.SignalTable's form.
func signalTableCheck(name string) error {
	db, table, ok := strings.Cut(name, ".")
	if !ok || db == "" || table == "" || isGlob(name) {
		return fmt.Errorf("%q is not \"db.table\" (no globs)", name)
	}
	return nil
}

// signalRows handles a rows event of the signal table (idx: its index in the transaction): a watermark of
// the chunk under way opens or closes its window (at the close, the chunk's remaining rows are appended to
// recs); a Debezium signal (execute-snapshot, stop-snapshot, pause-snapshot, resume-snapshot, log) acts;
// anything else is logged and ignored. Nothing of the signal table is published.
func (r *binlogReader) signalRows(ctx context.Context, ev *replication.BinlogEvent, e *replication.RowsEvent, idx int, recs []stream.Record) ([]stream.Record, error) {
	inc := r.incr
	if e.Type() != replication.EnumRowsEventTypeInsert {
		return recs, nil
	}
	col := map[string]int{"id": 0, "type": 1, "data": 2}
	for i, n := range e.Table.ColumnNameString() {
		if _, ok := col[strings.ToLower(n)]; ok {
			col[strings.ToLower(n)] = i
		}
	}
	text := func(row []any, name string) string {
		i := col[name]
		if i >= len(row) {
			return ""
		}
		switch v := row[i].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	for _, row := range e.Rows {
		id, typ, data := text(row, "id"), text(row, "type"), text(row, "data")
		switch typ {
		case "snapshot-window-open":
			if inc.win != nil && id == inc.win.id+"-open" {
				inc.win.open = true
			}
		case "snapshot-window-close":
			if inc.win != nil && id == inc.win.id+"-close" {
				var err error
				if recs, err = r.emitChunk(ev, idx, recs); err != nil {
					return nil, err
				}
			}
		default:
			r.handleSignal(ctx, id, typ, data)
		}
	}
	return recs, nil
}
