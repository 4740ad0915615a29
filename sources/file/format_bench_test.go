package file_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
)

// BenchmarkReadFormat reads a file of 10,000 JSON lines to its end with each Format, so that the cost of
// parsing at the source shows beside reading lines (Lines) in the same run. One op is the whole file.
func BenchmarkReadFormat(b *testing.B) {
	path := filepath.Join(b.TempDir(), "in.jsonl")
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, `{"id":%d,"email":"user%d@example.com","name":"User %d","total":%d.50,"paid":true}`+"\n", i, i, i, i)
	}
	writeFile(b, path, sb.String())
	for _, format := range []file.Format{file.Lines, file.JSONLines} {
		b.Run(format.String(), func(b *testing.B) {
			src := newSource(b, file.Config{Paths: []string{path}, Format: format, StopAtEnd: true})
			ctx := context.Background()
			b.SetBytes(int64(sb.Len()))
			for b.Loop() {
				r, err := src.Open(ctx, sources.Task{Key: "file:" + path}, nil)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					recs, err := r.Read(ctx)
					n += len(recs)
					if errors.Is(err, sources.ErrEndOfInput) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
				if n != 10000 {
					b.Fatalf("read %d records", n)
				}
			}
		})
	}
}
