package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// batchWait is how long Read keeps collecting events for its batch once it has a record.
const batchWait = 5 * time.Millisecond

// binlogReader streams the row changes of the captured tables from the binlog, as a replica with
// Config.ServerID, with go-mysql's raw BinlogSyncer (flavor mariadb or mysql: see flavor.go).
type binlogReader struct {
	cfg     Config
	log     *slog.Logger
	pool    *sql.DB
	include map[tableName]bool
	// databases are the databases of the captured tables, whose DDL statements are published.
	databases map[string]bool
	schemas   *rowSchemas

	syncer   *replication.BinlogSyncer
	streamer *replication.BinlogStreamer
	from     Position // where the stream was opened, for error messages
	flavor   flavor   // MariaDB or MySQL (flavor.go)

	// The position of the transaction being read.
	gtid       gomysql.GTIDSet // up to the last completed transaction (the flavor's kind of set)
	trackGTID  bool            // positions carry gtid: false on MySQL when the stream started by file and offset
	file       string          // current binlog file
	logPos     uint64          // end of the last event read in file (bounded.go)
	inTrx      bool            // between a transaction's GTID event and its end
	trxFile    string
	trxPos     uint64 // offset of the current transaction's GTID event
	trxGTID    string
	standalone bool           // the transaction is one statement (DDL) that ends with its Query event
	rowsEvents int            // rows events and DDL statements of the current transaction seen so far (ddl.go)
	ddlTrx     ddlTrxState    // what ddl.go needs to know of the current transaction
	discovery  tableDiscovery // tables that start or stop being captured while streaming (newtables.go)

	// skip, when resuming inside a transaction, is what the first transaction already emitted.
	skip *Position
	// delivered is set once Read returned records.
	delivered bool
	// end, in a batch run (bounded.go), is the GTID position the server had reached when the task opened:
	// once every transaction up to it was read, Read returns sources.ErrEndOfInput. Nil: no end.
	end *binlogEnd
	// lag is what the task's Lag reads (the task's reader sets its own before each Read).
	lag *binlogLag
	// beat is where a heartbeat may point and when it is due (heartbeat.go).
	beat heartbeatState
	// versions counts what the records' sluice.version headers derive from (version.go).
	versions binlogVersions
	// incr runs incremental snapshots (incremental.go, signal.go); nil: Config.SignalTable is empty.
	incr *incremental
}

// binlogLag is how far a binlog stream is behind its server, for sources.Lagger: seconds from the last
// transaction event read (its header's timestamp: when the server began writing it, with the binlog's
// one-second resolution) to now, while events are pending; 0 once the stream caught up, that is, a wait for
// the next event found none within batchWait (nothing buffered from the server); unknown before the stream
// read its first transaction event. Pending means read from the server and not yet returned, or returned
// and not yet caught up: events the server has not sent yet are not seen, as with a replica's
// Seconds_Behind_Master. Safe for use from any goroutine.
type binlogLag struct {
	streaming atomic.Bool  // a transaction event was read since the stream opened (or the task's last snapshot)
	lastEvent atomic.Int64 // unix seconds of the last transaction event read
	caughtUp  atomic.Bool
}

// Lag implements sources.Lagger for the stream.
func (l *binlogLag) Lag() (value float64, unit string, ok bool) {
	if !l.streaming.Load() {
		return 0, "seconds", false
	}
	if l.caughtUp.Load() {
		return 0, "seconds", true
	}
	return max(time.Since(time.Unix(l.lastEvent.Load(), 0)).Seconds(), 0), "seconds", true
}

