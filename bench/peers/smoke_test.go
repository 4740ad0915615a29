package peers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/mariadbtest"
)

// What the adapters' smoke tests share: a private MariaDB and a one-node real Kafka, tables in the
// benchmark's layout, rows and changes written to them, a tool's start and stop, and records counted on a
// topic (with the harness's topicCounter).

// smokeEnv is one smoke test's servers and the Env its tool gets.
type smokeEnv struct {
	t      *testing.T
	ctx    context.Context // bounds the whole test
	srv    *mariadbtest.Server
	db     string // the database of Env.MySQL
	env    *Env
	client sarama.Client // the test's own Kafka client: counting, first records
}

// startSmoke skips unless SLUICE_BENCH_PEERS=1, then starts MariaDB (database db) and a one-node Kafka. The
// tool's work directory (builds, configuration, state, logs) is kept when the test fails.
func startSmoke(t *testing.T, db string, timeout time.Duration) *smokeEnv {
	t.Helper()
	if os.Getenv(gateEnv) != "1" {
		t.Skipf("the peer benchmark's adapters run with %s=1: `make bench-peers`", gateEnv)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	srv := mariadbtest.Start(t)
	srv.CreateDatabase(t, db)
	cluster := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
	workDir, err := os.MkdirTemp("", "peers-smoke-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("work directory (logs, configuration, state) kept in %s", workDir)
			return
		}
		os.RemoveAll(workDir)
	})
	client, err := sarama.NewClient(cluster.Addrs(), saramaConfig("peers-smoke"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return &smokeEnv{t: t, ctx: ctx, srv: srv, db: db, client: client, env: &Env{
		MySQL:    MySQL{Host: "127.0.0.1", Port: srv.Port, User: "root", Database: db, DSN: srv.DSN("")},
		Brokers:  cluster.Addrs(),
		RepoRoot: repo,
		WorkDir:  workDir,
		Logf:     t.Logf,
	}}
}

// prepare runs tool's Prepare.
func (s *smokeEnv) prepare(tool Tool) {
	s.t.Helper()
	began := time.Now()
	if err := tool.Prepare(s.ctx, s.env); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("%s: prepared in %s", tool.Name(), time.Since(began).Round(time.Millisecond))
}

// createTable creates table, empty, in the benchmark's layout.
func (s *smokeEnv) createTable(table string) {
	s.t.Helper()
	s.srv.Exec(s.t, "CREATE TABLE `"+s.db+"`.`"+table+"` "+tableDDL)
}

// insertRows inserts the rows with ids from..to (inclusive), every column set, 1000 rows a statement.
func (s *smokeEnv) insertRows(table string, from, to int) {
	s.t.Helper()
	for first := from; first <= to; first += 1000 {
		s.srv.Exec(s.t, smokeInsert(s.db, table, first, min(first+999, to)))
	}
}

// smokeText is the c_varchar of row id: a string a test finds in the record's bytes.
func smokeText(id int) string { return fmt.Sprintf("name %d", id) }

// smokeInsert is one INSERT of the rows with ids from..to (inclusive).
func smokeInsert(db, table string, from, to int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO `" + db + "`.`" + table + "` VALUES ")
	for id := from; id <= to; id++ {
		if id > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d,%d,%d,%d,'%s','v%d',%d.%02d,%d.%06d,'2026-01-02 03:04:05.%06d','2026-06-07 08:09:10.%06d','text of row %d')",
			id, id%1000, int64(id)*1000003, id%30000, smokeText(id), id%97, id%1000000, id%100, id, id%1000000, id%1000000, (id*7)%1000000, id)
	}
	return b.String()
}

// smokeChanges is the number of row changes writeChanges writes.
const smokeChanges = 500

