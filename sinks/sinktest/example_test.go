package sinktest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/sinks/sinktest"
	"github.com/sluicehq/sluice/stream"
)

// A connector's test runs the suite with a Config that builds the sink and reads its destination back. Here
// the file sink appends lines: not idempotent (a rewritten batch appears twice) and it rejects nothing, so
// Idempotent and Bad stay unset. This package's own test runs exactly this function (TestExampleConforms);
// an Example cannot run a suite, which needs a *testing.T.
func Example() {
	TestFileSinkConforms := func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "out.log")
		sinktest.Run(t, sinktest.Config{
			NewSink: func(t *testing.T) sinks.Sink {
				s, err := file.New(file.Config{Path: path})
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			Record: func(i int) stream.Record { return stream.Record{Value: fmt.Sprintf("line %d", i)} },
			ID:     func(r stream.Record) string { return fmt.Sprint(r.Value) },
			ReadBack: func(t *testing.T) []string {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			},
		})
	}
	exampleTest = TestFileSinkConforms
}

// exampleTest is the test function Example builds.
var exampleTest func(*testing.T)

// TestExampleConforms runs the test that Example shows.
func TestExampleConforms(t *testing.T) {
	Example()
	exampleTest(t)
}