// saw records an event read from the stream: a transaction event's timestamp, and that more may follow.
func (l *binlogLag) saw(ev *replication.BinlogEvent) {
	switch ev.Event.(type) {
	case *replication.MariadbGTIDEvent, *replication.RowsEvent, *replication.QueryEvent, *replication.XIDEvent,
		*replication.GTIDEvent, *replication.GtidTaggedLogEvent, *replication.TransactionPayloadEvent:
	default:
		return // rotate, format and heartbeat events carry no change time (or the binlog file's)
	}
	if ev.Header.Timestamp == 0 {
		return
	}
	l.lastEvent.Store(int64(ev.Header.Timestamp))
	l.caughtUp.Store(false)
	l.streaming.Store(true)
}

// openBinlog connects as a replica and starts the binlog at start, a stream position (see Position).
func openBinlog(ctx context.Context, cfg Config, pool *sql.DB, names []tableName, start Position) (_ *binlogReader, err error) {
	fl, err := detectFlavor(ctx, pool)
	if err != nil {
		return nil, err
	}
	dc := cfg.driverConfig()
	if dc.Net != "tcp" {
		return nil, fmt.Errorf("mysql source: DSN network %q: binlog streaming needs tcp(host:port)", dc.Net)
	}
	host, portText, err := net.SplitHostPort(dc.Addr)
	if err != nil {
		return nil, fmt.Errorf("mysql source: DSN address %q: %w", dc.Addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("mysql source: DSN port %q: %w", portText, err)
	}
	r := &binlogReader{
		cfg: cfg, log: cfg.Logger.With("connector", "mysql", "name", cfg.TopicPrefix), pool: pool,
		include: map[tableName]bool{}, databases: map[string]bool{}, from: start, file: start.File, lag: new(binlogLag),
		flavor: fl, trackGTID: !fl.mysql() || start.GTID != "",
	}
	r.schemas = newRowSchemas(cfg.TopicPrefix, pool, r.log)
	r.incr = newIncremental(ctx, cfg, pool, r.log, start.Incremental)
	for _, n := range names {
		r.include[n] = true
		r.databases[n.DB] = true
	}
	gset, err := fl.parseGTID(start.GTID)
	if err != nil {
		return nil, fmt.Errorf("mysql source: position gtid %q (%s): %w", start.GTID, fl, err)
	}
	r.gtid = gset
	if gone, err := fl.purged(ctx, pool, start); err != nil {
		return nil, err
	} else if gone {
		return nil, r.purgedError(ctx, errors.New("the server no longer has the binlog the position needs (checked before streaming: gtid_purged or SHOW BINARY LOGS)"))
	}
	if start.EventsSkip > 0 || start.RowsSkip > 0 || start.RowRecords > 0 {
		skip := start
		r.skip = &skip
	}
	r.syncer = replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:                cfg.ServerID,
		Flavor:                  fl.name,
		Host:                    host,
		Port:                    uint16(port),
		User:                    dc.User,
		Password:                dc.Passwd,
		ParseTime:               false, // dates and times as text, parsed as the snapshot's are
		UseDecimal:              false, // DECIMAL as exact text, never float
		TimestampStringLocation: time.UTC,
		DisableRetrySync:        true, // a restart resumes from the saved position, with exact skips
		HeartbeatPeriod:         30 * time.Second,
		ReadTimeout:             90 * time.Second, // three missed heartbeats: the connection is dead
		Dialer:                  fl.dialer((&net.Dialer{Timeout: cfg.ConnectTimeout}).DialContext),
		Logger:                  cfg.Logger,
		TLSConfig:               dc.TLS, // TLS options or the DSN's tls= parameter, as the queries use (tls.go)
	})
	defer func() {
		if err != nil {
			r.syncer.Close()
		}
	}()
	if start.GTID != "" {
		r.streamer, err = r.syncer.StartSyncGTID(gset.Clone())
	} else {
		r.streamer, err = r.syncer.StartSync(gomysql.Position{Name: start.File, Pos: uint32(start.Pos)})
	}
	if err != nil {
		return nil, r.explain(ctx, err)
	}
	r.log.Info("binlog streaming started", "server", fl.String(), "gtid", start.GTID, "binlog_file", start.File, "binlog_pos", start.Pos,
		"events_skip", start.EventsSkip, "rows_skip", start.RowsSkip, "row_records", start.RowRecords, "server_id", cfg.ServerID)
	return r, nil
}

