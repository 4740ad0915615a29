package topology_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// Tasks of a bounded source end by themselves: each saves its final position and releases the task while
// the pipeline keeps running, and is not restarted.
func TestBoundedSourceTasksEnd(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	var inputs []string
	for i := range 3 {
		in := filepath.Join(dir, fmt.Sprintf("in-%d.log", i))
		writeLines(t, in, i, 1000)
		inputs = append(inputs, in)
	}
	out := filepath.Join(dir, "out.log")
	src, err := filesource.New(filesource.Config{Paths: []string{filepath.Join(dir, "in-*.log")}, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("bounded")
	lines := tp.Topic("lines", topology.ValueCodec("string"), topology.Partitions(2))
	tp.Source("files", src).To(lines)
	tp.Flow("out").From(lines).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, testkit.FreeAddr(t)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()
	testkit.WaitLines(t, out, 3000, time.Minute)

	// While the pipeline runs: every task released with its whole file as position, none running.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
		positions, err := topology.Positions(pctx, brokers, "bounded", "files")
		pcancel()
		if err != nil {
			t.Fatal(err)
		}
		released := 0
		for _, in := range inputs {
			if st := positions["file:"+in]; st.Owner == "" && string(st.Position) == string(filesource.PositionAt(in, fileSize(t, in))) {
				released++
			}
		}
		if released == len(inputs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not all released at their end: %v", positions)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := httpGet(t, "http://"+cfg.HTTPAddr+"/metrics"); !strings.Contains(m, `sluice_source_tasks_running{pipeline="bounded",source="files"} 0`) {
		t.Errorf("tasks still counted as running:\n%s", grepLines(m, "sluice_source_tasks_running"))
	}
}
