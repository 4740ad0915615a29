package file_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/sinks/sinktest"
	"github.com/sluicehq/sluice/stream"
)

// TestConformance runs the sinks conformance suite on a file: an append-only log, not idempotent, that
// rejects nothing; a write to a closed file is a permanent error.
func TestConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	sinktest.Run(t, sinktest.Config{
		NewSink: func(t *testing.T) sinks.Sink {
			s, err := file.New(file.Config{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Record:   func(i int) stream.Record { return stream.Record{Topic: "lines", Value: fmt.Sprintf("line %d", i)} },
		ID:       func(r stream.Record) string { return fmt.Sprint(r.Value) },
		ReadBack: func(t *testing.T) []string { return testkit.ReadLines(t, path) },
		Faults: []sinktest.Fault{{
			Name: "file closed under the sink",
			Inject: func(t *testing.T, s sinks.Sink) func() {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := s.Open(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			},
			Retryable: false,
		}},
	})
}