// ErrPositionPurged: the binlog position to stream from is no longer on the server (its binlog files were
// purged). SnapshotWhenNeeded recovers by taking a new snapshot; the other modes fail with it, naming the
// missing position and the oldest one available.
var ErrPositionPurged = errors.New("binlog position no longer on the server")

// explain wraps the replication errors whose fix is known.
func (r *binlogReader) explain(ctx context.Context, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "1236"):
		if r.flavor.mysql() {
			if gone, cerr := r.flavor.purged(ctx, r.pool, r.from); cerr == nil && !gone {
				return r.notPurged(err) // flavor.go: Dolt's 1236 during a commit
			}
		}
		return r.purgedError(ctx, err)
	case strings.Contains(msg, "1047") && r.from.GTID == "":
		return fmt.Errorf("mysql source: %s does not serve its binlog by file and offset (COM_BINLOG_DUMP: ERROR 1047), which positions need with gtid_mode=OFF: turn gtid_mode ON (Dolt serves its binlog by GTID set only): %w", r.flavor, err)
	case strings.Contains(msg, "4052"):
		return fmt.Errorf("mysql source: another replica connected with server_id %d: give Config.ServerID a value no other replica uses: %w", r.cfg.ServerID, err)
	}
	return fmt.Errorf("mysql source: binlog stream: %w", err)
}

// purgedError is ErrPositionPurged for the stream's start position, naming the oldest position the server
// still has (flavor.oldestPosition).
func (r *binlogReader) purgedError(ctx context.Context, err error) error {
	oldest := r.flavor.oldestPosition(ctx, r.pool)
	return fmt.Errorf("mysql source: %w: gtid %q file %s pos %d (were its binlog files purged?); the oldest binlog file is %s: set SnapshotMode %q to take a new snapshot then, or reset the task's position: %w",
		ErrPositionPurged, r.from.GTID, r.from.File, r.from.Pos, oldest, SnapshotWhenNeeded, err)
}

// Read blocks until the binlog has at least one row change of a captured table, then returns the changes
// that are ready (up to about ChunkSize records, waiting at most batchWait for more).
func (r *binlogReader) Read(ctx context.Context) ([]stream.Record, error) {
	if r.reachedEnd() {
		return nil, sources.ErrEndOfInput
	}
	var recs []stream.Record
	waitCtx := ctx
	for len(recs) < r.cfg.ChunkSize && !r.reachedEnd() {
		if err := r.incrementalStep(ctx); err != nil { // the next chunk between watermarks (incremental.go)
			return nil, err
		}
		ev, err := r.awaitEvent(ctx, waitCtx, len(recs) == 0) // nextEvent, or a heartbeat when due (heartbeat.go)
		if errors.Is(err, errHeartbeatDue) {
			hb, err := r.heartbeat(ctx)
			return []stream.Record{hb}, err
		}
		if err != nil {
			if len(recs) > 0 && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, r.explain(ctx, err)
		}
		had := len(recs)
		if recs, err = r.handle(ctx, ev, recs); err != nil {
			return nil, err
		}
		if had == 0 && len(recs) > 0 {
			var cancel context.CancelFunc
			waitCtx, cancel = context.WithTimeout(ctx, batchWait)
			defer cancel()
		}
	}
	r.delivered = r.delivered || len(recs) > 0
	r.beatSent(len(recs))
	return recs, nil
}

