package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// server is the private PostgreSQL shared by the package's tests; each test uses a database of its own.
var server *pgtest.Server

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild()) // the SIGKILL test's child process: see crash_test.go
	}
	srv, err := pgtest.Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = srv
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// connect opens a pgx connection to dsn, closed when the test ends.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// execIn runs statements on c, failing the test at the first error.
func execIn(t testing.TB, c *pgx.Conn, statements ...string) {
	t.Helper()
	for _, s := range statements {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := c.Exec(ctx, s)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// readN reads from r until it has n records (or fails after 30 s).
func readN(t testing.TB, r sources.Reader, n int) []stream.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []stream.Record
	for len(out) < n {
		recs, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("read %d records, want %d", len(out), n)
	}
	return out
}

// expectQuiet checks that r returns nothing for a short while.
func expectQuiet(t testing.TB, r sources.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	recs, err := r.Read(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || len(recs) > 0 {
		t.Fatalf("Read returned %d records, %v; want nothing", len(recs), err)
	}
}

// envelope returns a change event's envelope, validated.
func envelope(t testing.TB, rec stream.Record) *stream.Struct {
	t.Helper()
	env, ok := rec.Value.(*stream.Struct)
	if !ok {
		t.Fatalf("value is %T, want *stream.Struct", rec.Value)
	}
	if err := env.Validate(); err != nil {
		t.Fatalf("envelope does not validate: %v", err)
	}
	return env
}

// image returns field ("before" or "after") of a change event as a string for comparisons.
func image(t testing.TB, rec stream.Record, field string) string {
	t.Helper()
	s, err := envelope(t, rec).GetStruct(field)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return "null"
	}
	return s.String()
}
