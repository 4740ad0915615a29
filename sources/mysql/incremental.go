package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// DefaultIncrementalChunkSize is Config.IncrementalChunkSize's default, Debezium's
// incremental.snapshot.chunk.size.
const DefaultIncrementalChunkSize = 1024

// incrementalQueryTimeout bounds each query of an incremental snapshot (watermark inserts, chunk and
// max-key selects), which run on the query pool while the binlog connection keeps streaming.
const incrementalQueryTimeout = time.Minute

// incrementalWindowWarn is how long a chunk may wait for its watermarks to come back through the binlog
// before a warning says so.
const incrementalWindowWarn = time.Minute

// incrementalProgressEvery is how often a running incremental snapshot logs its progress.
const incrementalProgressEvery = 10 * time.Second

// IncrementalPosition is the state of an incremental snapshot, carried in Position.Incremental of every
// record read after the snapshot started (and until it ended), so that a restart continues it:
//
//	{"id":"5c1f…","tables":["shop.orders","shop.items"],"conditions":{"shop.orders":"id > 100"},
//	 "last_key":{"id":2048},"max_key":{"id":1000000}}
//
// Tables are the tables left, the one being copied first; LastKey is the primary key of the last row of
// that table's last chunk whose rows were emitted (nil: none yet), MaxKey the table's largest key read when
// its copy started (rows inserted after that come from the stream); Conditions are the additional
// conditions (SQL boolean expressions) by table. Paused is set by a pause-snapshot signal.
type IncrementalPosition struct {
	ID         string                     `json:"id"`
	Tables     []string                   `json:"tables"`
	Conditions map[string]string          `json:"conditions,omitempty"`
	LastKey    map[string]json.RawMessage `json:"last_key,omitempty"`
	MaxKey     map[string]json.RawMessage `json:"max_key,omitempty"`
	Paused     bool                       `json:"paused,omitempty"`
	Reason     string                     `json:"reason,omitempty"`
}

// testHookChunkSelected, set by tests only, runs after a chunk's SELECT and before its close watermark,
// with the table and the chunk's keys (stream.KeyString): a change made then falls inside the window.
var testHookChunkSelected func(table string, keys []string)

// incremental is a binlog reader's incremental-snapshot machinery: the signal table it watches, and the
// snapshot under way (nil state: none).
type incremental struct {
	signal tableName
	pool   *sql.DB
	log    *slog.Logger
	chunk  int
	// topicPrefix is Config.TopicPrefix, for the records' schemas and topics.
	topicPrefix string

	state *IncrementalPosition
	tbl   *table // metadata of state.Tables[0]; nil: not loaded yet
	win   *incrementalChunk

	rowsMetric *prometheus.CounterVec // rows emitted, by table; nil: not registered
	remaining  atomic.Int64           // tables left, for the gauge (read on the scrape's goroutine)

	emitted      int64 // rows emitted for the current table
	estimated    int64
	tableStarted time.Time
	lastProgress time.Time
}

// incrementalChunk is a chunk read between its watermarks and not emitted yet.
type incrementalChunk struct {
	id      string // watermark rows are id+"-open" and id+"-close"
	open    bool   // the open watermark was read from the binlog
	rows    []chunkRow
	byKey   map[string]int
	lastKey map[string]json.RawMessage // the chunk's last key (dropped or not)
	last    bool                       // the table's last chunk
	written time.Time                  // when the close watermark was written
	warned  bool                       // a warning said the watermarks do not come back
}

type chunkRow struct {
	key     *stream.Struct
	after   *stream.Struct
	lastKey map[string]json.RawMessage
	dropped bool
}

// newIncremental returns the machinery of a reader whose start position carried resume (nil: no snapshot
// under way), or nil when no signal table is configured.
func newIncremental(ctx context.Context, cfg Config, pool *sql.DB, log *slog.Logger, resume *IncrementalPosition) *incremental {
	if cfg.SignalTable == "" {
		return nil
	}
	db, name, _ := strings.Cut(cfg.SignalTable, ".")
	inc := &incremental{signal: tableName{DB: db, Table: name}, pool: pool, log: log, chunk: cfg.IncrementalChunkSize, topicPrefix: cfg.TopicPrefix}
	if inc.chunk <= 0 {
		inc.chunk = DefaultIncrementalChunkSize
	}
	if resume != nil && len(resume.Tables) > 0 {
		st := *resume
		inc.state = &st
		log.Info("incremental snapshot resumed", "snapshot_id", st.ID, "tables", st.Tables, "after_key", string(mustJSON(st.LastKey)))
	}
	inc.registerMetrics(metrics.From(ctx).Registerer, "mysql:"+cfg.TopicPrefix)
	inc.remaining.Store(int64(len(inc.tablesLeft())))
	return inc
}

