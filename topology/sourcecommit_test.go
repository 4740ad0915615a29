package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// committingSource reads records 1..total (value "n", position {"n":n}), batch per Read, then waits for
// ctx. Its first reader fails with a transient error once it returned failAfter records, so that the task
// is reopened with a second reader. Each reader implements sources.Committer: Commit hands the call to the
// test (commits) and waits for its verdict. A reader returns its next batch only once the test saw a
// Commit of the last position it returned, so that every batch is committed on its own.
type committingSource struct {
	total, batch, failAfter int
	commits                 chan commitCall

	mu      sync.Mutex
	readers []*committingReader
}

// commitCall is one Commit: the reader, the position, and where the test answers (the error Commit returns).
type commitCall struct {
	r     *committingReader
	pos   stream.Position
	reply chan error
}

type committingReader struct {
	s        *committingSource
	id       int
	next     int
	returned map[string]bool // positions returned by Read
	closed   bool
	reads    int
	seen     int           // n of the last Commit the test saw (the open position's at first)
	wake     chan struct{} // signalled when seen moves
}

func (s *committingSource) Tasks(context.Context) ([]sources.Task, error) {
	return []sources.Task{{Key: "count"}}, nil
}

func (s *committingSource) Open(_ context.Context, _ sources.Task, pos stream.Position) (sources.Reader, error) {
	next := 1
	if len(pos) > 0 {
		var n int
		if _, err := fmt.Sscanf(string(pos), `{"n":%d}`, &n); err != nil {
			return nil, fmt.Errorf("position %s: %w", pos, err)
		}
		next = n + 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &committingReader{s: s, id: len(s.readers) + 1, next: next, returned: map[string]bool{}, seen: next - 1,
		wake: make(chan struct{}, 1)}
	s.readers = append(s.readers, r)
	return r, nil
}

func (r *committingReader) Read(ctx context.Context) ([]stream.Record, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for r.seen < r.next-1 {
		r.s.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
		}
		r.s.mu.Lock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if r.id == 1 && r.reads*r.s.batch >= r.s.failAfter {
		return nil, sources.Transient(errors.New("upstream connection lost"))
	}
	if r.next > r.s.total {
		r.s.mu.Unlock()
		<-ctx.Done()
		r.s.mu.Lock()
		return nil, ctx.Err()
	}
	r.reads++
	var recs []stream.Record
	for ; r.next <= r.s.total && len(recs) < r.s.batch; r.next++ {
		pos := fmt.Sprintf(`{"n":%d}`, r.next)
		r.returned[pos] = true
		recs = append(recs, stream.Record{Value: strconv.Itoa(r.next), Position: stream.Position(pos)})
	}
	return recs, nil
}

func (r *committingReader) Commit(ctx context.Context, pos stream.Position) error {
	reply := make(chan error, 1)
	select {
	case r.s.commits <- commitCall{r: r, pos: pos, reply: reply}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *committingReader) Close() error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.closed = true
	return nil
}

// The engine tells a reader that implements sources.Committer which of its positions is saved: each call
// names a position that reader returned (not one of the reader before a transient reopen, not the
// position it was opened at), comes in order, never after the reader's Close, and only once Kafka holds
// the record at that position and every record before it. A Commit that fails is logged and counted
// and stops nothing; one that does not return is ended through its context when the pipeline stops.
func TestCommitTellsTheReaderWhatWasSaved(t *testing.T) {
	const total, batch, failAfter = 300, 10, 120
	src := &committingSource{total: total, batch: batch, failAfter: failAfter, commits: make(chan commitCall)}
	brokers := testkit.Brokers(t, 1)
	tp := topology.New("committing")
	numbers := tp.Topic("numbers", topology.ValueCodec("string"))
	tp.Source("counter", src).To(numbers)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.RetryTimeout = brokers, "off", time.Minute
	registry := prometheus.NewRegistry()
	cfg.Registerer = registry
	log := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pipeline: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("pipeline did not stop within 60s of its context ending")
		}
	}
	defer stop()

	last := map[*committingReader]int{} // the last position committed to each reader
	calls := map[*committingReader]int{}
	refused := false
	deadline := time.After(90 * time.Second)
	for r2 := src.reader(2); r2 == nil || last[r2] < total; r2 = src.reader(2) {
		var call commitCall
		select {
		case call = <-src.commits:
		case err := <-done:
			stopped = true
			t.Fatalf("pipeline stopped before every position was committed: %v", err)
		case <-deadline:
			t.Fatalf("not every position committed within 90s; last committed per reader: %v", describe(last))
		}
		var n int
		if _, err := fmt.Sscanf(string(call.pos), `{"n":%d}`, &n); err != nil {
			t.Fatalf("Commit(%s): %v", call.pos, err)
		}
		src.mu.Lock()
		returned, closed := call.r.returned[string(call.pos)], call.r.closed
		src.mu.Unlock()
		if !returned {
			t.Errorf("reader %d: Commit(%s), a position it did not return", call.r.id, call.pos)
		}
		if closed {
			t.Errorf("reader %d: Commit(%s) after Close", call.r.id, call.pos)
		}
		if n <= last[call.r] {
			t.Errorf("reader %d: Commit(%s) after Commit of n=%d: out of order", call.r.id, call.pos, last[call.r])
		}
		inKafka := map[string]bool{}
		for _, v := range testkit.Values(testkit.ReadTopic(t, brokers, "numbers")) {
			inKafka[v] = true
		}
		for i := 1; i <= n; i++ {
			if !inKafka[strconv.Itoa(i)] {
				t.Errorf("reader %d: Commit(%s) while record %d is not in Kafka", call.r.id, call.pos, i)
				break
			}
		}
		last[call.r], calls[call.r] = n, calls[call.r]+1
		if call.r.id == 2 && n == total {
			break // left unanswered: stopping the pipeline must end it through Commit's context
		}
		src.mu.Lock()
		call.r.seen = n
		src.mu.Unlock()
		select {
		case call.r.wake <- struct{}{}:
		default:
		}
		// The second reader's first Commit fails: the pipeline goes on, and the next Commits come.
		if call.r.id == 2 && !refused {
			refused = true
			call.reply <- errors.New("upstream refused the acknowledgement")
			continue
		}
		call.reply <- nil
	}
	first, second := src.reader(1), src.reader(2)
	t.Logf("%d Commits to the first reader (last n=%d; it returned %d records before failing), %d to the second (last n=%d)",
		calls[first], last[first], failAfter, calls[second], last[second])
	// Each reader waits for the Commit of its last record before it reads on: at least one a batch.
	if calls[first] < failAfter/batch || last[first] != failAfter {
		t.Errorf("the first reader got %d Commits, the last at n=%d; want at least one per batch it returned (%d), the last at n=%d",
			calls[first], last[first], failAfter/batch, failAfter)
	}
	if want := (total - failAfter) / batch; calls[second] < want {
		t.Errorf("the second reader got %d Commits; want at least one per batch (%d), its refused first one included", calls[second], want)
	}
	if got := counterValue(t, registry, "sluice_source_commit_errors_total"); got != 1 {
		t.Errorf("sluice_source_commit_errors_total = %v, want 1", got)
	}
	if !strings.Contains(log.String(), "upstream refused the acknowledgement") {
		t.Errorf("the failed Commit was not logged; log:\n%s", log.String())
	}
	stop()
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.readers) != 2 {
		t.Errorf("%d readers opened, want 2 (one transient failure)", len(src.readers))
	}
}

// reader returns the id-th reader opened, nil before it is.
func (s *committingSource) reader(id int) *committingReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id > len(s.readers) {
		return nil
	}
	return s.readers[id-1]
}

func describe(last map[*committingReader]int) string {
	var parts []string
	for r, n := range last {
		parts = append(parts, fmt.Sprintf("reader %d: n=%d", r.id, n))
	}
	return strings.Join(parts, ", ")
}

// counterValue returns the value of the one series of the counter named name in registry.
func counterValue(t *testing.T, registry *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no series of %s", name)
	return 0
}
