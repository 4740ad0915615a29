package mysql

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// TestHeartbeatFollowsServer: a quiet captured table while another, uncaptured database changes, heartbeats
// at 1 s, through a topology on the embedded broker: the saved position (read as `sluice positions` reads
// it) follows the server's GTID position within two intervals, every second for 8 s (make test's budget;
// TestHeartbeatLongQuietTable runs 10 minutes); the heartbeat
// records have Debezium's shape.
func TestHeartbeatFollowsServer(t *testing.T) {
	heartbeatRun(t, "e_hb1", time.Second, 8*time.Second, time.Second)
}

// TestHeartbeatLongQuietTable is the acceptance 5 (SLUICE_TEST_LONG=1): a quiet table for 10
// minutes with heartbeats at 10 s; the saved position follows the server, checked every minute.
func TestHeartbeatLongQuietTable(t *testing.T) {
	if os.Getenv("SLUICE_TEST_LONG") != "1" {
		t.Skip("takes 10 minutes: run with SLUICE_TEST_LONG=1 (make test-long)")
	}
	heartbeatRun(t, "e_hblong", 10*time.Second, 10*time.Minute, time.Minute)
}

// heartbeatRun runs the pipeline for run, checking the saved position every check.
func heartbeatRun(t *testing.T, db string, interval, run, check time.Duration) {
	other := db + "_other"
	server.CreateDatabase(t, db)
	server.CreateDatabase(t, other)
	server.Exec(t, "CREATE TABLE "+db+".quiet (id INT PRIMARY KEY, v INT)", "INSERT INTO "+db+".quiet VALUES (1, 1)",
		"CREATE TABLE "+other+".busy (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")

	brokers := testkit.Brokers(t, 1)
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{db + ".quiet"},
		TopicPrefix: db, SchemaChanges: new(bool), HeartbeatInterval: interval, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got, want := src.HeartbeatTopic(), "__sluice-heartbeat."+db; got != want {
		t.Fatalf("HeartbeatTopic() = %q, want %q", got, want)
	}
	pipeline := "hb-" + db
	tp := topology.New(pipeline)
	tp.Topic(src.Topic(db+".quiet"), topology.KeyCodec("json"), topology.ValueCodec("json"))
	hbTopic := tp.Topic(src.HeartbeatTopic(), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	tp.Source("cdc", src).ToRecordTopics()
	beats := &recordingSink{}
	tp.Flow("beats").From(hbTopic).To(beats)

	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = brokers, testkit.FreeAddr(t), quiet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()

	// The uncaptured database changes all the time; the server's GTID position is sampled with its time.
	type sample struct {
		at  time.Time
		seq uint64
	}
	var mu sync.Mutex
	var samples []sample
	writeCtx, stopWriting := context.WithCancel(ctx)
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		for writeCtx.Err() == nil {
			if _, err := server.DB().ExecContext(writeCtx, "INSERT INTO "+other+".busy (v) VALUES (1)"); err != nil && writeCtx.Err() == nil {
				t.Errorf("insert into %s.busy: %v", other, err)
				return
			}
			var pos string
			if err := server.DB().QueryRowContext(writeCtx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err == nil {
				mu.Lock()
				samples = append(samples, sample{time.Now(), hbSeq(t, pos)})
				mu.Unlock()
			}
			select {
			case <-writeCtx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	defer func() { stopWriting(); writers.Wait() }()
	serverSeqAt := func(at time.Time) (uint64, bool) {
		mu.Lock()
		defer mu.Unlock()
		var seq uint64
		found := false
		for _, s := range samples {
			if s.at.After(at) {
				break
			}
			seq, found = s.seq, true
		}
		return seq, found
	}
	savedSeq := func() (uint64, string) {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		states, err := topology.Positions(pctx, brokers, pipeline, "cdc")
		if err != nil {
			t.Fatalf("positions: %v", err)
		}
		st, ok := states[src.TaskKey()]
		if !ok || len(st.Position) == 0 {
			return 0, ""
		}
		var p Position
		if err := json.Unmarshal(st.Position, &p); err != nil {
			t.Fatalf("saved position %s: %v", st.Position, err)
		}
		return hbSeq(t, p.GTID), string(st.Position)
	}

	// Wait for the first heartbeat, then check the saved position every check for run.
	deadline := time.Now().Add(30 * time.Second)
	for len(beats.records()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat within 30 s (heartbeats every %s)", interval)
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("pipeline stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	end := time.Now().Add(run)
	checks, worst := 0, time.Duration(0)
	for time.Now().Before(end) {
		select {
		case <-time.After(check):
		case err := <-done:
			done <- err
			t.Fatalf("pipeline stopped: %v", err)
		}
		now := time.Now()
		saved, raw := savedSeq()
		want, ok := serverSeqAt(now.Add(-2 * interval))
		if !ok {
			continue
		}
		checks++
		if saved < want {
			t.Errorf("at %s: saved position %s is behind the server's position of two intervals earlier (sequence %d)", now.Format(time.TimeOnly), raw, want)
		}
		// How far behind the server the saved position is, in time: the newest sample it covers.
		mu.Lock()
		for i := len(samples) - 1; i >= 0; i-- {
			if samples[i].seq <= saved {
				worst = max(worst, now.Sub(samples[i].at))
				break
			}
		}
		mu.Unlock()
	}
	if checks == 0 {
		t.Fatal("no check ran")
	}
	t.Logf("%d checks over %s: the saved position was at most %s behind the server (heartbeats every %s)", checks, run, worst.Round(time.Millisecond), interval)

	// The heartbeats are Debezium's: key {serverName}, value {ts_ms}, no operation.
	recs := beats.records()
	hb := recs[len(recs)-1]
	key, _ := hb.Key.(*stream.Struct)
	value, _ := hb.Value.(*stream.Struct)
	if key == nil || value == nil {
		t.Fatalf("heartbeat key %T, value %T: want structs", hb.Key, hb.Value)
	}
	name, _ := key.GetString("serverName")
	ts, _ := value.Get("ts_ms").(int64)
	if key.Schema().Name != "io.debezium.connector.common.ServerNameKey" || value.Schema().Name != "io.debezium.connector.common.Heartbeat" {
		t.Errorf("heartbeat schemas %q and %q, want Debezium's", key.Schema().Name, value.Schema().Name)
	}
	if name != db || time.Since(time.UnixMilli(ts)) > 2*interval+5*time.Second || hb.Topic != src.HeartbeatTopic() {
		t.Errorf("heartbeat %s: key %v, value %v; want serverName %q and a recent ts_ms", hb.Topic, key, value, db)
	}
	if len(recs) < int(run/interval)/2 {
		t.Errorf("%d heartbeats in %s at %s intervals", len(recs), run, interval)
	}
}

// hbSeq returns the sequence number of the (single-domain) MariaDB GTID position pos, "0-1-42".
func hbSeq(t testing.TB, pos string) uint64 {
	t.Helper()
	if pos == "" {
		return 0
	}
	var best uint64
	for _, g := range strings.Split(pos, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		n, err := strconv.ParseUint(parts[len(parts)-1], 10, 64)
		if err != nil {
			t.Fatalf("GTID position %q: %v", pos, err)
		}
		best = max(best, n)
	}
	return best
}

// TestHeartbeatQuietServer: with no event at all on the server, Read still returns a heartbeat every
// interval (it does not block in the binlog past it); HeartbeatQuery writes to an uncaptured table, so the
// next heartbeat's position is past that write; no heartbeat points into a transaction.
func TestHeartbeatQuietServer(t *testing.T) {
	server.CreateDatabase(t, "e_hbq")
	server.CreateDatabase(t, "e_hbq_beat")
	server.Exec(t, "CREATE TABLE e_hbq.t (id INT PRIMARY KEY)", "CREATE TABLE e_hbq_beat.beat (id INT PRIMARY KEY, ts DATETIME(6))")
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"e_hbq.t"}, SnapshotMode: SnapshotNever,
		HeartbeatInterval: 300 * time.Millisecond,
		HeartbeatQuery:    "INSERT INTO e_hbq_beat.beat (id, ts) VALUES (1, NOW(6)) ON DUPLICATE KEY UPDATE ts = NOW(6)",
		Logger:            quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := openTask(t, src, nil)
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var last Position
	for i := 0; i < 4; i++ {
		start := time.Now()
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
		if len(recs) != 1 || recs[0].Topic != src.HeartbeatTopic() {
			t.Fatalf("Read %d: %d records, first on %q; want one heartbeat", i, len(recs), recs[0].Topic)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Read %d took %s with heartbeats every 300ms", i, took)
		}
		var p Position
		if err := json.Unmarshal(recs[0].Position, &p); err != nil {
			t.Fatal(err)
		}
		if p.Phase != PhaseStream || p.EventsSkip != 0 || p.RowsSkip != 0 || p.RowRecords != 0 {
			t.Errorf("heartbeat position %s: want a stream position with nothing to skip", recs[0].Position)
		}
		if i >= 2 && hbSeq(t, p.GTID) <= hbSeq(t, last.GTID) {
			t.Errorf("heartbeat %d position %s did not move past the HeartbeatQuery's write (previous %+v)", i, recs[0].Position, last)
		}
		last = p
	}
	var now string
	if err := server.DB().QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&now); err != nil {
		t.Fatal(err)
	}
	if hbSeq(t, last.GTID)+1 < hbSeq(t, now) {
		t.Errorf("last heartbeat at %s, server at %s", last.GTID, now)
	}

	// Reopened at a heartbeat's position, the stream resumes there: a new row arrives, nothing fails.
	r2 := openTask(t, src, mustJSON(last))
	defer r2.Close()
	server.Exec(t, "INSERT INTO e_hbq.t VALUES (7)")
	readUntil(t, r2, isRow("e_hbq.t", "7"))
}

// TestHeartbeatTopicMustBeDeclared: with heartbeats on, a topology that does not declare the heartbeat topic
// fails Validate, naming HeartbeatTopic; with heartbeats off it does not need it.
func TestHeartbeatTopicMustBeDeclared(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Second} {
		src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"e_x.t"}, HeartbeatInterval: interval, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		tp := topology.New("hb-declare")
		tp.Topic(src.Topic("e_x.t"), topology.KeyCodec("json"), topology.ValueCodec("json"))
		tp.Topic(src.SchemaChangeTopic(), topology.KeyCodec("json"), topology.ValueCodec("json"))
		tp.Source("cdc", src).ToRecordTopics()
		err = tp.Validate()
		switch {
		case interval == 0 && err != nil:
			t.Errorf("heartbeats off: Validate: %v", err)
		case interval > 0 && (err == nil || !strings.Contains(err.Error(), `"`+src.HeartbeatTopic()+`" is not declared`) || !strings.Contains(err.Error(), "HeartbeatTopic")):
			t.Errorf("heartbeats on, topic not declared: Validate: %v; want an error naming %s and HeartbeatTopic", err, src.HeartbeatTopic())
		case interval > 0:
			t.Logf("Validate: %v", err)
		}
	}
	for _, cfg := range []Config{
		{HeartbeatInterval: -time.Second},
		{HeartbeatInterval: time.Millisecond},
		{HeartbeatQuery: "SELECT 1"},
	} {
		cfg.DSN, cfg.ServerID, cfg.Tables = server.DSN(""), 1, []string{"e_x.t"}
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Heartbeat") {
			t.Errorf("New(%+v): %v; want an error naming the heartbeat field", cfg, err)
		}
	}
}

// TestHeartbeatPositionTracking: where a heartbeat may point, event by event: never into a transaction
// (MariaDB's, without BEGIN; MySQL's, with BEGIN), past a standalone DDL statement, past the server's
// binlog heartbeats and rotations.
func TestHeartbeatPositionTracking(t *testing.T) {
	r := &binlogReader{cfg: Config{HeartbeatInterval: time.Second}, from: Position{File: "bin.000001", Pos: 100}, file: "bin.000001"}
	r.beatInit()
	ev := func(e replication.Event, logPos uint32) *replication.BinlogEvent {
		if rot, ok := e.(*replication.RotateEvent); ok {
			r.file = string(rot.NextLogName) // what the reader's handle does
		}
		return &replication.BinlogEvent{Header: &replication.EventHeader{LogPos: logPos, Timestamp: 1700000000}, Event: e}
	}
	idle := func(want string, wantPos uint64) {
		t.Helper()
		b := r.beat
		if b.inTrx || b.gtidSeen || r.file != want || b.pos != wantPos {
			t.Fatalf("state %+v; want idle at %s:%d", b, want, wantPos)
		}
	}
	busy := func() {
		t.Helper()
		if !r.beat.inTrx && !r.beat.gtidSeen {
			t.Fatalf("state %+v; want inside a transaction", r.beat)
		}
	}
	idle("bin.000001", 100)
	for _, step := range []struct {
		e      replication.Event
		logPos uint32
		check  func()
	}{
		{&replication.MariadbGTIDEvent{}, 150, busy},                       // MariaDB transaction: no BEGIN
		{&replication.TableMapEvent{}, 200, busy},                          //
		{&replication.QueryEvent{Query: []byte("SAVEPOINT x")}, 230, busy}, // a statement inside it
		{&replication.RowsEvent{}, 300, busy},                              //
		{&replication.XIDEvent{}, 331, func() { idle("bin.000001", 331) }}, // committed
		{&replication.HeartbeatEvent{Filename: "bin.000001"}, 400, func() { idle("bin.000001", 400) }},
		{&replication.MariadbGTIDEvent{Flags: replication.BINLOG_MARIADB_FL_STANDALONE}, 450, busy},
		{&replication.QueryEvent{Query: []byte("CREATE TABLE t (id INT)")}, 500, func() { idle("bin.000001", 500) }},
		{&replication.RotateEvent{NextLogName: []byte("bin.000002"), Position: 4}, 0, func() { idle("bin.000002", 4) }},
		{&replication.FormatDescriptionEvent{}, 256, func() { idle("bin.000002", 256) }},
		{&replication.GTIDEvent{}, 300, busy},                                       // MySQL: BEGIN follows
		{&replication.QueryEvent{Query: []byte("BEGIN")}, 350, busy},                //
		{&replication.RowsEvent{}, 400, busy},                                       //
		{&replication.HeartbeatEvent{Filename: "bin.000002", Offset: 999}, 0, busy}, // not past the transaction
		{&replication.XIDEvent{}, 431, func() { idle("bin.000002", 431) }},
		{&replication.GTIDEvent{}, 480, busy}, // MySQL DDL: no BEGIN
		{&replication.QueryEvent{Query: []byte("DROP TABLE t")}, 520, func() { idle("bin.000002", 520) }},
		{&replication.HeartbeatEvent{Filename: "bin.000002", Offset: 777}, 0, func() { idle("bin.000002", 777) }},
	} {
		r.beatObserve(ev(step.e, step.logPos))
		step.check()
	}
}

// TestMySQL8Heartbeats (SLUICE_TEST_MYSQL8=1, on Dolt): on MySQL's binlog (UUID GTID sets, BEGIN after each
// GTID event) heartbeats come every interval on a quiet server, their positions carry the server's GTID
// set and move past the HeartbeatQuery's writes to an uncaptured table, and a task reopened at a
// heartbeat's position streams on from there.
func TestMySQL8Heartbeats(t *testing.T) {
	srv := startMySQL8(t)
	srv.CreateDatabase(t, "e_m8hb")
	srv.Exec(t, "CREATE TABLE e_m8hb.t (id INT PRIMARY KEY)", "CREATE TABLE e_m8hb.beat (id INT PRIMARY KEY, ts DATETIME(6))")
	off := false
	src, err := New(Config{DSN: srv.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"e_m8hb.t"}, SnapshotMode: SnapshotNever,
		SchemaChanges: &off, HeartbeatInterval: 500 * time.Millisecond,
		HeartbeatQuery: "INSERT INTO e_m8hb.beat (id, ts) VALUES (1, NOW(6)) ON DUPLICATE KEY UPDATE ts = NOW(6)",
		Logger:         quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := openTask(t, src, nil)
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var positions []Position
	for len(positions) < 4 {
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(recs) != 1 || recs[0].Topic != src.HeartbeatTopic() {
			t.Fatalf("%d records, first on %q; want one heartbeat", len(recs), recs[0].Topic)
		}
		var p Position
		if err := json.Unmarshal(recs[0].Position, &p); err != nil {
			t.Fatal(err)
		}
		positions = append(positions, p)
	}
	first, last := positions[0], positions[len(positions)-1]
	if !uuidGTIDSet.MatchString(last.GTID) || last.GTID == first.GTID || last.EventsSkip != 0 || !strings.HasSuffix(last.File, ".000001") {
		t.Fatalf("heartbeat positions %+v: want UUID GTID sets that move past the HeartbeatQuery's writes", positions)
	}
	t.Logf("heartbeat positions from %+v to %+v", first, last)
	r2 := openTask(t, src, mustJSON(last))
	defer r2.Close()
	srv.Exec(t, "INSERT INTO e_m8hb.t VALUES (7)")
	readUntil(t, r2, isRow("e_m8hb.t", "7"))
}
