package sourcetest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/sources/sourcetest"
)

// A connector's test runs the suite with a Config that builds the source and appends to its input. Here the
// file source follows a log file (unbounded); a bounded source sets Bounded. This package's own test runs
// exactly this function (TestExampleConforms); an Example cannot run a suite, which needs a *testing.T.
func Example() {
	TestFileSourceConforms := func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		line := 0
		sourcetest.Run(t, sourcetest.Config{
			NewSource: func(t *testing.T) sources.Source {
				src, err := file.New(file.Config{Paths: []string{path}})
				if err != nil {
					t.Fatal(err)
				}
				return src
			},
			Generate: func(t *testing.T, n int) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for range n {
					line++
					fmt.Fprintf(f, "line %d\n", line)
				}
			},
		})
	}
	exampleTest = TestFileSourceConforms
}

// exampleTest is the test function Example builds.
var exampleTest func(*testing.T)

// TestExampleConforms runs the test that Example shows.
func TestExampleConforms(t *testing.T) {
	Example()
	exampleTest(t)
}