// Metrics of incremental snapshots (labels pipeline and source added by the engine, task here).
const (
	incrementalRowsMetric   = "sluice_mysql_incremental_snapshot_rows_total"
	incrementalTablesMetric = "sluice_mysql_incremental_snapshot_tables_remaining"
)

// registerMetrics registers the counter of rows emitted (kept across reopened readers of the task) and the
// gauge of tables left (the newest reader's).
func (inc *incremental) registerMetrics(reg prometheus.Registerer, task string) {
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        incrementalRowsMetric,
		Help:        "Rows the MySQL source's incremental snapshots emitted (op r), by table.",
		ConstLabels: prometheus.Labels{"task": task},
	}, []string{"table"})
	if err := reg.Register(rows); err != nil {
		var are prometheus.AlreadyRegisteredError
		existing, ok := prometheus.Collector(nil), false
		if errors.As(err, &are) {
			existing = are.ExistingCollector
			rows, ok = existing.(*prometheus.CounterVec)
		}
		if !ok {
			inc.log.Warn("mysql source: incremental snapshots: metric not registered", "metric", incrementalRowsMetric, "error", err)
			rows = nil
		}
	}
	inc.rowsMetric = rows
	tables := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        incrementalTablesMetric,
		Help:        "Tables the MySQL source's incremental snapshot still has to copy, the one being copied included (0: none under way).",
		ConstLabels: prometheus.Labels{"task": task},
	}, func() float64 { return float64(inc.remaining.Load()) })
	if err := reg.Register(tables); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) { // a reopened task: the new reader's gauge replaces the old one's
			reg.Unregister(are.ExistingCollector)
			err = reg.Register(tables)
		}
		if err != nil {
			inc.log.Warn("mysql source: incremental snapshots: metric not registered", "metric", incrementalTablesMetric, "error", err)
		}
	}
}

// tablesLeft is the snapshot's tables left (nil: none under way).
func (inc *incremental) tablesLeft() []string {
	if inc.state == nil {
		return nil
	}
	return inc.state.Tables
}

// requestIncrementalSnapshot queues an incremental snapshot of tables, as if an execute-snapshot signal
// naming them had arrived (tables already queued are not added twice): their rows are read again in
// primary-key chunks between watermarks while the stream goes on (see the package doc, "Incremental
// snapshots"). reason is logged. It needs Config.SignalTable: the watermarks are rows written there.
func (r *binlogReader) requestIncrementalSnapshot(ctx context.Context, tables []tableName, reason string) error {
	if r.incr == nil {
		return errors.New("mysql source: an incremental snapshot needs Config.SignalTable (its watermarks are rows written there): set it to a table like Debezium's debezium_signal")
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.String()
	}
	if refused := r.incr.start(ctx, names, nil, reason); len(refused) > 0 {
		return fmt.Errorf("mysql source: incremental snapshot refused for %s (see the log: no primary key, or not readable)", strings.Join(refused, ", "))
	}
	return nil
}

// position returns the incremental state to carry in the positions of the records read now (nil: none).
func (inc *incremental) position() *IncrementalPosition {
	if inc == nil || inc.state == nil {
		return nil
	}
	st := *inc.state
	return &st
}

