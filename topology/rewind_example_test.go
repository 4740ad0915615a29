package topology_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// Rewind a flow after the run ended, on the embedded broker's data directory: the next run processes the
// topic again from the earliest offset (a timestamp works the same: RewindTarget{Timestamp: ...}), while
// the source, whose position is saved, reads nothing new.
//
// (It shows the embedded default, so it stays on it under SLUICE_TEST_KAFKA=real.)
func ExampleRewind() {
	dir, _ := os.MkdirTemp("", "sluice-rewind-example")
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	_ = os.WriteFile(in, []byte("hello\nagain\n"), 0o644)
	declare := func() *topology.Topology {
		src, _ := filesource.New(filesource.Config{Paths: []string{in}})
		sink, _ := filesink.New(filesink.Config{Path: out})
		t := topology.New("rewind-example")
		lines := t.Topic("lines", topology.ValueCodec("string"))
		t.Source("files", src).To(lines)
		t.Flow("copy").From(lines).To(sink)
		return t
	}
	cfg := topology.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.BrokerAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	runUntil := func(lines int) {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- declare().RunWith(ctx, cfg) }()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") == lines {
				break
			}
		}
		stop()
		if err := <-done; err != nil {
			fmt.Println(err)
		}
	}

	runUntil(2)
	res, err := topology.Rewind(context.Background(), cfg, declare(), "copy", topology.RewindTarget{Earliest: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range res.Partitions {
		fmt.Printf("group %s, topic %s partition %d: offset %d -> %d\n", res.Group, res.Topic, p.Partition, *p.Old, p.New)
	}
	runUntil(4)
	b, _ := os.ReadFile(out)
	fmt.Print(string(b))
	// Output:
	// group rewind-example.copy, topic lines partition 0: offset 2 -> 0
	// hello
	// again
	// hello
	// again
}
