package topology_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// TestFileKafkaFile moves 100,000 lines file -> Kafka -> file through the real broker protocol and checks
// that they come out identical and in order, that kcat reads the same lines from the topic, and that after
// a clean stop the group table holds each file's byte size as its position.
func TestFileKafkaFile(t *testing.T) {
	const n = 100_000
	dir := t.TempDir()
	brokers := testkit.Brokers(t, 1)

	in := filepath.Join(dir, "in.log")
	var want bytes.Buffer
	for i := range n {
		fmt.Fprintf(&want, "line %06d: the quick brown fox jumps over the lazy dog ünïcödé %d\n", i, i*7919)
	}
	if err := os.WriteFile(in, want.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.log")

	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("spine")
	lines := tp.Topic("lines", topology.ValueCodec("string"), topology.Partitions(3))
	tp.Source("files", src).To(lines)
	tp.Flow("to-file").From(lines).To(sink)

	cfg := topology.DefaultConfig()
	cfg.Brokers = brokers
	cfg.HTTPAddr = testkit.FreeAddr(t)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- tp.RunWith(ctx, cfg) }()

	testkit.WaitLines(t, out, 1, 60*time.Second)
	first := time.Now()
	testkit.WaitLines(t, out, n, 2*time.Minute)
	elapsed := time.Since(first)
	t.Logf("file -> Kafka -> file: %d lines in %v after the first arrived (%.0f records/s); %v from start incl. group join",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), time.Since(started).Round(time.Millisecond))

	// Lag is refreshed periodically: wait for it to show the flow caught up.
	caughtUp := `sluice_consumer_lag{group="spine.to-file",partition="%d",pipeline="spine",topic="lines"} 0`
	var metrics string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		metrics = httpGet(t, "http://"+cfg.HTTPAddr+"/metrics")
		if strings.Contains(metrics, fmt.Sprintf(caughtUp, partitionOf(t, metrics))) || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range []string{`sluice_source_records_total{pipeline="spine",source="files"} 100000`,
		`sluice_source_records_acked_total{pipeline="spine",source="files"} 100000`,
		`sluice_sink_records_total{pipeline="spine",sink="to-file"} 100000`,
		`sluice_source_tasks_running{pipeline="spine",source="files"} 1`,
		fmt.Sprintf(caughtUp, partitionOf(t, metrics))} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if health := httpGet(t, "http://"+cfg.HTTPAddr+"/healthz"); !strings.Contains(health, `"status":"alive"`) {
		t.Errorf("/healthz = %s", health)
	}
	if ready := httpGet(t, "http://"+cfg.HTTPAddr+"/readyz"); !strings.Contains(ready, `"status":"ready"`) {
		t.Errorf("/readyz = %s", ready)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("output differs from input: %d bytes vs %d", len(got), want.Len())
	}

	t.Run("position in group table equals file size", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		positions, err := topology.Positions(ctx, brokers, "spine", "files")
		if err != nil {
			t.Fatal(err)
		}
		st := positions["file:"+in]
		if want := string(filesource.PositionAt(in, int64(want.Len()))); string(st.Position) != want {
			t.Fatalf("stored position %s, want %s (all of %v)", st.Position, want, positions)

		}
		if st.Owner != "" {
			t.Errorf("owner %q after a clean stop, want none", st.Owner)
		}
	})

	t.Run("kcat reads the topic", func(t *testing.T) {
		kcat := requireKcat(t)
		cmd := exec.Command(kcat, "-b", brokers[0], "-C", "-t", "lines", "-e", "-q", "-f", "%s\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat: %v: %s", err, stderr.String())
		}
		// One file, one key: every line is on one partition, in order.
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("kcat read %d bytes (%d lines), want the %d input bytes", len(got), bytes.Count(got, []byte{'\n'}), want.Len())
		}
		keys, err := exec.Command(kcat, "-b", brokers[0], "-C", "-t", "lines", "-e", "-q", "-c", "1", "-f", "%k").Output()
		if err != nil || string(keys) != in {
			t.Fatalf("kcat key = %q (%v), want the file path %q", keys, err, in)
		}
	})
}

// partitionOf returns the partition the flow reported lag for (the one partition the single file's key
// hashes to), or -1.
func partitionOf(t *testing.T, metrics string) int {
	i := strings.Index(metrics, `sluice_consumer_lag{group="spine.to-file",partition="`)
	if i < 0 {
		return -1
	}
	var p int
	fmt.Sscanf(metrics[i+len(`sluice_consumer_lag{group="spine.to-file",partition="`):], "%d", &p)
	return p
}

// requireKcat finds kcat, the third-party client that proves topics are readable by others. It is part of
// the set-up (README; .ci/run installs it), so its absence fails the test rather than skipping it.
func requireKcat(t *testing.T) string {
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not installed: apt-get install kcat (.ci/run installs it)")
	}
	return path
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

func writeLines(t *testing.T, path string, file, n int) {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "f%d-%08d\n", file, i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