// start adds tables (with their conditions) to the snapshot under way, or starts one, and returns the
// tables it refused: those without primary key or whose definition cannot be read, each with a log line
// naming it.
func (inc *incremental) start(ctx context.Context, tables []string, conditions map[string]string, reason string) (refused []string) {
	var accepted []string
	for _, name := range tables {
		db, tbl, _ := strings.Cut(name, ".")
		ctx, cancel := context.WithTimeout(ctx, incrementalQueryTimeout)
		t, err := loadTable(ctx, inc.pool, tableName{DB: db, Table: tbl}, "")
		cancel()
		switch {
		case err != nil:
			inc.log.Warn("incremental snapshot: table refused", "table", name, "error", err)
			refused = append(refused, name)
			continue
		case len(t.pk) == 0:
			inc.log.Warn("incremental snapshot: table refused: it has no primary key, and an incremental snapshot reads by primary-key chunks (Debezium refuses it too)", "table", name)
			refused = append(refused, name)
			continue
		}
		if inc.state != nil && slices.Contains(inc.state.Tables, name) {
			continue
		}
		accepted = append(accepted, name)
	}
	if len(accepted) == 0 {
		return refused
	}
	if inc.state == nil {
		inc.state = &IncrementalPosition{ID: newUUID(), Reason: reason}
	}
	inc.state.Tables = append(inc.state.Tables, accepted...)
	for _, name := range accepted {
		if c := conditions[name]; c != "" {
			if inc.state.Conditions == nil {
				inc.state.Conditions = map[string]string{}
			}
			inc.state.Conditions[name] = c
		}
	}
	inc.remaining.Store(int64(len(inc.state.Tables)))
	inc.log.Info("incremental snapshot requested", "snapshot_id", inc.state.ID, "tables", accepted,
		"conditions", conditions, "reason", reason, "queue", inc.state.Tables)
	return refused
}

// stop removes tables (all when empty) from the snapshot under way.
func (inc *incremental) stop(tables []string) {
	if inc.state == nil {
		return
	}
	left := slices.DeleteFunc(slices.Clone(inc.state.Tables), func(s string) bool { return slices.Contains(tables, s) })
	if len(tables) == 0 || len(left) == 0 {
		inc.log.Info("incremental snapshot stopped", "snapshot_id", inc.state.ID, "tables_not_copied", inc.state.Tables)
		inc.state, inc.tbl, inc.win = nil, nil, nil
		inc.remaining.Store(0)
		return
	}
	cur := inc.state.Tables[0]
	inc.state.Tables = left
	inc.log.Info("incremental snapshot: tables removed", "snapshot_id", inc.state.ID, "tables", tables, "tables_left", inc.state.Tables)
	if len(inc.state.Tables) == 0 || inc.state.Tables[0] != cur {
		inc.nextTable()
	}
}

// nextTable forgets the current table's progress (the caller removed it from state.Tables, or is about to).
func (inc *incremental) nextTable() {
	inc.tbl, inc.win = nil, nil
	inc.state.LastKey, inc.state.MaxKey = nil, nil
	inc.emitted = 0
	inc.remaining.Store(int64(len(inc.state.Tables)))
	if len(inc.state.Tables) == 0 {
		inc.log.Info("incremental snapshot done", "snapshot_id", inc.state.ID)
		inc.state = nil
	}
}

// schemaChanged is called for each DDL statement the stream reads: while a table is being copied, its
// definition is read again before the next chunk, and a chunk between its watermarks (selected with the
// old definition, or on either side of the statement) is dropped and read again after the last key
// emitted. Its watermarks, when they come, match nothing.
func (inc *incremental) schemaChanged(statement string) {
	if inc == nil || inc.state == nil || inc.tbl == nil {
		return
	}
	inc.log.Info("incremental snapshot: a DDL statement was read: the table's definition is read again and its chunk under way read again",
		"snapshot_id", inc.state.ID, "table", inc.state.Tables[0], "statement", statement)
	inc.tbl, inc.win = nil, nil
}

// step starts the next chunk when a snapshot is under way and no chunk is between its watermarks: it
// writes the open watermark, reads the chunk, and writes the close watermark, all on the query pool.
func (r *binlogReader) incrementalStep(ctx context.Context) error {
	inc := r.incr
	if inc != nil && inc.win != nil && !inc.win.warned && time.Since(inc.win.written) > incrementalWindowWarn {
		inc.win.warned = true
		inc.log.Warn("incremental snapshot: the chunk's watermark rows have not come back through the binlog: is the signal table's database filtered out of the binlog (binlog-ignore-db, replicate filters)?",
			"snapshot_id", inc.state.ID, "table", inc.state.Tables[0], "signal_table", inc.signal.String(), "watermark_id", inc.win.id,
			"seen_open", inc.win.open, "waiting", time.Since(inc.win.written).Round(time.Second).String())
	}
	for inc != nil && inc.state != nil && !inc.state.Paused && inc.win == nil {
		done, err := inc.readChunk(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if connectionFailure(err) || errors.Is(err, context.DeadlineExceeded) {
				// Transient: the task reopens at its saved position and reads the chunk again.
				return sources.Transient(err)
			}
			// The server refused (a table dropped meanwhile, a bad additional condition, no INSERT on the
			// signal table): this table cannot be copied; failing the task would fail it again at every
			// reopen, since the state travels in the positions.
			inc.log.Warn("incremental snapshot: table abandoned: the server refused its chunk", "snapshot_id", inc.state.ID,
				"table", inc.state.Tables[0], "condition", inc.state.Conditions[inc.state.Tables[0]], "error", err)
			inc.state.Tables = inc.state.Tables[1:]
			inc.nextTable()
		}
		if !done {
			return nil
		}
	}
	return nil
}

