package topology_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// A record an ETL stage refuses goes to the source's dead-letter topic, with the reason, stage, source and
// position; the others flow on, and the task's position passes the refused record.
func TestETLDeadLetter(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	content := "good 1\npoison pill\ngood 2\n"
	os.WriteFile(in, []byte(content), 0o644)
	src, _ := filesource.New(filesource.Config{Paths: []string{in}})
	out := filepath.Join(dir, "out.log")
	sink, _ := filesink.New(filesink.Config{Path: out})
	refuse := stages.Map("no-poison", func(r stream.Record) (stream.Record, error) {
		if strings.Contains(r.Value.(string), "poison") {
			return r, errors.New("poison is not allowed")
		}
		return r, nil
	})
	tp := topology.New("etl-dlq")
	lines := tp.Topic("lines", topology.ValueCodec("string"))
	dlq := tp.Topic("lines.dlq", topology.ValueCodec("string"))
	tp.Source("files", src).Via(refuse).To(lines).DeadLetter(dlq)
	tp.Flow("out").From(lines).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	testkit.WaitLines(t, out, 2, time.Minute)

	m := firstMessageOf(t, brokers, "lines.dlq")
	h := map[string]string{}
	for _, rh := range m.Headers {
		h[string(rh.Key)] = string(rh.Value)
	}
	if string(m.Value) != "poison pill" || h[topology.HeaderErrorStage] != "no-poison" || h[topology.HeaderErrorSource] != "files" ||
		!strings.Contains(h[topology.HeaderErrorReason], "poison is not allowed") || h[topology.HeaderErrorPosition] != string(filesource.PositionAt(in, 19)) {
		t.Fatalf("dead letter %q with headers %v", m.Value, h)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "good 1\ngood 2\n" {
		t.Fatalf("output %q", got)
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	positions, err := topology.Positions(pctx, brokers, "etl-dlq", "files")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(positions["file:"+in].Position); got != string(filesource.PositionAt(in, int64(len(content)))) {
		t.Fatalf("position %s after a dead-lettered record", got)
	}
}

func firstMessageOf(t *testing.T, brokers []string, topic string) testkit.Message {
	t.Helper()
	return testkit.WaitRecords(t, brokers, topic, 1, 30*time.Second)[0]
}
