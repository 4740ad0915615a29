package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

var _ sources.Committer = (*taskReader)(nil)

// Defaults of the binlog-retention guard's Config fields.
const (
	DefaultRetentionCheckInterval = time.Minute
	DefaultRetentionWarnMargin    = time.Hour // capped at a quarter of the server's expiry: see warnMargin
)

// retentionQueryTimeout bounds each query of a retention check.
const retentionQueryTimeout = 10 * time.Second

// retentionMarginMetric is the guard's gauge (labels pipeline and source added by the engine, task here).
const retentionMarginMetric = "sluice_mysql_binlog_retention_margin_seconds"

// retentionGuard is the binlog-retention guard of one open task (see "Binlog retention" in the package
// doc): every Config.RetentionCheckInterval, on a goroutine of its own that Close stops, it compares the
// binlog files the server keeps (SHOW BINARY LOGS) and its expiry (binlog_expire_logs_seconds, else
// expire_logs_days) with the file holding the task's position, exports the margin as the gauge
// sluice_mysql_binlog_retention_margin_seconds{task} and logs a warning when the margin is below
// Config.RetentionWarnMargin. It runs beside Read so that it also reports a pipeline that is too slow to
// call Read.
type retentionGuard struct {
	cfg  Config
	pool *sql.DB
	log  *slog.Logger
	lag  *binlogLag // the task's: the binlog time of the last transaction event read
	task string

	mu   sync.Mutex
	file string // binlog file holding the position the task reads ("" unknown)
	gtid string // that position's GTID position, for the warning
	// The position last saved (Commit): a restart resumes there, so while it is in an older file than the
	// one read, that file is the one that must not be purged. ts is its binlog time (0: unknown).
	savedFile, savedGTID string
	savedTS              int64
	margin               float64 // seconds; +Inf never purged (expiry off, or the file being written); NaN unknown

	reg    prometheus.Registerer
	gauge  prometheus.Collector
	cancel context.CancelFunc
	done   chan struct{}
}

// startRetentionGuard starts the task's guard with the position's file (the saved position's, or the
// snapshot's start) and registers its gauge with the pipeline's registerer (metrics.From(ctx)).
func (r *taskReader) startRetentionGuard(ctx context.Context) {
	g := &retentionGuard{cfg: r.cfg, pool: r.pool, lag: &r.lag, task: "mysql:" + r.cfg.TopicPrefix, file: r.positionFile(), margin: math.NaN(),
		log: r.cfg.Logger.With("connector", "mysql", "name", r.cfg.TopicPrefix), done: make(chan struct{})}
	g.reg = metrics.From(ctx).Registerer
	g.gauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        retentionMarginMetric,
		Help:        "Seconds until the server purges the binlog file holding the MySQL source task's position (binlog expiry minus the file's age): +Inf when it is never purged (expiry off, or the file being written), 0 once purged, NaN while unknown.",
		ConstLabels: prometheus.Labels{"task": g.task},
	}, g.value)
	if err := g.reg.Register(g.gauge); err != nil {
		// A reopened task (after a transient failure) registers again: the new reader's guard replaces the old.
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			g.reg.Unregister(are.ExistingCollector)
			err = g.reg.Register(g.gauge)
		}
		if err != nil {
			g.log.Warn("mysql source: binlog retention guard: metric not registered", "metric", retentionMarginMetric, "error", err)
			g.gauge = nil
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	r.guard = g
	r.trackRetention()
	go g.run(runCtx)
}

// stopRetentionGuard stops the guard and removes its gauge (the task no longer runs here).
func (r *taskReader) stopRetentionGuard() {
	g := r.guard
	if g == nil {
		return
	}
	r.guard = nil
	g.cancel()
	<-g.done
	if g.gauge != nil {
		g.reg.Unregister(g.gauge)
	}
}

// trackRetention tells the guard which binlog file holds the task's position now; called by Read's
// goroutine.
func (r *taskReader) trackRetention() {
	if r.guard == nil {
		return
	}
	if file := r.positionFile(); file != "" {
		gtid := ""
		switch {
		case r.stream != nil && r.stream.gtid != nil:
			gtid = r.stream.gtid.String()
		case r.snap != nil:
			gtid = r.snap.start.GTID
		}
		r.guard.mu.Lock()
		r.guard.file, r.guard.gtid = file, gtid
		r.guard.mu.Unlock()
	}
}