// nextEvent returns the next event of the stream, waiting with waitCtx, and keeps r.lag: when no event
// arrives within batchWait (or within waitCtx, a batch's wait, which is as long), the stream caught up.
func (r *binlogReader) nextEvent(ctx, waitCtx context.Context) (*replication.BinlogEvent, error) {
	var ev *replication.BinlogEvent
	var err error
	if waitCtx == ctx {
		probe, cancel := context.WithTimeout(ctx, batchWait)
		ev, err = r.streamer.GetEvent(probe)
		cancel()
		// Only the probe's own timeout means "nothing yet": a stream error is returned as it is (asking
		// again would only answer go-mysql's "sync again").
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			r.lag.caughtUp.Store(true)
			ev, err = r.streamer.GetEvent(ctx)
		}
	} else if ev, err = r.streamer.GetEvent(waitCtx); errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		r.lag.caughtUp.Store(true)
	}
	if err == nil {
		r.lag.saw(ev)
	}
	return ev, err
}

// handle tracks the position through ev and appends the records of its rows.
func (r *binlogReader) handle(ctx context.Context, ev *replication.BinlogEvent, recs []stream.Record) ([]stream.Record, error) {
	if ev.Header.LogPos > 0 {
		r.logPos = uint64(ev.Header.LogPos) // the end of this event; a rotation starts the next file
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		r.file, r.logPos = rotateName(ev, e), e.Position
	case *replication.MariadbGTIDEvent:
		r.trxFile, r.trxPos = r.file, uint64(ev.Header.LogPos)-uint64(ev.Header.EventSize)
		r.trxGTID = e.GTID.String()
		r.standalone = e.IsStandalone()
		r.rowsEvents = 0
		r.ddlTrx.mariadb = true
		r.inTrx = true
	case *replication.GTIDEvent:
		return recs, r.mysqlTransaction(ev, e)
	case *replication.GtidTaggedLogEvent:
		return recs, r.mysqlTransaction(ev, &e.GTIDEvent)
	case *replication.TransactionPayloadEvent:
		return r.payload(ctx, ev, e, recs) // flavor.go: MySQL 8.0.20+ binlog transaction compression
	case *replication.XIDEvent:
		return recs, r.commit()
	case *replication.QueryEvent:
		return r.query(ev, e, recs) // ddl.go: COMMIT, BEGIN, DDL statements
	case *replication.RowsEvent:
		return r.rows(ctx, ev, e, recs)
	}
	return recs, nil
}

// commit ends the current transaction: its GTID joins the completed position.
func (r *binlogReader) commit() error {
	if r.trxGTID != "" && r.trackGTID {
		if err := r.gtid.Update(r.trxGTID); err != nil {
			return fmt.Errorf("mysql source: gtid %s: %w", r.trxGTID, err)
		}
	}
	r.trxGTID, r.standalone, r.rowsEvents, r.skip, r.inTrx = "", false, 0, nil, false
	r.ddlTrx = ddlTrxState{}
	return nil
}

