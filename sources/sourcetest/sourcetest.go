// Package sourcetest is the conformance suite of source connectors: the contract of package sources
// written as tests that any connector runs against a real instance of its input, in the manner of
// watermill's tests.TestPubSub and Conduit's AcceptanceTest.
//
// Run checks, for every task of the source:
//   - TaskKeys: Tasks returns non-empty, distinct keys, the same on every call and on a new source value
//     built from the same configuration (so positions saved under them are found again).
//   - Resume: reopening at any record's Position yields exactly the records after it, in order.
//   - EndOfInput: a bounded source returns ErrEndOfInput after its last record (and again if asked); an
//     unbounded one blocks until ctx ends, returns ctx.Err() and then returns input added later.
//   - Close: every Reader's Close returns nil once reading stopped; a source implementing io.Closer closes
//     without error, twice (idempotent), and can be used again after Close (the engine closes it once per
//     run, and a topology may run again).
//   - AtLeastOnce: a reader abandoned without Close (the process was killed) loses nothing: a new source
//     value reopened at the last position the engine had saved yields every record after it, in order,
//     including input written while no reader ran (records read twice may come between them).
//
// Records are compared by Config.ID, so that fields a connector fills from the clock (a read timestamp)
// do not matter.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Config says how to build the connector under test and how to give it input.
type Config struct {
	// NewSource returns a new source value over the test's input. It is called several times per test (a
	// new value stands for a restarted process); the suite closes each value that implements io.Closer.
	NewSource func(t *testing.T) sources.Source
	// Generate adds n new records to the input of every task, in order (lines appended to each file, rows
	// inserted in a table). The suite calls it before it reads, and, for an unbounded source, while a
	// reader waits for input.
	Generate func(t *testing.T, n int)
	// Bounded is true when the source ends each task at the end of its input (sources.ErrEndOfInput);
	// false when tasks follow their input and never end.
	Bounded bool
	// ID identifies a record in comparisons; nil: its topic, key and value as fmt prints them.
	ID func(stream.Record) string
	// Records is how many records Generate is asked for at a time (default 20).
	Records int
	// Timeout bounds each test's reads (default 30 s).
	Timeout time.Duration
	// Quiet is how long an unbounded reader must return nothing to show that it has no more records
	// (default 300 ms).
	Quiet time.Duration
}

func (c *Config) defaults() {
	if c.ID == nil {
		c.ID = func(r stream.Record) string { return fmt.Sprintf("%s|%v|%v", r.Topic, r.Key, r.Value) }
	}
	if c.Records <= 0 {
		c.Records = 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Quiet <= 0 {
		c.Quiet = 300 * time.Millisecond
	}
}

// Run runs the whole suite as subtests of t. Each subtest calls Generate on input that the previous ones
// left, so a Config's NewSource and Generate must work on the same input throughout (or reset it in
// NewSource).
func Run(t *testing.T, cfg Config) {
	cfg.defaults()
	if cfg.NewSource == nil || cfg.Generate == nil {
		t.Fatal("sourcetest: Config.NewSource and Config.Generate are required")
	}
	s := suite{cfg}
	t.Run("TaskKeys", s.taskKeys)
	t.Run("Resume", s.resume)
	t.Run("EndOfInput", s.endOfInput)
	t.Run("Close", s.close)
	t.Run("AtLeastOnce", s.atLeastOnce)
}

type suite struct{ cfg Config }

func (s suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// source returns a new source value, closed at the end of the test.
func (s suite) source(t *testing.T) sources.Source {
	t.Helper()
	src := s.cfg.NewSource(t)
	if c, ok := src.(io.Closer); ok {
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("source Close: %v", err)
			}
		})
	}
	return src
}

func (s suite) tasks(t *testing.T, ctx context.Context, src sources.Source) []sources.Task {
	t.Helper()
	tasks, err := src.Tasks(ctx)
	if err != nil {
		t.Fatalf("Tasks: %v", err)
	}
	if len(tasks) == 0 {
		t.Fatal("Tasks returned no task")
	}
	return tasks
}

func keys(tasks []sources.Task) []string {
	out := make([]string, len(tasks))
	for i, task := range tasks {
		out[i] = task.Key
	}
	slices.Sort(out)
	return out
}