// positionFile is the binlog file holding the task's position: the file the stream reads, or the binlog
// position of the snapshot, where the stream will start; "" unknown.
func (r *taskReader) positionFile() string {
	switch {
	case r.stream != nil && r.stream.file != "":
		return r.stream.file
	case r.stream != nil:
		return r.stream.from.File
	case r.snap != nil:
		return r.snap.start.File
	}
	return ""
}

// Commit tells the guard the task's saved position (sources.Committer: the engine calls it once Kafka
// acknowledged the record at pos and the position was stored). While the saved position is in an older
// binlog file than the one read, the guard watches that file: a restart would resume there.
func (r *taskReader) Commit(_ context.Context, pos stream.Position) error {
	g := r.guard
	if g == nil {
		return nil
	}
	p, err := parsePosition(pos)
	if err != nil || p == nil {
		return nil // not the guard's business: the engine reopens at it all the same
	}
	file, gtid, ts := p.File, p.GTID, p.TS
	if p.Phase == PhaseSnapshot {
		file, gtid, ts = p.Start.File, p.Start.GTID, 0
	}
	g.mu.Lock()
	g.savedFile, g.savedGTID, g.savedTS = file, gtid, ts
	g.mu.Unlock()
	return nil
}

func (g *retentionGuard) value() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.margin
}

func (g *retentionGuard) run(ctx context.Context) {
	defer close(g.done)
	t := time.NewTicker(g.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		g.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retentionState is what one check found.
type retentionState struct {
	file    string  // the position's file
	oldest  string  // the oldest binlog file on the server
	newest  string  // the file being written
	expire  float64 // seconds; 0: no expiry
	age     float64 // seconds since the last transaction event read; NaN unknown
	purged  bool    // file is older than the oldest file kept
	atRisk  bool    // file is the oldest one kept, and not the one being written: the next purge removes it
	margin  float64 // see retentionGuard.margin
	unknown string  // why the margin is unknown
}

// check runs one comparison, sets the gauge and logs a warning when the margin is short.
func (g *retentionGuard) check(ctx context.Context) {
	g.mu.Lock()
	file, gtid, which := g.file, g.gtid, "read"
	var savedAt time.Time // the saved position's binlog time, when it is the one compared
	if g.savedFile != "" && (file == "" || binlogFileBefore(g.savedFile, file)) {
		file, gtid, which = g.savedFile, g.savedGTID, "saved"
		if g.savedTS > 0 {
			savedAt = time.Unix(g.savedTS, 0)
		}
	}
	g.mu.Unlock()
	if file == "" {
		return // no position yet (a first snapshot that has not started)
	}
	st, err := g.inspect(ctx, file, which == "saved", savedAt)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("mysql source: binlog retention guard: check failed", "binlog_file", file, "error", err)
		}
		return
	}
	g.mu.Lock()
	g.margin = st.margin
	g.mu.Unlock()
	warn := g.warnMargin(st.expire)
	switch {
	case st.purged:
		g.log.Warn("mysql source: binlog retention: the binlog file holding the task's position was purged: the task cannot resume there (when_needed re-snapshots the tables that changed; other modes fail). Speed up the pipeline, or raise binlog_expire_logs_seconds",
			"task", g.task, "position", which, "binlog_file", file, "gtid", gtid, "oldest_binlog_file", st.oldest, "margin", "0s")
	case st.margin < warn:
		g.log.Warn(fmt.Sprintf("mysql source: binlog retention: the binlog file holding the task's position is purged in about %s (less than RetentionWarnMargin %s): speed up the pipeline, or raise binlog_expire_logs_seconds on the server",
			time.Duration(st.margin*float64(time.Second)).Round(time.Second), time.Duration(warn*float64(time.Second))),
			"task", g.task, "position", which, "binlog_file", file, "gtid", gtid, "oldest_binlog_file", st.oldest, "margin_seconds", math.Round(st.margin),
			"binlog_expire_logs_seconds", st.expire, "at_risk", st.atRisk)
	case math.IsNaN(st.margin) && st.atRisk:
		g.log.Warn("mysql source: binlog retention: the binlog file holding the task's position is the oldest the server keeps, and its age is not known yet: the next purge removes it",
			"task", g.task, "position", which, "binlog_file", file, "gtid", gtid, "binlog_expire_logs_seconds", st.expire, "why_unknown", st.unknown)
	}
}

