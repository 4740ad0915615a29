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

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// scriptedSource counts: its one task reads records 1..total (value "n", position {"n":n}), one per Read,
// then waits for ctx. Reads and Opens fail as scripted, so that the engine's handling of each kind of
// failure can be watched.
type scriptedSource struct {
	total int

	mu       sync.Mutex
	opens    []string      // the positions Open was called with
	openErrs []error       // returned by the next Opens, in order (nil: open)
	readErrs map[int]error // Read fails once with it instead of returning record n
	always   map[int]error // Read fails every time with it instead of returning record n
}

func (s *scriptedSource) Tasks(context.Context) ([]sources.Task, error) {
	return []sources.Task{{Key: "count"}}, nil
}

func (s *scriptedSource) Open(_ context.Context, _ sources.Task, pos stream.Position) (sources.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens = append(s.opens, string(pos))
	if len(s.openErrs) > 0 {
		err := s.openErrs[0]
		s.openErrs = s.openErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	next := 1
	if len(pos) > 0 {
		var n int
		if _, err := fmt.Sscanf(string(pos), `{"n":%d}`, &n); err != nil {
			return nil, fmt.Errorf("position %s: %w", pos, err)
		}
		next = n + 1
	}
	return &scriptedReader{s: s, next: next}, nil
}

type scriptedReader struct {
	s    *scriptedSource
	next int
}

func (r *scriptedReader) Read(ctx context.Context) ([]stream.Record, error) {
	r.s.mu.Lock()
	if err, ok := r.s.readErrs[r.next]; ok {
		delete(r.s.readErrs, r.next)
		r.s.mu.Unlock()
		return nil, err
	}
	if err, ok := r.s.always[r.next]; ok {
		r.s.mu.Unlock()
		return nil, err
	}
	r.s.mu.Unlock()
	if r.next > r.s.total {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	n := r.next
	r.next++
	return []stream.Record{{Value: strconv.Itoa(n), Position: stream.Position(fmt.Sprintf(`{"n":%d}`, n))}}, nil
}

func (r *scriptedReader) Close() error { return nil }

// runScripted runs src into a recording sink with retryTimeout and returns the sink, the log and RunWith's
// result channel; the pipeline stops when the test ends.
func runScripted(t *testing.T, src *scriptedSource, retryTimeout time.Duration) (*recordingSink, *testkit.LogBuffer, <-chan error, context.CancelFunc) {
	t.Helper()
	tp := topology.New("scripted")
	numbers := tp.Topic("numbers", topology.ValueCodec("string"))
	tp.Source("counter", src).To(numbers)
	sink := &recordingSink{}
	tp.Flow("collect").From(numbers).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.RetryTimeout = testkit.Brokers(t, 1), "off", retryTimeout
	log := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		done <- tp.RunWith(ctx, cfg)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(60 * time.Second):
			t.Error("pipeline did not stop within 60s of its context ending")
		}
	})
	return sink, log, done, cancel
}

// A source task whose Open and Read fail with errors marked sources.Transient is closed and reopened at its
// last acknowledged position: the pipeline stays up, every record arrives, and a warning names the source,
// the task and the position it waits to reopen at.
func TestTransientSourceFailuresAreRetried(t *testing.T) {
	lost := errors.New("connection lost")
	src := &scriptedSource{total: 20,
		openErrs: []error{nil, sources.Transient(fmt.Errorf("dial: %w", lost)), nil},
		readErrs: map[int]error{5: sources.Transient(lost), 12: sources.Transient(lost)}}
	sink, log, done, cancel := runScripted(t, src, time.Minute)

	deadline := time.Now().Add(60 * time.Second)
	for {
		seen := map[string]bool{}
		sink.mu.Lock()
		for _, r := range sink.records {
			seen[fmt.Sprint(r.Value)] = true
		}
		sink.mu.Unlock()
		if len(seen) == src.total {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("pipeline stopped: %v\nlog:\n%s", err, strings.Join(log.Lines(""), "\n"))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records after 60s; log:\n%s", len(seen), src.total, strings.Join(log.Lines(""), "\n"))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
	src.mu.Lock()
	opens := append([]string(nil), src.opens...)
	src.mu.Unlock()
	t.Logf("opened at: %q", opens)
	if len(opens) != 4 || opens[0] != "" || opens[1] != `{"n":4}` || opens[2] != `{"n":4}` || opens[3] != `{"n":11}` {
		t.Errorf("opened at %q; want the start, then twice after record 4 (the second open failed), then after record 11", opens)
	}
	warnings := log.Lines("level=WARN", "source=counter", "task=count", "input unavailable")
	for _, l := range warnings {
		t.Logf("log: %s", l)
	}
	if len(warnings) == 0 || !strings.Contains(warnings[0], `position="{\"n\":4}"`) || !strings.Contains(warnings[0], "connection lost") {
		t.Errorf("no warning naming the source, the task, the position and the error; log:\n%s", strings.Join(log.Lines(""), "\n"))
	}
}

// An error not marked transient fails the task at once, as before: no reopen, no wait for RetryTimeout.
func TestPermanentSourceFailureFailsAtOnce(t *testing.T) {
	src := &scriptedSource{total: 20, readErrs: map[int]error{3: errors.New("access denied for user 'sluice'")}}
	start := time.Now()
	_, log, done, _ := runScripted(t, src, 5*time.Minute)
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("pipeline still running 60s after a permanent read error; log:\n%s", strings.Join(log.Lines(""), "\n"))
	}
	t.Logf("RunWith after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), `source "counter" task "count": read after position {"n":2}: access denied`) {
		t.Fatalf("RunWith = %v; want the read error naming source, task and position", err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.opens) != 1 {
		t.Errorf("opened %d times; a permanent error must not reopen the task", len(src.opens))
	}
	if w := log.Lines("input unavailable"); len(w) != 0 {
		t.Errorf("retry warnings for a permanent error: %q", w)
	}
}

// A transient failure that lasts longer than RetryTimeout fails the task, saying it gave up.
func TestTransientSourceFailureGivesUpAfterRetryTimeout(t *testing.T) {
	src := &scriptedSource{total: 20, always: map[int]error{3: sources.Transient(errors.New("connection refused"))}}
	start := time.Now()
	_, log, done, _ := runScripted(t, src, 2*time.Second)
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("pipeline still running 60s after RetryTimeout 2s; log:\n%s", strings.Join(log.Lines(""), "\n"))
	}
	t.Logf("RunWith after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), `source "counter" task "count": read after position {"n":2}: connection refused`) ||
		!strings.Contains(err.Error(), "gave up after retrying") {
		t.Fatalf("RunWith = %v; want the read error and that retrying gave up", err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.opens) < 3 {
		t.Errorf("opened %d times in 2s of retries; want several", len(src.opens))
	}
}
