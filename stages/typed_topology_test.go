package stages_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// A user sees the carried fields in the sink: JSON lines go through Kafka (the embedded broker) and a
// MapValue over a type that declares only some of their fields into a file; every field of the input,
// exact numbers included, is in the output line, and a record missing a required field does not reach the
// sink as a zero: with a dead-letter topic the flow goes on without it, without one Run stops with the
// stage's error.
func TestMapValueCarriesFieldsThroughATopology(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	lines := []string{
		`{"id":1,"amount":50,"channel":"web","ref":1234567890123456789.12,"customer":{"name":"Ada","email":"ada@example.com"}}`,
		`{"id":2,"channel":"api","customer":{"name":"Bob"}}`, // no amount: refused
		`{"id":3,"amount":10.5,"big":9007199254740993,"customer":{"name":"Cy","tier":"gold"}}`,
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type Customer struct {
		Name string `json:"name"`
	}
	type Order struct {
		ID       int64    `json:"id"`
		Amount   float64  `json:"amount"`
		VAT      float64  `json:"vat,omitempty"`
		Customer Customer `json:"customer"`
	}
	addVAT := stages.MapValue("add-vat", func(_ context.Context, o Order) (Order, error) {
		o.VAT = o.Amount * 0.2
		o.Customer.Name = strings.ToUpper(o.Customer.Name)
		return o, nil
	})

	got, err := runTypedFlow(t, dir, in, out, addVAT, true, 2)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := []string{
		// The json codec writes doubles as Java does (50.0); the carried "ref" keeps every digit.
		`{"amount":50.0,"channel":"web","customer":{"email":"ada@example.com","name":"ADA"},"id":1,"ref":1234567890123456789.12,"vat":10.0}`,
		`{"amount":10.5,"big":9007199254740993,"customer":{"name":"CY","tier":"gold"},"id":3,"vat":2.1}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sink got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Without a dead-letter topic, the refused record stops the pipeline with the stage's error.
	in2, out2 := filepath.Join(dir, "in2.jsonl"), filepath.Join(dir, "out2.jsonl")
	if err := os.WriteFile(in2, []byte(lines[1]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runTypedFlow(t, filepath.Join(dir, "second"), in2, out2, addVAT, false, -1)
	if err == nil || !strings.Contains(err.Error(), `flow "vat": stage "add-vat": orders.raw/0@0`) ||
		!strings.Contains(err.Error(), `: field amount: missing`) || strings.Count(err.Error(), `stage "add-vat"`) != 1 {
		t.Fatalf("run without dead letters: %v", err)
	}

	// Before Kafka, in the source task, the error names the source, the record's position and the stage once.
	_, err = runTyped(t, filepath.Join(dir, "third"), in2, filepath.Join(dir, "out3.jsonl"), addVAT, true, false, -1)
	if err == nil || !strings.Contains(err.Error(), `source "files"`) || !strings.Contains(err.Error(), `stage "add-vat": field amount: missing`) ||
		strings.Count(err.Error(), `stage "add-vat"`) != 1 {
		t.Fatalf("run with the stage before Kafka: %v", err)
	}
}

// runTypedFlow runs file in -> Kafka -> stage -> file out until out has wantLines lines (or, with
// wantLines < 0, until Run returns), and returns the lines and Run's error.
func runTypedFlow(t *testing.T, dir, in, out string, stage stages.Stage, deadLetter bool, wantLines int) ([]string, error) {
	return runTyped(t, dir, in, out, stage, false, deadLetter, wantLines)
}

// runTyped is runTypedFlow with the stage before Kafka (in the source task) when etl is set.
func runTyped(t *testing.T, dir, in, out string, stage stages.Stage, etl, deadLetter bool, wantLines int) ([]string, error) {
	t.Helper()
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("typed-carry")
	codec := "string"
	if etl {
		codec = "json" // the stage's objects go to Kafka: a "string" topic cannot hold them (Validate refuses it)
	}
	raw := tp.Topic("orders.raw", topology.ValueCodec(codec))
	var flow *topology.Flow
	if etl {
		tp.Source("files", src).Via(stage).To(raw)
		flow = tp.Flow("vat").From(raw).To(sink)
	} else {
		tp.Source("files", src).To(raw)
		flow = tp.Flow("vat").From(raw).Via(stage).To(sink)
	}
	if deadLetter {
		flow.DeadLetter(tp.Topic("orders.dead", topology.ValueCodec("string")))
	}
	cfg := topology.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.BrokerAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	if wantLines < 0 {
		return nil, <-done
	}
	var got []string
	for ctx.Err() == nil {
		b, _ := os.ReadFile(out)
		if got = strings.Split(strings.TrimSpace(string(b)), "\n"); len(got) == wantLines {
			break
		}
		select {
		case err := <-done:
			return got, err
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	return got, <-done
}