// warnMargin is Config.RetentionWarnMargin in seconds, or when it is 0 DefaultRetentionWarnMargin capped
// at a quarter of expire (seconds; 0: no expiry).
func (g *retentionGuard) warnMargin(expire float64) float64 {
	if g.cfg.RetentionWarnMargin > 0 {
		return g.cfg.RetentionWarnMargin.Seconds()
	}
	if expire > 0 {
		return min(DefaultRetentionWarnMargin.Seconds(), expire/4)
	}
	return DefaultRetentionWarnMargin.Seconds()
}

// inspect compares file with the server's binlogs and expiry. The file's age is taken from savedAt for the
// saved position (saved; zero: unknown), else from the last transaction event read.
func (g *retentionGuard) inspect(ctx context.Context, file string, saved bool, savedAt time.Time) (retentionState, error) {
	st := retentionState{file: file, age: math.NaN(), margin: math.NaN()}
	qctx, cancel := context.WithTimeout(ctx, retentionQueryTimeout)
	defer cancel()
	files, err := binlogFiles(qctx, g.pool) // flavor.go
	if err != nil {
		return st, err
	}
	if len(files) == 0 {
		return st, errors.New("SHOW BINARY LOGS lists no file (is log_bin on?)")
	}
	st.oldest, st.newest = files[0], files[len(files)-1]
	if st.expire, err = binlogExpireSeconds(qctx, g.pool); err != nil {
		return st, err
	}
	switch {
	case saved && !savedAt.IsZero():
		st.age = max(time.Since(savedAt).Seconds(), 0)
	case !saved && g.lag.streaming.Load():
		st.age = max(time.Since(time.Unix(g.lag.lastEvent.Load(), 0)).Seconds(), 0)
	}
	st.margin, st.purged, st.atRisk, st.unknown = retentionMargin(file, files, st.expire, st.age)
	return st, nil
}

// retentionMargin is the guard's arithmetic: how many seconds until file is purged, given the server's
// binlog files (oldest first), its expiry in seconds (0: none) and the age in seconds of the last event
// read from file (NaN: unknown). A file older than the oldest kept was purged (margin 0). The file being
// written, or any file when expiry is off, is never purged by expiry (+Inf; a manual PURGE still can). Else
// the server purges the file expire seconds after it was last written, which was at or after the last
// event read from it: expire minus that event's age is a lower bound. atRisk: file is the oldest kept and
// not the one being written.
func retentionMargin(file string, files []string, expire, age float64) (margin float64, purged, atRisk bool, unknown string) {
	oldest, newest := files[0], files[len(files)-1]
	switch {
	case binlogFileBefore(file, oldest):
		return 0, true, false, ""
	case file == newest:
		return math.Inf(1), false, false, ""
	}
	atRisk = file == oldest
	switch {
	case expire <= 0:
		return math.Inf(1), false, atRisk, ""
	case math.IsNaN(age):
		return math.NaN(), false, atRisk, "no binlog event read yet since the task opened"
	}
	return max(expire-age, 0), false, atRisk, ""
}

// binlogFileBefore reports whether binlog file a comes before b: by the numeric extension when both have
// the same base name (bin.000009 before bin.000010), else by name.
func binlogFileBefore(a, b string) bool {
	ai, bi := lastDot(a), lastDot(b)
	if ai > 0 && bi > 0 && a[:ai] == b[:bi] {
		na, errA := strconv.ParseUint(a[ai+1:], 10, 64)
		nb, errB := strconv.ParseUint(b[bi+1:], 10, 64)
		if errA == nil && errB == nil {
			return na < nb
		}
	}
	return a < b
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// binlogExpireSeconds returns the server's binlog expiry in seconds (0: none): binlog_expire_logs_seconds
// (MariaDB 10.6+, MySQL 8), else expire_logs_days (older servers; MySQL 8 still honours it when the former
// is 0).
func binlogExpireSeconds(ctx context.Context, pool *sql.DB) (float64, error) {
	var secs sql.NullFloat64
	errSecs := pool.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_expire_logs_seconds").Scan(&secs)
	if errSecs == nil && secs.Float64 > 0 {
		return secs.Float64, nil
	}
	var days sql.NullFloat64
	if err := pool.QueryRowContext(ctx, "SELECT @@GLOBAL.expire_logs_days").Scan(&days); err != nil {
		if errSecs != nil {
			return 0, fmt.Errorf("read binlog_expire_logs_seconds: %w", errSecs)
		}
		return 0, nil // MySQL 8.4 and later have no expire_logs_days
	}
	return days.Float64 * 86400, nil
}
