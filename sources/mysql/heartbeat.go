package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/stream"
)

// Schemas of the heartbeat records, as Debezium names them (io.debezium.heartbeat): the key names the
// logical server (TopicPrefix), the value carries the time the heartbeat was made.
var (
	heartbeatKeySchema = stream.NewStruct("io.debezium.connector.common.ServerNameKey").
				Field("serverName", stream.StringSchema()).
				MustBuild()
	heartbeatValueSchema = stream.NewStruct("io.debezium.connector.common.Heartbeat").
				Field("ts_ms", stream.Int64Schema()).
				MustBuild()
)

// heartbeatTopicPrefix starts the heartbeat topic's name; Debezium's is "__debezium-heartbeat.".
const heartbeatTopicPrefix = "__sluice-heartbeat."

// HeartbeatTopic returns the topic of the source's heartbeat records: "__sluice-heartbeat.<TopicPrefix>"
// (Debezium's is "__debezium-heartbeat.<topic.prefix>"). With Config.HeartbeatInterval set, declare it in
// the topology beside the tables' topics: a heartbeat for an undeclared topic fails the task.
func (s *Source) HeartbeatTopic() string { return heartbeatTopicPrefix + s.cfg.TopicPrefix }

// errHeartbeatDue is what awaitEvent returns when the reader should emit a heartbeat instead of waiting
// longer for an event.
var errHeartbeatDue = errors.New("heartbeat due")

// heartbeatQueryTimeout bounds one run of Config.HeartbeatQuery (at most the interval).
const heartbeatQueryTimeout = 10 * time.Second

// heartbeatState follows the binlog stream to know where a heartbeat may point: the end of the last
// completed transaction (or of the last event seen between transactions), never into one.
type heartbeatState struct {
	// inTrx: a transaction's first event (its GTID event or BEGIN) was read and not yet its last.
	inTrx bool
	// gtidSeen: a GTID event was read, and the statement after it decides whether a BEGIN follows (a DDL
	// statement is a transaction of its own, without BEGIN).
	gtidSeen bool
	// pos: the offset, in the reader's current binlog file (binlogReader.file, which the reader's handling of
	// Rotate events keeps), just past the last complete transaction (or the last event read between
	// transactions).
	pos uint64
	// ts is the binlog time (unix seconds) of the last event read that carries one.
	ts int64
	// due is when the next heartbeat is due, unless records are emitted before.
	due time.Time
	// started: the state was initialised from the stream's start.
	started bool
}

// beatInit starts the heartbeat state at the stream's start position: between transactions unless the
// start skips into one.
func (r *binlogReader) beatInit() {
	b := &r.beat
	if b.started {
		return
	}
	b.started = true
	b.pos = r.from.Pos
	b.inTrx = r.skip != nil // resuming inside a transaction: no heartbeat until it ends
	b.due = time.Now().Add(r.cfg.HeartbeatInterval)
}

// beatObserve follows ev (already handled) through the transaction structure of the stream.
func (r *binlogReader) beatObserve(ev *replication.BinlogEvent) {
	b := &r.beat
	end := uint64(ev.Header.LogPos)
	if ev.Header.Timestamp != 0 {
		b.ts = int64(ev.Header.Timestamp)
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		if !b.inTrx && !b.gtidSeen {
			b.pos = e.Position
		}
		return
	case *replication.MariadbGTIDEvent:
		// MariaDB writes no BEGIN: the transaction ends with its XID or COMMIT, a standalone one (DDL) with
		// its statement.
		b.gtidSeen, b.inTrx = e.IsStandalone(), true
		return
	case *replication.GTIDEvent:
		b.gtidSeen, b.inTrx = true, true // MySQL: BEGIN follows, unless the statement is its own transaction
		return
	case *replication.XIDEvent, *replication.TransactionPayloadEvent:
		b.gtidSeen, b.inTrx = false, false
	case *replication.QueryEvent:
		q := strings.ToUpper(strings.TrimSpace(string(e.Query)))
		switch {
		case q == "BEGIN":
			b.gtidSeen, b.inTrx = false, true
			return
		case q == "COMMIT":
			b.gtidSeen, b.inTrx = false, false
		case b.gtidSeen || !b.inTrx:
			// A statement of its own (DDL): it ends its transaction.
			b.gtidSeen, b.inTrx = false, false
		default:
			return // a statement inside a transaction
		}
	case *replication.HeartbeatEvent:
		if b.inTrx || b.gtidSeen {
			return
		}
		if e.Offset > 0 { // HEARTBEAT_LOG_EVENT_V2 carries it in its body
			end = e.Offset
		}
	default:
		if b.inTrx || b.gtidSeen {
			return
		}
	}
	if end > 0 {
		b.pos = end
	}
}

