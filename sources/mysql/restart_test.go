package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// TestServerRestartIsWaitedOut stops the MariaDB server of a running CDC pipeline while streamed changes
// are still pending in its binlog, keeps it down for 10 s and starts it again on the same data directory and
// port: the pipeline stays up, warns that the source waits for its server, reopens the task at its saved
// position, and every row (the snapshot's, those inserted before the stop, those inserted after the
// restart) arrives through Kafka; duplicates are allowed.
func TestServerRestartIsWaitedOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv, err := mariadbtest.Launch(mariadbtest.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	current := srv
	t.Cleanup(func() { current.Stop() })
	srv.CreateDatabase(t, "restart")
	srv.Exec(t, "CREATE TABLE restart.items (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL)")
	const snapshotRows, beforeStop, afterRestart = 100, 300, 100
	var values []string
	for i := 1; i <= snapshotRows; i++ {
		values = append(values, fmt.Sprintf("(%d, 'snapshot')", i))
	}
	srv.Exec(t, "INSERT INTO restart.items VALUES "+strings.Join(values, ", "))

	log := &testkit.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	off := false
	src, err := New(Config{DSN: srv.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"restart.*"},
		SnapshotMode: SnapshotInitial, SchemaChanges: &off, ChunkSize: 64, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// Slow streamed changes down, so that inserts are still pending in the binlog when the server stops.
	slow := stages.Map("slow", func(r stream.Record) (stream.Record, error) {
		if r.Operation != stream.OpRead {
			time.Sleep(10 * time.Millisecond)
		}
		return r, nil
	})
	tp := topology.New("mysql-restart")
	items := tp.Topic(src.Topic("restart.items"), topology.KeyCodec("json"), topology.ValueCodec("json"))
	tp.Source("cdc", src).Via(slow).To(items)
	sink := &recordingSink{}
	tp.Flow("collect").From(items).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger, cfg.RetryTimeout = testkit.Brokers(t, 1), "off", logger, 2*time.Minute
	cfg.StallTimeout = 3 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		done <- tp.RunWith(ctx, cfg)
		close(finished)
	}()
	defer func() {
		cancel()
		<-finished
	}()

	ids := func() (distinct, total int, has func(int) bool) {
		seen := map[string]bool{}
		recs := sink.records()
		for _, rec := range recs {
			if env, ok := rec.Value.(map[string]any); ok {
				if after, ok := env["after"].(map[string]any); ok {
					seen[fmt.Sprint(after["id"])] = true
				}
			}
		}
		return len(seen), len(recs), func(id int) bool { return seen[fmt.Sprint(id)] }
	}
	running := func(what string) {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("%s: the pipeline stopped: %v\nlog:\n%s", what, err, strings.Join(log.Lines(""), "\n"))
		default:
		}
	}
	waitRows := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			distinct, _, _ := ids()
			if distinct >= want {
				return
			}
			running(what)
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d rows after 90s; log:\n%s", what, distinct, want, strings.Join(log.Lines(""), "\n"))
			}
			time.Sleep(50 * time.Millisecond) // polling the sink
		}
	}
	waitRows("snapshot", snapshotRows)

	for i := snapshotRows + 1; i <= snapshotRows+beforeStop; i++ {
		srv.Exec(t, fmt.Sprintf("INSERT INTO restart.items VALUES (%d, 'before the stop')", i))
	}
	pending, _, _ := ids()
	port := srv.Port
	stopped := time.Now()
	srv.Stop()
	t.Logf("server stopped in %v with %d of %d rows arrived", time.Since(stopped).Round(time.Millisecond), pending, snapshotRows+beforeStop)
	if pending >= snapshotRows+beforeStop {
		t.Errorf("every row arrived before the server stopped: the test did not stop it with changes pending")
	}

	// While the server is down, the source says what it waits for, and the pipeline stays up.
	deadline := time.Now().Add(20 * time.Second)
	for len(log.Lines("level=WARN", "source=cdc", "input unavailable")) == 0 {
		running("server down")
		if time.Now().After(deadline) {
			t.Fatalf("no warning that the source waits for its server within 20s; log:\n%s", strings.Join(log.Lines(""), "\n"))
		}
		time.Sleep(50 * time.Millisecond) // polling the log
	}
	warnings := log.Lines("level=WARN", "source=cdc", "input unavailable")
	t.Logf("warning: %s", warnings[0])
	for !time.Now().After(stopped.Add(10 * time.Second)) {
		running("server down")
		time.Sleep(100 * time.Millisecond) // the server stays down 10 s
	}
	running("server down for 10s")
	stalls := log.Lines("level=WARN", "stalled", "source=cdc", "to reopen after a transient failure")
	if len(stalls) == 0 {
		t.Errorf("the source was not reported stalled (StallTimeout 3s) while its server was down 10s; log:\n%s", strings.Join(log.Lines(""), "\n"))
	} else {
		t.Logf("stall: %s", stalls[0])
	}

	restarted := time.Now()
	srv, err = mariadbtest.Launch(mariadbtest.DataDir(dir), mariadbtest.Port(port))
	if err != nil {
		t.Fatal(err)
	}
	current = srv
	t.Logf("server down for %v, restarted in %v", restarted.Sub(stopped).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	for i := snapshotRows + beforeStop + 1; i <= snapshotRows+beforeStop+afterRestart; i++ {
		srv.Exec(t, fmt.Sprintf("INSERT INTO restart.items VALUES (%d, 'after the restart')", i))
	}
	all := snapshotRows + beforeStop + afterRestart
	waitRows("after the restart", all)
	running("after the restart")
	distinct, total, has := ids()
	for i := 1; i <= all; i++ {
		if !has(i) {
			t.Errorf("row %d never arrived", i)
		}
	}
	t.Logf("all %d rows arrived %v after the restart (%d records, %d duplicates); %d retry warnings",
		distinct, time.Since(restarted).Round(time.Millisecond), total, total-distinct, len(log.Lines("input unavailable")))
	for _, l := range log.Lines("reading again") {
		t.Logf("log: %s", l)
	}
	if len(log.Lines("recovered from a stall", "source=cdc")) == 0 {
		t.Errorf("the source did not recover from its stall after the restart")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
	if w := warnings[0]; !strings.Contains(w, "task=mysql:") || !strings.Contains(w, "position=") {
		t.Errorf("the warning does not name the task and position: %s", w)
	}
}

// Connection-level failures are transient; a purged position, a duplicate server_id, missing grants and
// bad configuration are not.
func TestTransientIfConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.DialTimeout("tcp", addr, time.Second)
	if refused == nil {
		t.Fatalf("dial %s after closing it: no error", addr)
	}
	for _, c := range []struct {
		err       error
		transient bool
	}{
		{fmt.Errorf("mysql source: binlog stream: %w", refused), true},
		{fmt.Errorf("mysql source: binlog stream: io.ReadFull(header) failed. err EOF: connection was bad"), true},
		{fmt.Errorf("read: %w", driver.ErrInvalidConn), true},
		{&driver.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{fmt.Errorf("mysql source: binlog stream: ERROR 2013 (HY000): Lost connection to server during query"), true},
		{fmt.Errorf("mysql source: %w: gtid %q (were its binlog files purged?): ERROR 1236 (HY000): connection was bad", ErrPositionPurged, "0-1-5"), false},
		{fmt.Errorf("mysql source: another replica connected with server_id 7: ERROR 4052 (HY000): A slave with the same server_uuid/server_id"), false},
		{fmt.Errorf("mysql source: list tables: %w", &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40523}, Err: syscall.ECONNREFUSED}), true},
		{&driver.MySQLError{Number: 1045, Message: "Access denied for user 'sluice'"}, false},
		{&driver.MySQLError{Number: 1227, Message: "Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s)"}, false},
		{errors.New("mysql source: binlog_format is STATEMENT, want ROW"), false},
		{sources.ErrEndOfInput, false},
	} {
		got := transientIfConnection(c.err)
		if sources.IsTransient(got) != c.transient || !errors.Is(got, c.err) {
			t.Errorf("transientIfConnection(%v): transient %v, want %v", c.err, sources.IsTransient(got), c.transient)
		}
	}
	if transientIfConnection(nil) != nil {
		t.Error("transientIfConnection(nil) != nil")
	}
}

