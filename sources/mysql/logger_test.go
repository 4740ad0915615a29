package mysql

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
)

// lockedBuffer is a log destination safe for concurrent writes (go-mysql logs from its own goroutine).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Without Config.Logger the source, and go-mysql's binlog syncer inside it, log with the logger of the
// pipeline that opens the task (metrics.From of Open's context): one handler, JSON here, with the
// pipeline's attributes.
func TestLogsGoThroughThePipelineLogger(t *testing.T) {
	server.CreateDatabase(t, "logs")
	server.Exec(t, "CREATE TABLE logs.t (id INT PRIMARY KEY)")
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"logs.t"}, SnapshotMode: SnapshotNever})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out lockedBuffer
	log := slog.New(slog.NewJSONHandler(&out, nil)).With("pipeline", "p", "source", "cdc")
	ctx := metrics.WithEnv(context.Background(), metrics.Env{Logger: log})
	r, err := src.Open(ctx, sources.Task{Key: src.TaskKey()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	logged := out.String()
	for _, want := range []string{
		`"msg":"Connected to server","pipeline":"p","source":"cdc"`, // go-mysql's own line
		`"msg":"binlog streaming started","pipeline":"p","source":"cdc","connector":"mysql"`,
	} {
		if !strings.Contains(logged, want) {
			t.Errorf("the pipeline's log lacks %s:\n%s", want, logged)
		}
	}
}
