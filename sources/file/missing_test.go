package file_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources/file"
)

// TestMissingFileIsSaid: a task whose file does not exist says so in a WARN naming the path at once and
// then every 30 s while it waits, and one INFO line when the file appears and it reads it.
func TestMissingFileIsSaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "not-yet.log")
		log := &testkit.LogBuffer{}
		src := newSource(t, file.Config{Paths: []string{path}, PollInterval: time.Second,
			Logger: slog.New(slog.NewTextHandler(log, nil))})
		r := openFile(t, src, path, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 65*time.Second)
		defer cancel()
		if recs, err := r.Read(ctx); !errors.Is(err, context.DeadlineExceeded) || len(recs) != 0 {
			t.Fatalf("Read of a missing file: %d records, %v", len(recs), err)
		}
		warns := log.Lines("the file does not exist")
		if len(warns) != 3 { // at 0 s, 30 s and 60 s
			t.Fatalf("want 3 warnings in 65 s, got %d:\n%s", len(warns), log.String())
		}
		for _, w := range warns {
			if !strings.Contains(w, "level=WARN") || !strings.Contains(w, "path="+path) {
				t.Errorf("warning does not name the path at WARN: %s", w)
			}
		}
		if !strings.Contains(warns[2], "waited=1m0s") {
			t.Errorf("third warning does not say how long it waited: %s", warns[2])
		}

		writeFile(t, path, "here\n")
		ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel2()
		if recs := readN(t, ctx2, r, 1); values(recs)[0] != "here" {
			t.Errorf("read %q", values(recs))
		}
		if got := log.Lines("the file exists now"); len(got) != 1 || !strings.Contains(got[0], "level=INFO") {
			t.Errorf("want one INFO line when the file appears, got %q", got)
		}
	})
}
