package topology_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

var email = regexp.MustCompile(`[a-z]+@[a-z.]+`)

// Where a stage runs matters: an ETL stage (Source.Via) masks before Kafka, so no consumer of the raw topic
// ever sees the secret; ELT stages (Flow.Via) leave the raw topic exactly as the source wrote it, and a flow
// can publish its result to another topic (Flow.ToTopic) for other consumers.
func TestETLMasksBeforeKafkaELTLeavesRawTopicIntact(t *testing.T) {
	kcat := requireKcat(t)
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "signups.log")
	input := "alice@example.com signed up\nbob@example.org signed up\nno address here\n"
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := filesource.New(filesource.Config{Paths: []string{in}})
	mask := stages.Map("mask-email", func(r stream.Record) (stream.Record, error) {
		r.Value = email.ReplaceAllString(r.Value.(string), "***")
		return r, nil
	})
	upper := stages.Map("upper", func(r stream.Record) (stream.Record, error) {
		r.Value = strings.ToUpper(r.Value.(string))
		return r, nil
	})
	out := filepath.Join(dir, "out.log")
	sink, _ := filesink.New(filesink.Config{Path: out})

	tp := topology.New("placement")
	raw := tp.Topic("signups.raw", topology.ValueCodec("string"))
	shouted := tp.Topic("signups.shouted", topology.ValueCodec("string"))
	tp.Source("files", src).Via(mask).To(raw)
	tp.Flow("shout").From(raw).Via(upper).ToTopic(shouted)
	tp.Flow("archive").From(raw).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	testkit.WaitLines(t, out, 3, time.Minute)

	read := func(topic string, n int) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, _ := exec.Command(kcat, "-b", brokers[0], "-C", "-t", topic, "-e", "-q", "-f", "%s\n").Output()
			if bytes.Count(got, []byte{'\n'}) >= n || time.Now().After(deadline) {
				return string(got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wantRaw := "*** signed up\n*** signed up\nno address here\n"
	if got := read("signups.raw", 3); got != wantRaw {
		t.Errorf("raw topic as kcat reads it:\n%q\nwant the masked lines\n%q", got, wantRaw)
	}
	if got := read("signups.shouted", 3); got != strings.ToUpper(wantRaw) {
		t.Errorf("ELT output topic: %q", got)
	}
	// The ELT flow ran, and the raw topic still holds exactly what the source produced.
	if got := read("signups.raw", 3); got != wantRaw {
		t.Errorf("raw topic changed after the ELT flow: %q", got)
	}
	if got, _ := os.ReadFile(out); string(got) != wantRaw {
		t.Errorf("archive flow got %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
