package topology_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// A whole pipeline: lines of a file go through Kafka (the embedded broker) into another file, upper-cased
// by an ELT stage on the way out.
//
// (It shows the embedded default, so it stays on it under SLUICE_TEST_KAFKA=real.)
func Example() {
	dir, _ := os.MkdirTemp("", "sluice-example")
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	_ = os.WriteFile(in, []byte("hello\nkafka\nin the middle\n"), 0o644)

	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		fmt.Println(err)
		return
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		fmt.Println(err)
		return
	}
	upper := stages.Map("upper", func(r stream.Record) (stream.Record, error) {
		r.Value = strings.ToUpper(r.Value.(string))
		return r, nil
	})

	t := topology.New("example")
	lines := t.Topic("lines", topology.ValueCodec("string"))
	t.Source("files", src).To(lines)
	t.Flow("shout").From(lines).Via(upper).To(sink)

	cfg := topology.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data") // the embedded broker's topics and offsets
	cfg.BrokerAddr = "127.0.0.1:0"           // any free port
	cfg.HTTPAddr = "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- t.RunWith(ctx, cfg) }()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") == 3 {
			break
		}
	}
	stop()
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	b, _ := os.ReadFile(out)
	fmt.Print(string(b))
	// Output:
	// HELLO
	// KAFKA
	// IN THE MIDDLE
}

// Validate reports every declaration mistake at once, each naming what is wrong, before anything runs.
func ExampleTopology_Validate() {
	t := topology.New("orders")
	raw := t.Topic("orders.raw", topology.ValueCodec("avrro"))
	t.Flow("index").From(raw) // no sink

	err := t.Validate()
	fmt.Println(errors.Is(err, topology.ErrInvalidTopology))
	fmt.Println(err)
	// Output:
	// true
	// invalid topology "orders": topic "orders.raw": ValueCodec: stream: unknown codec "avrro" (registered: avro, bytes, json, json-schema, string)
	// flow "index": no sink (call To or ToTopic)
}

// ConfigFromEnv reads SLUICE_BROKERS and friends; with no brokers the pipeline runs its embedded broker.
func ExampleConfigFromEnv() {
	os.Setenv("SLUICE_BROKERS", "kafka-1:9092,kafka-2:9092")
	defer os.Unsetenv("SLUICE_BROKERS")
	cfg, err := topology.ConfigFromEnv()
	fmt.Println(cfg.Brokers, cfg.Embedded(), err)
	// Output: [kafka-1:9092 kafka-2:9092] false <nil>
}
