package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/sources/sourcetest"
)

// TestConformance runs the sources conformance suite on two files, following them and as a batch job.
func TestConformance(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("StopAtEnd=%v", bounded), func(t *testing.T) {
			dir := t.TempDir()
			paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
			var line atomic.Int64
			sourcetest.Run(t, sourcetest.Config{
				NewSource: func(t *testing.T) sources.Source {
					return newSource(t, file.Config{Paths: []string{filepath.Join(dir, "*.log")}, StopAtEnd: bounded})
				},
				Generate: func(t *testing.T, n int) {
					for _, p := range paths {
						f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
						if err != nil {
							t.Fatal(err)
						}
						for range n {
							fmt.Fprintf(f, "line %d of %s\n", line.Add(1), filepath.Base(p))
						}
						if err := f.Close(); err != nil {
							t.Fatal(err)
						}
					}
				},
				Bounded: bounded,
			})
		})
	}
}