func (s suite) taskKeys(t *testing.T) {
	ctx := s.ctx(t)
	s.cfg.Generate(t, s.cfg.Records)
	src := s.source(t)
	first := keys(s.tasks(t, ctx, src))
	for i, k := range first {
		if k == "" {
			t.Errorf("task %d has an empty key", i)
		}
		if i > 0 && first[i-1] == k {
			t.Errorf("two tasks share the key %q", k)
		}
	}
	if again := keys(s.tasks(t, ctx, src)); !slices.Equal(first, again) {
		t.Errorf("a second Tasks call returned keys %q, the first %q", again, first)
	}
	if other := keys(s.tasks(t, ctx, s.source(t))); !slices.Equal(first, other) {
		t.Errorf("a new source value returned keys %q, the first %q", other, first)
	}
}

// readAll opens task at pos and reads until ErrEndOfInput (bounded) or until Quiet passes without a record
// (unbounded), then closes the reader.
func (s suite) readAll(t *testing.T, ctx context.Context, src sources.Source, task sources.Task, pos stream.Position) []stream.Record {
	return s.read(t, ctx, src, task, pos, -1)
}

// read is readAll, except that with expect >= 0 an unbounded source is read only until it returned expect
// records (or more, if the last Read returned more), without waiting for Quiet.
func (s suite) read(t *testing.T, ctx context.Context, src sources.Source, task sources.Task, pos stream.Position, expect int) []stream.Record {
	t.Helper()
	r, err := src.Open(ctx, task, pos)
	if err != nil {
		t.Fatalf("task %s: Open at %s: %v", task.Key, pos, err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("task %s: reader Close: %v", task.Key, err)
		}
	}()
	var out []stream.Record
	for {
		if !s.cfg.Bounded && expect >= 0 && len(out) >= expect {
			return out
		}
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if !s.cfg.Bounded {
			rctx, cancel = context.WithTimeout(ctx, s.cfg.Quiet)
		}
		recs, err := r.Read(rctx)
		cancel()
		switch {
		case s.cfg.Bounded && errors.Is(err, sources.ErrEndOfInput):
			return out
		case !s.cfg.Bounded && err != nil && rctx.Err() != nil && ctx.Err() == nil:
			if len(recs) > 0 {
				t.Errorf("task %s: Read returned %d records with its ctx error", task.Key, len(recs))
			}
			return out
		case err != nil:
			t.Fatalf("task %s: Read after %d records: %v", task.Key, len(out), err)
		case len(recs) == 0:
			t.Fatalf("task %s: Read returned neither records nor an error", task.Key)
		}
		for _, rec := range recs {
			if rec.Position == nil {
				t.Fatalf("task %s: record %s has no Position", task.Key, s.cfg.ID(rec))
			}
		}
		out = append(out, recs...)
	}
}

func (s suite) ids(recs []stream.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = s.cfg.ID(r)
	}
	return out
}

func (s suite) resume(t *testing.T) {
	ctx := s.ctx(t)
	s.cfg.Generate(t, s.cfg.Records)
	src := s.source(t)
	for _, task := range s.tasks(t, ctx, src) {
		all := s.readAll(t, ctx, src, task, nil)
		if len(all) < s.cfg.Records {
			t.Fatalf("task %s: read %d records from the beginning, want at least the %d generated", task.Key, len(all), s.cfg.Records)
		}
		want := s.ids(all)
		for i, rec := range all {
			// Every position is reopened; an unbounded source is also waited on for a record too many at
			// the first, middle and last ones (waiting at each would take Quiet per record).
			expect := len(all) - i - 1
			if i == 0 || i == len(all)/2 || i == len(all)-1 {
				expect = -1
			}
			got := s.ids(s.read(t, ctx, src, task, rec.Position, expect))
			if !slices.Equal(got, want[i+1:]) {
				t.Fatalf("task %s: reopened at record %d's position %s: got %d records %q, want the %d after it %q",
					task.Key, i, rec.Position, len(got), head(got), len(want)-i-1, head(want[i+1:]))
			}
		}
	}
}

// head shortens a list of ids for a failure message.
func head(ids []string) []string {
	if len(ids) > 5 {
		return append(ids[:5:5], fmt.Sprintf("... %d more", len(ids)-5))
	}
	return ids
}