// rows appends the records of a rows event of a captured table, skipping what a resumed position says was
// emitted.
func (r *binlogReader) rows(ctx context.Context, ev *replication.BinlogEvent, e *replication.RowsEvent, recs []stream.Record) ([]stream.Record, error) {
	idx := r.rowsEvents
	r.rowsEvents++
	verBase := r.rowsEvent(ev, e) // version.go: counted for every rows event, captured or not
	if r.skip != nil && idx < r.skip.EventsSkip {
		return recs, nil
	}
	name := tableName{DB: string(e.Table.Schema), Table: string(e.Table.Table)}
	if r.incr != nil && name == r.incr.signal { // signals and watermarks, never published (signal.go)
		return r.signalRows(ctx, ev, e, idx, recs)
	}
	first := len(recs)
	if !r.captured(name) { // newtables.go: a new table matching Config.Tables is captured from here on
		return recs, nil
	}
	t, err := r.schemas.forTableMap(ctx, name, e.Table)
	if err != nil {
		return nil, err
	}
	rowSkip, recordSkip := 0, 0
	if r.skip != nil && idx == r.skip.EventsSkip {
		rowSkip, recordSkip = r.skip.RowsSkip, r.skip.RowRecords
	}
	op := e.Type()
	step := 1
	if op == replication.EnumRowsEventTypeUpdate {
		step = 2
	}
	ch := change{
		t: t, serverID: int64(ev.Header.ServerID), ts: time.Unix(int64(ev.Header.Timestamp), 0), now: time.Now(),
		gtid: r.trxGTID, file: r.trxFile, pos: int64(ev.Header.LogPos) - int64(ev.Header.EventSize),
	}
	position := Position{Phase: PhaseStream, GTID: r.gtid.String(), File: r.trxFile, Pos: r.trxPos, EventsSkip: idx,
		Incremental: r.incr.position(), TS: int64(ev.Header.Timestamp)}
	for j := 0; j*step < len(e.Rows); j++ {
		if j < rowSkip {
			continue
		}
		var before, after []any
		switch op {
		case replication.EnumRowsEventTypeInsert:
			after = e.Rows[j]
		case replication.EnumRowsEventTypeUpdate:
			before, after = e.Rows[2*j], e.Rows[2*j+1]
		case replication.EnumRowsEventTypeDelete:
			before = e.Rows[j]
		default:
			return nil, fmt.Errorf("mysql source: %s: rows event of unknown type %s", name, ev.Header.EventType)
		}
		ch.row = int32(j)
		out, err := ch.records(before, after, r.cfg.tombstones())
		if err != nil {
			return nil, err
		}
		for k := range out {
			if j == rowSkip && k < recordSkip {
				continue
			}
			p := position
			p.RowsSkip, p.RowRecords = j, k+1
			if k == len(out)-1 {
				p.RowsSkip, p.RowRecords = j+1, 0
			}
			if out[k].Position, err = json.Marshal(p); err != nil {
				return nil, fmt.Errorf("mysql source: position: %w", err)
			}
			r.setVersion(&out[k], verBase, j, k) // version.go: the sluice.version header
			recs = append(recs, out[k])
		}
	}
	r.incr.sawRows(name, recs[first:]) // a streamed change wins over the chunk's copy (incremental.go)
	return recs, nil
}

// Close disconnects the replica.
func (r *binlogReader) Close() error {
	r.syncer.Close()
	return nil
}

// change builds the records of one binlog row.
type change struct {
	t        *table
	serverID int64
	ts, now  time.Time
	gtid     string
	file     string
	pos      int64
	row      int32
}

