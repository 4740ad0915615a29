package topology_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// A batch run: the file source reads its file to the end, the flow drains what it wrote through Kafka, and
// RunBatch returns with the summary (a pipeline binary gets the same from Run with SLUICE_MODE=batch).
func ExampleTopology_RunBatch() {
	dir, _ := os.MkdirTemp("", "sluice-batch-example")
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	_ = os.WriteFile(in, []byte("one\ntwo\nthree\n"), 0o644)
	src, _ := filesource.New(filesource.Config{Paths: []string{in}})
	sink, _ := filesink.New(filesink.Config{Path: out})

	t := topology.New("nightly-copy")
	lines := t.Topic("lines", topology.ValueCodec("string"))
	t.Source("files", src).To(lines)
	t.Flow("copy").From(lines).To(sink)

	cfg := topology.DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = filepath.Join(dir, "data"), "127.0.0.1:0", "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	summary, err := t.RunBatch(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("records:", summary.Records, "written:", summary.Written, "dead letters:", summary.DeadLetters)
	b, _ := os.ReadFile(out)
	fmt.Print(string(b))
	// Output:
	// records: 3 written: 3 dead letters: 0
	// one
	// two
	// three
}
