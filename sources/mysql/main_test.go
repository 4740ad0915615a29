package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// server is the private MariaDB shared by the package's tests; each test uses databases of its own.
var server *mariadbtest.Server

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild()) // the SIGKILL test's child process: see crash_test.go
	}
	srv, err := mariadbtest.Launch()
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

// newSource builds a source on the shared server for tables, with ChunkSize chunk.
func newSource(t testing.TB, chunk int, tables ...string) *Source {
	t.Helper()
	src, err := New(Config{DSN: server.DSN(""), Tables: tables, SnapshotMode: SnapshotInitialOnly, ChunkSize: chunk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// readTask opens the source's task at pos and reads it as the engine does: until ErrEndOfInput, or until maxReads Reads
// returned records (0: no limit), then Close. It returns the records read.
func readTask(t testing.TB, src *Source, pos stream.Position, maxReads int) []stream.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := src.Open(ctx, sources.Task{Key: src.TaskKey()}, pos)
	if err != nil {
		t.Fatal(err)
	}
	var out []stream.Record
	for reads := 0; maxReads == 0 || reads < maxReads; reads++ {
		recs, err := r.Read(ctx)
		if errors.Is(err, sources.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			t.Fatal("Read returned no records and no error")
		}
		out = append(out, recs...)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out
}

// after returns the "after" row of a change event.
func after(t testing.TB, rec stream.Record) *stream.Struct {
	t.Helper()
	env, ok := rec.Value.(*stream.Struct)
	if !ok {
		t.Fatalf("value is %T, want *stream.Struct", rec.Value)
	}
	if err := env.Validate(); err != nil {
		t.Fatalf("envelope does not validate: %v", err)
	}
	row, err := env.GetStruct("after")
	if err != nil || row == nil {
		t.Fatalf("after: %v %v", row, err)
	}
	return row
}
