package topology_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// When Kafka goes away for longer than RetryTimeout while a source task has records to send, the task fails
// with one error line naming the source, the task, the record's position and the brokers the producer
// tried, and RunWith's error names them too.
func TestProduceFailureNamesBrokers(t *testing.T) {
	// On real Kafka (SLUICE_TEST_KAFKA=real) the outage is a stop of its only node; else of the embedded broker.
	var brokers []string
	var kafkaGoesAway func()
	if kafkatest.Real() {
		c := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
		brokers, kafkaGoesAway = c.Addrs(), c.StopAll
	} else {
		b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		brokers, kafkaGoesAway = b.Addrs(), func() { b.Close() }
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	if err := os.WriteFile(in, []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("lonely")
	lines := tp.Topic("lines", topology.ValueCodec("string"))
	tp.Source("files", src).To(lines)
	tp.Flow("to-file").From(lines).To(sink)
	rc := topology.DefaultConfig()
	rc.Brokers, rc.HTTPAddr, rc.RetryTimeout = brokers, "off", 3*time.Second
	log := &testkit.LogBuffer{}
	rc.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, rc) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(string(must(os.ReadFile(out))), "first") {
		if time.Now().After(deadline) {
			t.Fatalf("first line not delivered within 30s; log:\n%s", strings.Join(log.Lines(""), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	kafkaGoesAway()
	f, err := os.OpenFile(in, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("second\n")
	f.Close()
	err = <-done
	if err == nil || ctx.Err() != nil {
		t.Fatalf("RunWith = %v (%v); want a failure; log:\n%s", err, ctx.Err(), strings.Join(log.Lines(""), "\n"))
	}
	t.Logf("RunWith: %v", err)
	for _, l := range log.Lines("level=") {
		if !strings.Contains(l, "level=INFO") {
			t.Logf("log: %s", l)
		}
	}
	quoted := func(pos []byte) string { return strings.ReplaceAll(string(pos), `"`, `\"`) } // as the log line quotes it
	where := []string{`source \"files\" task \"file:` + in + `\": record at position ` + quoted(filesource.PositionAt(in, 13)) + ` (after ` + quoted(filesource.PositionAt(in, 6)) + `): topic \"lines\": Kafka at ` + brokers[0] + ` did not take it: `}
	if lines := log.Lines("level=ERROR"); len(lines) != 1 || !strings.Contains(lines[0], where[0]) {
		t.Errorf("%d ERROR lines; want one containing %s", len(lines), where[0])
	}
	unquoted := strings.ReplaceAll(where[0], `\"`, `"`)
	if !strings.HasPrefix(err.Error(), unquoted) || strings.Count(err.Error(), "did not take it") != 1 {
		t.Errorf("RunWith's error %q; want one error starting %s", err, unquoted)
	}
}

func must(b []byte, _ error) []byte { return b }