// writeChanges writes 500 row changes to table, whose rows 1..200 exist and from..from+299 do not: 300
// inserts (transactions of 50 rows), 150 updates (one transaction), 50 deletes (one transaction).
func (s *smokeEnv) writeChanges(table string, from int) {
	s.t.Helper()
	var stmts []string
	for first := from; first < from+300; first += 50 {
		stmts = append(stmts, smokeInsert(s.db, table, first, first+49))
	}
	stmts = append(stmts,
		"UPDATE `"+s.db+"`.`"+table+"` SET c_int = c_int + 1, c_text = 'updated' WHERE id BETWEEN 1 AND 150",
		"DELETE FROM `"+s.db+"`.`"+table+"` WHERE id BETWEEN 151 AND 200")
	s.srv.Exec(s.t, stmts...)
}

// resumeAfterChanges is the streaming step of a smoke test: with spec's tool stopped and topic holding base
// records, writeChanges(table, from), a start of spec with Resume that delivers exactly one record per change,
// and a stop after which nothing more arrives.
func (s *smokeEnv) resumeAfterChanges(tool Tool, spec RunSpec, table string, from, base int) {
	s.t.Helper()
	s.writeChanges(table, from)
	spec.Resume = true
	r := s.start(tool, spec)
	s.awaitRecords(r.Topic(table), base+smokeChanges, "resumed after the changes")
	s.stop(r)
	s.expectCount(r.Topic(table), base+smokeChanges)
}

// start starts tool; a failed test stops it in its clean-up.
func (s *smokeEnv) start(tool Tool, spec RunSpec) Running {
	s.t.Helper()
	began := time.Now()
	r, err := tool.Start(s.ctx, s.env, spec)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("%s: %s (resume %v) started in %s, pids %v", tool.Name(), spec.Name, spec.Resume,
		time.Since(began).Round(time.Millisecond), r.Processes())
	s.t.Cleanup(func() { // a failed test leaves nothing running; a second Stop does nothing
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = r.Stop(sctx)
	})
	return r
}

// stop stops r; an error fails the test.
func (s *smokeEnv) stop(r Running) {
	s.t.Helper()
	sctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
	defer cancel()
	began := time.Now()
	if err := r.Stop(sctx); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("stopped in %s", time.Since(began).Round(time.Millisecond))
}

// awaitRecords waits (3 minutes at most) until topic holds exactly want records with a value from offset 0
// on; more is an error.
func (s *smokeEnv) awaitRecords(topic string, want int, what string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 3*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := newTopicCounter(s.client, topic, true, s.t.Logf)
	if err == nil {
		_, err = c.waitRecords(ctx, int64(want), nil)
	}
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	s.t.Logf("%s: %d records with a value on %s after %s", what, want, topic, time.Since(began).Round(time.Millisecond))
}

// count is the number of records with a value on topic now.
func (s *smokeEnv) count(ctx context.Context, topic string) (int64, error) {
	c, err := newTopicCounter(s.client, topic, true, s.t.Logf)
	if err != nil {
		return 0, err
	}
	ends, err := c.endOffsets()
	if err != nil {
		return 0, err
	}
	err = c.consume(ctx, ends)
	return c.count, err
}

// expectCount fails the test unless topic holds exactly want records with a value (after a stop: nothing
// came late).
func (s *smokeEnv) expectCount(topic string, want int) {
	s.t.Helper()
	n, err := s.count(s.ctx, topic)
	if err != nil || n != int64(want) {
		s.t.Fatalf("topic %s holds %d records with a value (%v), want exactly %d", topic, n, err, want)
	}
}

// firstRecord is the first record of partition 0 of topic.
func (s *smokeEnv) firstRecord(topic string) *sarama.ConsumerMessage {
	s.t.Helper()
	consumer, err := sarama.NewConsumerFromClient(s.client)
	if err != nil {
		s.t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		s.t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	select {
	case m := <-pc.Messages():
		return m
	case err := <-pc.Errors():
		s.t.Fatalf("reading %s: %v", topic, err)
	case <-ctx.Done():
		s.t.Fatalf("reading %s: %v", topic, ctx.Err())
	}
	return nil
}
