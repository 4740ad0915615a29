package topology_test

import (
	"context"
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
	"github.com/sluicehq/sluice/topology"
)

// TestShapeParseJSONDeadLetter runs the newcomer's pipeline that Validate asks for: lines of a file,
// stages.ParseJSON, then a field stage. A line that is not JSON goes to the flow's dead-letter topic, byte
// for byte, with a reason that names the stage, the record's place and what is wrong in the text's words;
// the other lines are masked and written.
func TestShapeParseJSONDeadLetter(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte("{\"id\":1,\"email\":\"a@b\"}\n{\"id\": x}\n{\"id\":3,\"email\":\"c@d\"}\n"), 0o644)
	src, _ := filesource.New(filesource.Config{Paths: []string{in}})
	sink, _ := filesink.New(filesink.Config{Path: out})
	parse, err := stages.ParseJSON("parse")
	if err != nil {
		t.Fatal(err)
	}
	mask, _ := stages.MaskField("mask-email", stages.MaskFieldConfig{Fields: []string{"email"}})
	tp := topology.New("parse-dlq")
	lines := tp.Topic("lines", topology.ValueCodec("string"))
	dlq := tp.Topic("lines.dlq", topology.ValueCodec("string"))
	tp.Source("files", src).To(lines)
	tp.Flow("index").From(lines).Via(parse, mask).To(sink).DeadLetter(dlq)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	testkit.WaitLines(t, out, 2, time.Minute)

	m := firstMessageOf(t, brokers, "lines.dlq")
	h := map[string]string{}
	for _, rh := range m.Headers {
		h[string(rh.Key)] = string(rh.Value)
	}
	want := `value at topic "lines" partition 0 offset 1 is not JSON: invalid character 'x' looking for beginning of value at byte 8`
	if string(m.Value) != `{"id": x}` || h[topology.HeaderErrorStage] != "parse" || !strings.Contains(h[topology.HeaderErrorReason], want) {
		t.Fatalf("dead letter %q with headers %v; want the line, stage parse and a reason containing %s", m.Value, h, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "{\"email\":\"\",\"id\":1}\n{\"email\":\"\",\"id\":3}\n" {
		t.Fatalf("output %q", got)
	}
}
