package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// The standalone broker serves a pipeline, and `positions` reads the pipeline's stored positions from it.
// Embedded on purpose: `sluice broker` is the embedded broker (TestPositionsCommand covers real Kafka).
func TestBrokerAndPositions(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testkit.LogBuffer{}
	cmd := newRootCommand()
	cmd.SetOut(out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"broker", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")})
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- cmd.ExecuteContext(ctx) }()
	addrRE := regexp.MustCompile(`SLUICE_BROKERS=(\S+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("broker printed %q", out.String())
		}
	}

	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := filesource.New(filesource.Config{Paths: []string{in}, StopAtEnd: true})
	sink, _ := filesink.New(filesink.Config{Path: filepath.Join(dir, "out.log")})
	tp := topology.New("cli")
	lines := tp.Topic("lines", topology.ValueCodec("string"))
	tp.Source("files", src).To(lines)
	// A task whose file never appears: claimed, nothing read.
	missing := filepath.Join(dir, "never.log")
	waiting, _ := filesource.New(filesource.Config{Paths: []string{missing}})
	tp.Source("waiting", waiting).To(lines)
	tp.Flow("out").From(lines).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = []string{addr}, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	pctx, stopPipeline := context.WithCancel(ctx)
	pipelineDone := make(chan error, 1)
	go func() { pipelineDone <- tp.RunWith(pctx, cfg) }()

	var got map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		text, err := run(t, ctx, "positions", "--brokers", addr, "--pipeline", "cli", "--source", "files")
		if err == nil && strings.Contains(text, `"position":`+string(filesource.PositionAt(in, 8))) {
			if err := json.Unmarshal([]byte(strings.TrimSpace(text)), &got); err != nil {
				t.Fatalf("positions printed %q: %v", text, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("positions: %q, %v", text, err)
		}
	}
	if got["task"] != "file:"+in || got["read"] != true {
		t.Errorf("positions line %v, want task file:%s read", got, in)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		text, err := run(t, ctx, "positions", "--brokers", addr, "--pipeline", "cli", "--source", "waiting")
		if err == nil && strings.Contains(text, `"task":"file:`+missing+`"`) {
			if !strings.Contains(text, `"read":false`) || !strings.Contains(text, `"position":null`) {
				t.Errorf("a task that read nothing: %s", text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("positions of the waiting source: %q, %v", text, err)
		}
	}
	stopPipeline()
	if err := <-pipelineDone; err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-brokerDone; err != nil {
		t.Fatalf("broker: %v", err)
	}
}

// `positions` reads a pipeline's stored positions from the test matrix's Kafka (a fresh 3-node real cluster
// with SLUICE_TEST_KAFKA=real), and the pipeline starts there without a Kafka warning (such as "partitioning
// check incomplete"): its topics are led on every broker before the start-up checks read them.
func TestPositionsCommand(t *testing.T) {
	brokers := testkit.Brokers(t, 3)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := filesource.New(filesource.Config{Paths: []string{in}, StopAtEnd: true})
	sink, _ := filesink.New(filesink.Config{Path: filepath.Join(dir, "out.log")})
	tp := topology.New("cli-matrix")
	lines := tp.Topic("lines", topology.ValueCodec("string"), topology.Partitions(3))
	tp.Source("files", src).To(lines)
	tp.Flow("out").From(lines).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	if kafkatest.Real() {
		cfg.Replication = 3
	}
	logs := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	pipelineDone := make(chan error, 1)
	go func() { pipelineDone <- tp.RunWith(ctx, cfg) }()

	addr := strings.Join(brokers, ",")
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		text, err := run(t, ctx, "positions", "--brokers", addr, "--pipeline", "cli-matrix", "--source", "files")
		if err == nil && strings.Contains(text, `"position":`+string(filesource.PositionAt(in, 8))) && strings.Contains(text, `"task":"file:`+in+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("positions: %q, %v; log:\n%s", text, err, logs.String())
		}
	}
	t.Logf("position of the input's end read %v after the pipeline started", time.Since(began).Round(time.Millisecond))
	cancel()
	if err := <-pipelineDone; err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		// The one expected warning: the file source reads lines longer than the topic takes.
		if (strings.Contains(l, "level=WARN") && !strings.Contains(l, "longer ones stop the task")) || strings.Contains(l, "level=ERROR") {
			t.Errorf("pipeline logged: %s", l)
		}
	}
}

func TestPositionsNeedsNames(t *testing.T) {
	if _, err := run(t, context.Background(), "positions"); err == nil || !strings.Contains(err.Error(), "--pipeline") {
		t.Fatalf("err = %v", err)
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, context.Background(), "version")
	if err != nil || !strings.HasPrefix(out, "sluice ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

// `sluice es serve` answers the go-elasticsearch client's first call.
func TestESServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.LogBuffer{}
	cmd := newRootCommand()
	cmd.SetOut(out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"es", "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	urlRE := regexp.MustCompile(`server on (http://\S+)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("es serve printed %q", out.String())
		}
	}
	client, err := es.NewClient(es.Config{Addresses: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Info()
	if err != nil || res.IsError() {
		t.Fatalf("Info: %v %v", err, res)
	}
	res.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