// records returns the records of one row: c for an insert; u for an update; d and a tombstone for a delete;
// d, tombstone and c for an update that changes the primary key (as Debezium does).
func (c *change) records(beforeRaw, afterRaw []any, tombstones bool) ([]stream.Record, error) {
	before, err := c.image(beforeRaw)
	if err != nil {
		return nil, err
	}
	after, err := c.image(afterRaw)
	if err != nil {
		return nil, err
	}
	var beforeKey, afterKey *stream.Struct
	if before != nil {
		if beforeKey, err = c.t.key(before); err != nil {
			return nil, err
		}
	}
	if after != nil {
		if afterKey, err = c.t.key(after); err != nil {
			return nil, err
		}
	}
	var out []stream.Record
	del := func() error {
		rec, err := c.record(stream.OpDelete, beforeKey, before, nil)
		if err != nil {
			return err
		}
		out = append(out, rec)
		if tombstones && beforeKey != nil { // no tombstone for a keyless table's null key (keyless.go)
			out = append(out, stream.Record{Topic: rec.Topic, KeySchema: c.t.keySchema, Key: beforeKey, Timestamp: c.ts, Operation: stream.OpDelete})
		}
		return nil
	}
	switch {
	case before == nil:
		rec, err := c.record(stream.OpCreate, afterKey, nil, after)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	case after == nil:
		if err := del(); err != nil {
			return nil, err
		}
	default:
		if sameKey(beforeKey, afterKey) {
			rec, err := c.record(stream.OpUpdate, afterKey, before, after)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
			break
		}
		if err := del(); err != nil {
			return nil, err
		}
		rec, err := c.record(stream.OpCreate, afterKey, nil, after)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func sameKey(a, b *stream.Struct) bool {
	if a == nil && b == nil {
		return true // a keyless table's update (keyless.go)
	}
	ka, err1 := stream.KeyString(a)
	kb, err2 := stream.KeyString(b)
	return err1 == nil && err2 == nil && ka == kb
}

// image converts a binlog row image (nil: none) into the table's value struct.
func (c *change) image(raw []any) (*stream.Struct, error) {
	if raw == nil {
		return nil, nil
	}
	t := c.t
	if len(raw) != len(t.columns) {
		return nil, fmt.Errorf("mysql source: %s: binlog row of %d columns, its TableMap has %d", t.name, len(raw), len(t.columns))
	}
	v := mustStruct(t.valueSchema)
	for i, val := range raw {
		ct := &t.columns[i]
		conv, err := ct.convertBinlog(val)
		if err == nil {
			err = v.Put(ct.Name, conv)
		}
		if err != nil {
			return nil, fmt.Errorf("mysql source: %s: binlog row: %w", t.name, err)
		}
	}
	return v, nil
}

// record builds the change event op of the row.
func (c *change) record(op stream.Operation, key, before, after *stream.Struct) (stream.Record, error) {
	t := c.t
	src := mustStruct(sourceSchema)
	var gtid any
	if c.gtid != "" {
		gtid = c.gtid
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"version", Version}, {"connector", "mysql"}, {"name", c.cfgName()}, {"ts_ms", c.ts.UnixMilli()},
		{"snapshot", "false"}, {"db", t.name.DB}, {"table", t.name.Table}, {"server_id", c.serverID},
		{"gtid", gtid}, {"file", c.file}, {"pos", c.pos}, {"row", c.row}} {
		if err := src.Put(f.name, f.v); err != nil {
			return stream.Record{}, fmt.Errorf("mysql source: %s: source block: %w", t.name, err)
		}
	}
	env := mustStruct(t.envelopeSchema)
	var b, a any
	if before != nil {
		b = before
	}
	if after != nil {
		a = after
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"before", b}, {"after", a}, {"source", src}, {"op", op.String()}, {"ts_ms", c.now.UnixMilli()}} {
		if err := env.Put(f.name, f.v); err != nil {
			return stream.Record{}, fmt.Errorf("mysql source: %s: envelope: %w", t.name, err)
		}
	}
	return stream.Record{
		Topic:       t.topic,
		KeySchema:   t.keySchema,
		Key:         recordKey(key), // nil for a keyless table (keyless.go)
		ValueSchema: t.envelopeSchema,
		Value:       env,
		Timestamp:   c.ts,
		Operation:   op,
	}, nil
}

func (c *change) cfgName() string { return c.t.prefix }

// key returns the message-key struct of a row (nil for a keyless table).
func (t *table) key(row *stream.Struct) (*stream.Struct, error) {
	if t.keyless() {
		return nil, nil
	}
	key := mustStruct(t.keySchema)
	for _, c := range t.pk {
		name := t.columns[c].Name
		if err := key.Put(name, row.Get(name)); err != nil {
			return nil, fmt.Errorf("mysql source: %s: key: %w", t.name, err)
		}
	}
	return key, nil
}

// currentBinlogPosition returns the server's current binlog position (flavor.currentPosition: MariaDB's
// SHOW MASTER STATUS and BINLOG_GTID_POS, MySQL's status statement and Executed_Gtid_Set), where never
// starts streaming.
func currentBinlogPosition(ctx context.Context, pool *sql.DB) (BinlogPosition, error) {
	fl, err := detectFlavor(ctx, pool)
	if err != nil {
		return BinlogPosition{}, err
	}
	return fl.currentPosition(ctx, pool)
}