func (s suite) endOfInput(t *testing.T) {
	ctx := s.ctx(t)
	s.cfg.Generate(t, s.cfg.Records)
	src := s.source(t)
	for _, task := range s.tasks(t, ctx, src) {
		all := s.readAll(t, ctx, src, task, nil)
		if len(all) == 0 {
			t.Fatalf("task %s: no records", task.Key)
		}
		last := all[len(all)-1].Position
		r, err := src.Open(ctx, task, last)
		if err != nil {
			t.Fatalf("task %s: Open at its last position %s: %v", task.Key, last, err)
		}
		if s.cfg.Bounded {
			for i := range 2 {
				if recs, err := r.Read(ctx); !errors.Is(err, sources.ErrEndOfInput) {
					t.Errorf("task %s: Read %d at the end of input: %d records, %v; want ErrEndOfInput", task.Key, i+1, len(recs), err)
				}
			}
		} else {
			rctx, cancel := context.WithTimeout(ctx, s.cfg.Quiet)
			recs, err := r.Read(rctx)
			cancel()
			if err == nil || !errors.Is(err, rctx.Err()) {
				t.Errorf("task %s: Read at the end of input until its ctx ended: %d records, %v; want the ctx error", task.Key, len(recs), err)
			}
			s.cfg.Generate(t, 1)
			recs, err = r.Read(ctx)
			if err != nil || len(recs) == 0 {
				t.Errorf("task %s: Read after new input: %d records, %v; want the new record", task.Key, len(recs), err)
			}
		}
		if err := r.Close(); err != nil {
			t.Errorf("task %s: reader Close: %v", task.Key, err)
		}
	}
}

func (s suite) close(t *testing.T) {
	ctx := s.ctx(t)
	s.cfg.Generate(t, s.cfg.Records)
	src := s.cfg.NewSource(t)
	tasks := s.tasks(t, ctx, src)
	first := s.readAll(t, ctx, src, tasks[0], nil) // the reader is closed once, checked by readAll
	c, ok := src.(io.Closer)
	if !ok {
		t.Log("the source does not implement io.Closer: only its readers are closed")
		return
	}
	if err := c.Close(); err != nil {
		t.Fatalf("source Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("source Close a second time: %v (Close must be idempotent)", err)
	}
	// A topology run again reuses the value: it must work after Close.
	again := s.readAll(t, ctx, src, tasks[0], nil)
	if !slices.Equal(s.ids(again), s.ids(first)) {
		t.Errorf("after Close, the source read %d records, before %d", len(again), len(first))
	}
	if err := c.Close(); err != nil {
		t.Fatalf("source Close after reuse: %v", err)
	}
}

func (s suite) atLeastOnce(t *testing.T) {
	ctx := s.ctx(t)
	s.cfg.Generate(t, s.cfg.Records)
	src := s.source(t)
	for _, task := range s.tasks(t, ctx, src) {
		all := s.readAll(t, ctx, src, task, nil)
		if len(all) < 2 {
			t.Fatalf("task %s: %d records, want at least 2", task.Key, len(all))
		}
		// A process reads everything, Kafka acknowledged half of it, then the process dies: its reader is
		// never closed (the suite closes it at the end, as the OS would).
		killed := s.cfg.NewSource(t)
		r, err := killed.Open(ctx, task, nil)
		if err != nil {
			t.Fatalf("task %s: Open: %v", task.Key, err)
		}
		t.Cleanup(func() {
			_ = r.Close()
			if c, ok := killed.(io.Closer); ok {
				_ = c.Close()
			}
		})
		var read []stream.Record
		for len(read) < len(all) {
			recs, err := r.Read(ctx)
			if err != nil {
				t.Fatalf("task %s: Read after %d records: %v", task.Key, len(read), err)
			}
			read = append(read, recs...)
		}
		saved := read[len(read)/2-1]
		// While no process runs, the input grows.
		s.cfg.Generate(t, s.cfg.Records)
		restarted := s.source(t)
		after := s.ids(s.readAll(t, ctx, restarted, task, saved.Position))
		want := s.ids(s.readAll(t, ctx, restarted, task, nil))
		i := slices.Index(want, s.cfg.ID(saved))
		if i < 0 {
			t.Fatalf("task %s: the saved record %s is no longer read from the beginning", task.Key, s.cfg.ID(saved))
		}
		// At least once: every record after the saved one, in order; records read twice (a source that
		// reads again what changed while it was down, as a new snapshot and as its changes) may come between.
		rest := want[i+1:]
		j := 0
		for _, id := range after {
			if j < len(rest) && id == rest[j] {
				j++
			}
		}
		if j < len(rest) {
			t.Fatalf("task %s: restarted at %s: got %d records %q; record %s (%d of the %d after it) is missing or out of order",
				task.Key, saved.Position, len(after), head(after), rest[j], j+1, len(rest))
		}
		for _, id := range after {
			if !slices.Contains(want, id) {
				t.Errorf("task %s: restarted at %s: record %s is not in the input", task.Key, saved.Position, id)
			}
		}
	}
}