// readChunk reads the next chunk of the current table between watermarks; done reports that the table had
// no rows left (it moved to the next table without a window).
func (inc *incremental) readChunk(ctx context.Context) (done bool, err error) {
	st := inc.state
	name := st.Tables[0]
	ctx, cancel := context.WithTimeout(ctx, incrementalQueryTimeout)
	defer cancel()
	if inc.tbl == nil {
		db, tbl, _ := strings.Cut(name, ".")
		if inc.tbl, err = loadTable(ctx, inc.pool, tableName{DB: db, Table: tbl}, inc.prefix()); err != nil {
			return false, fmt.Errorf("mysql source: incremental snapshot %s: %w", name, err)
		}
		if len(inc.tbl.pk) == 0 {
			inc.log.Warn("incremental snapshot: table skipped: it has no primary key", "table", name)
			st.Tables = st.Tables[1:]
			inc.nextTable()
			return true, nil
		}
		var estimate sql.NullInt64
		_ = inc.pool.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			db, tbl).Scan(&estimate)
		inc.estimated = estimate.Int64
		inc.tableStarted, inc.lastProgress = time.Now(), time.Now()
		if st.MaxKey == nil {
			if st.MaxKey, err = inc.maxKey(ctx, st.Conditions[name]); err != nil {
				return false, fmt.Errorf("mysql source: incremental snapshot %s: largest key: %w", name, err)
			}
		}
		inc.log.Info("incremental snapshot of table started", "snapshot_id", st.ID, "table", name,
			"estimated_rows", inc.estimated, "max_key", string(mustJSON(st.MaxKey)), "after_key", string(mustJSON(st.LastKey)),
			"condition", st.Conditions[name])
	}
	if st.MaxKey == nil { // empty table (or no row matches the condition)
		inc.finishTable()
		return true, nil
	}
	id := newUUID()
	if err := inc.watermark(ctx, id+"-open", "snapshot-window-open"); err != nil {
		return false, err
	}
	raw, err := inc.fetch(ctx, st.Conditions[name])
	if err != nil {
		return false, fmt.Errorf("mysql source: incremental snapshot %s: chunk after %s: %w", name, mustJSON(st.LastKey), err)
	}
	if len(raw) == 0 {
		inc.finishTable()
		return true, nil
	}
	w := &incrementalChunk{id: id, byKey: make(map[string]int, len(raw)), last: len(raw) < inc.chunk}
	for _, row := range raw {
		cr, err := inc.chunkRow(row)
		if err != nil {
			return false, err
		}
		ks, err := keyID(cr.key)
		if err != nil {
			return false, fmt.Errorf("mysql source: incremental snapshot %s: key: %w", name, err)
		}
		w.byKey[ks] = len(w.rows)
		w.rows = append(w.rows, cr)
	}
	w.lastKey = w.rows[len(w.rows)-1].lastKey
	if testHookChunkSelected != nil {
		keys := make([]string, len(w.rows))
		for i := range w.rows {
			keys[i], _ = stream.KeyString(w.rows[i].key)
		}
		testHookChunkSelected(name, keys)
	}
	if string(mustJSON(w.lastKey)) == string(mustJSON(st.MaxKey)) {
		w.last = true
	}
	if err := inc.watermark(ctx, id+"-close", "snapshot-window-close"); err != nil {
		return false, err
	}
	w.written = time.Now()
	inc.win = w
	return false, nil
}

func (inc *incremental) finishTable() {
	st := inc.state
	inc.log.Info("incremental snapshot of table done", "snapshot_id", st.ID, "table", st.Tables[0], "rows", inc.emitted,
		"seconds", time.Since(inc.tableStarted).Round(time.Millisecond).Seconds())
	st.Tables = st.Tables[1:]
	inc.nextTable()
}

// prefix is the topic prefix of the records (the binlog reader's).
func (inc *incremental) prefix() string { return inc.topicPrefix }