// TestServerRestartDuringSnapshot stops the server in the middle of the initial snapshot: the task reopens
// at its last acknowledged chunk position once the server is back, and every row arrives.
func TestServerRestartDuringSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv, err := mariadbtest.Launch(mariadbtest.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	current := srv
	t.Cleanup(func() { current.Stop() })
	srv.CreateDatabase(t, "snaprestart")
	srv.Exec(t, "CREATE TABLE snaprestart.items (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL)")
	const rows = 1500
	var values []string
	for i := 1; i <= rows; i++ {
		values = append(values, fmt.Sprintf("(%d, 'snapshot')", i))
	}
	srv.Exec(t, "INSERT INTO snaprestart.items VALUES "+strings.Join(values, ", "))

	log := &testkit.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	off := false
	src, err := New(Config{DSN: srv.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"snaprestart.*"},
		SnapshotMode: SnapshotInitial, SchemaChanges: &off, ChunkSize: 50, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	slow := stages.Map("slow", func(r stream.Record) (stream.Record, error) {
		time.Sleep(2 * time.Millisecond) // the snapshot takes about 3 s: the stop lands in its middle
		return r, nil
	})
	tp := topology.New("mysql-snapshot-restart")
	items := tp.Topic(src.Topic("snaprestart.items"), topology.KeyCodec("json"), topology.ValueCodec("json"))
	tp.Source("cdc", src).Via(slow).To(items)
	sink := &recordingSink{}
	tp.Flow("collect").From(items).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = testkit.Brokers(t, 1), "off", logger
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		done <- tp.RunWith(ctx, cfg)
		close(finished)
	}()
	defer func() {
		cancel()
		<-finished
	}()
	distinct := func() map[string]bool {
		seen := map[string]bool{}
		for _, rec := range sink.records() {
			if env, ok := rec.Value.(map[string]any); ok {
				if after, ok := env["after"].(map[string]any); ok {
					seen[fmt.Sprint(after["id"])] = true
				}
			}
		}
		return seen
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !ok() {
			select {
			case err := <-done:
				t.Fatalf("%s: the pipeline stopped: %v\nlog:\n%s", what, err, strings.Join(log.Lines(""), "\n"))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 90s (%d rows); log:\n%s", what, len(distinct()), strings.Join(log.Lines(""), "\n"))
			}
			time.Sleep(20 * time.Millisecond) // polling
		}
	}
	wait("first chunks", func() bool { return len(distinct()) >= 200 })
	port := srv.Port
	srv.Stop()
	arrived := len(distinct())
	wait("retry warning", func() bool { return len(log.Lines("level=WARN", "source=cdc", "input unavailable")) > 0 })
	t.Logf("server stopped with %d of %d snapshot rows arrived; %s", arrived, rows, log.Lines("input unavailable")[0])
	if arrived >= rows {
		t.Fatalf("the snapshot finished before the server stopped")
	}
	if srv, err = mariadbtest.Launch(mariadbtest.DataDir(dir), mariadbtest.Port(port)); err != nil {
		t.Fatal(err)
	}
	current = srv
	wait("every snapshot row", func() bool { return len(distinct()) >= rows })
	seen := distinct()
	for i := 1; i <= rows; i++ {
		if !seen[fmt.Sprint(i)] {
			t.Errorf("row %d never arrived", i)
		}
	}
	t.Logf("%d rows in %d records", len(seen), len(sink.records()))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
}
