package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// TestACLsCommand asks a running replica for its pipeline's ACLs: the kafka-acls.sh lines and the JSON
// are exactly Topology.ACLs of the declaration.
func TestACLsCommand(t *testing.T) {
	dir := t.TempDir()
	src, err := filesource.New(filesource.Config{Paths: []string{filepath.Join(dir, "in.txt")}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: filepath.Join(dir, "out.txt")})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("cli-acls")
	topic := tp.Topic("cli-acls-lines", topology.ValueCodec("string"))
	tp.Source("files", src).To(topic)
	tp.Flow("out").From(topic).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = testkit.Brokers(t, 1), testkit.FreeAddr(t)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()
	waitFor(t, 60*time.Second, "the operator API", func() string {
		resp, err := http.Get("http://" + cfg.HTTPAddr + "/pipelines/cli-acls/acls?principal=User:x")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		return ""
	})
	want := tp.ACLs("User:sluice")
	api := []string{"--url", "http://" + cfg.HTTPAddr}

	out, err := run(t, context.Background(), append([]string{"acls", "cli-acls", "--principal", "User:sluice", "--bootstrap-server", "kafka:9092"}, api...)...)
	if err != nil {
		t.Fatal(err)
	}
	commands := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "kafka-acls.sh ") {
			commands++
		}
	}
	if commands != len(want) {
		t.Errorf("%d kafka-acls.sh lines, want %d:\n%s", commands, len(want), out)
	}
	for _, line := range []string{
		"# topic cli-acls-lines\n",
		"kafka-acls.sh --bootstrap-server kafka:9092 --add --allow-principal User:sluice --operation Write --topic cli-acls-lines   # source \"files\" writes its records\n",
		"kafka-acls.sh --bootstrap-server kafka:9092 --add --allow-principal User:sluice --operation Read --group cli-acls.out   # flow \"out\": its consumer group\n",
		"# Only for operator actions",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}

	out, err = run(t, context.Background(), append([]string{"acls", "cli-acls", "--principal", "User:sluice", "-o", "json"}, api...)...)
	if err != nil {
		t.Fatal(err)
	}
	var got []topology.ACL
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("-o json:\n got %+v\nwant %+v", got, want)
	}

	if _, err := run(t, context.Background(), append([]string{"acls", "cli-acls"}, api...)...); err == nil || !strings.Contains(err.Error(), "--principal") {
		t.Errorf("without --principal: %v, want an error naming --principal", err)
	}
}