// beatSent notes that Read returns n records: the next heartbeat is due an interval after them.
func (r *binlogReader) beatSent(n int) {
	if n > 0 && r.cfg.HeartbeatInterval > 0 {
		r.beat.due = time.Now().Add(r.cfg.HeartbeatInterval)
	}
}

// awaitEvent is nextEvent with heartbeats (Config.HeartbeatInterval): while Read has no record yet and
// the stream is between transactions, it waits for the next event at most until the heartbeat is due, and
// then returns errHeartbeatDue. Inside a transaction it waits for the transaction's next event, since a
// heartbeat may not point into a transaction.
func (r *binlogReader) awaitEvent(ctx, waitCtx context.Context, empty bool) (*replication.BinlogEvent, error) {
	if r.cfg.HeartbeatInterval <= 0 {
		return r.nextEvent(ctx, waitCtx)
	}
	r.beatInit()
	if !empty || r.beat.inTrx || r.beat.gtidSeen {
		ev, err := r.nextEvent(ctx, waitCtx)
		if err == nil {
			r.beatObserve(ev)
		}
		return ev, err
	}
	wait := time.Until(r.beat.due)
	if wait <= 0 {
		return nil, errHeartbeatDue
	}
	dctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ev, err := r.nextEvent(dctx, dctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, errHeartbeatDue
	}
	if err == nil {
		r.beatObserve(ev)
	}
	return ev, err
}

// heartbeat returns the heartbeat record due now: topic HeartbeatTopic, key {serverName: TopicPrefix},
// value {ts_ms: now}, and as position the stream's: the GTID position of the last completed transaction
// and the binlog file and offset just past it (or past the last event read between transactions), with
// nothing to skip, so that the engine saves it once Kafka acknowledged the heartbeat. It first runs
// Config.HeartbeatQuery, if set, so that a server without any other traffic writes binlog events that the
// next heartbeat's position includes; a failure of the query is logged, and the heartbeat is sent.
func (r *binlogReader) heartbeat(ctx context.Context) (stream.Record, error) {
	if r.cfg.HeartbeatQuery != "" {
		qctx, cancel := context.WithTimeout(ctx, min(r.cfg.HeartbeatInterval, heartbeatQueryTimeout))
		_, err := r.pool.ExecContext(qctx, r.cfg.HeartbeatQuery)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Warn("mysql source: HeartbeatQuery failed; the heartbeat is sent all the same", "query", r.cfg.HeartbeatQuery, "error", err)
		}
	}
	now := time.Now()
	r.beat.due = now.Add(r.cfg.HeartbeatInterval)
	key := mustStruct(heartbeatKeySchema)
	if err := key.Put("serverName", r.cfg.TopicPrefix); err != nil {
		return stream.Record{}, fmt.Errorf("mysql source: heartbeat key: %w", err)
	}
	value := mustStruct(heartbeatValueSchema)
	if err := value.Put("ts_ms", now.UnixMilli()); err != nil {
		return stream.Record{}, fmt.Errorf("mysql source: heartbeat value: %w", err)
	}
	pos, err := json.Marshal(Position{Phase: PhaseStream, GTID: r.gtid.String(), File: r.file, Pos: r.beat.pos,
		Incremental: r.incr.position(), TS: r.beat.ts})
	if err != nil {
		return stream.Record{}, fmt.Errorf("mysql source: position: %w", err)
	}
	return stream.Record{
		Topic:       heartbeatTopicPrefix + r.cfg.TopicPrefix,
		KeySchema:   heartbeatKeySchema,
		Key:         key,
		ValueSchema: heartbeatValueSchema,
		Value:       value,
		Timestamp:   now,
		Operation:   stream.OpNone,
		Position:    pos,
	}, nil
}

// RequiredTopics names the heartbeat topic when heartbeats are on (sources.TopicRequirer), so that a
// topology that does not declare it fails at Validate, naming HeartbeatTopic, instead of at the first
// heartbeat.
func (s *Source) RequiredTopics() map[string]string {
	if s.cfg.HeartbeatInterval <= 0 {
		return nil
	}
	return map[string]string{s.HeartbeatTopic(): "the MySQL source's HeartbeatTopic: Config.HeartbeatInterval is set"}
}
