package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/testkit"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// TestRestartAfterBrokerKill SIGKILLs the process that hosts the embedded broker, then opens its data dir
// again: topics, records and source positions must all be there, and a restarted example must carry on
// without sending anything twice. It is about the embedded broker's data dir, so it stays embedded under
// SLUICE_TEST_KAFKA=real.
func TestRestartAfterBrokerKill(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	inputs := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	expected := map[string]int{}
	for i, in := range inputs {
		appendLines(t, in, fmt.Sprintf("f%d", i), 0, 5000)
		expected[fmt.Sprintf("f%d", i)] = 5000
	}
	out := filepath.Join(dir, "out.log")
	env := []string{"SLUICE_DATA_DIR=" + data, "SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t), "SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t)}
	args := []string{"-in", strings.Join(inputs, ","), "-out", out}

	p := startExample(t, "first run", env, args...)
	testkit.WaitLines(t, out, 10000, 90*time.Second)
	time.Sleep(500 * time.Millisecond) // let the last offsets commit
	p.kill()

	// The data dir again, in this process.
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: data})
	if err != nil {
		t.Fatalf("reopen data dir after SIGKILL: %v", err)
	}
	topics := testkit.Topics(t, b.Addrs())
	for _, want := range []string{"lines", "file-to-file.files.control", "file-to-file.files-table"} {
		if !contains(topics, want) {
			t.Errorf("topic %q missing after restart; topics: %v", want, topics)
		}
	}
	var records int64
	for _, hwm := range testkit.HighWaterMarks(t, b.Addrs(), "lines") {
		records += hwm
	}
	if records < 10000 {
		t.Errorf("topic lines holds %d records after restart, want at least 10000", records)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	positions, err := topology.Positions(ctx, b.Addrs(), "file-to-file", "files")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		info, _ := os.Stat(in)
		want := string(filesource.PositionAt(in, info.Size()))
		if got := string(positions["file:"+in].Position); got != want {
			t.Errorf("position of %s after restart = %s, want %s", in, got, want)
		}
	}
	t.Logf("after SIGKILL: %d records in topic lines, positions %v", records, positions)
	b.Close()

	// The example resumes on the same data dir: only new lines come out.
	p = startExample(t, "second run", env, args...)
	p.waitOutput(regexp.MustCompile(`msg="pipeline running"`), 60*time.Second)
	appendLines(t, inputs[0], "f0", 5000, 5010)
	expected["f0"] = 5010
	testkit.WaitLines(t, out, 10010, 60*time.Second)
	p.stop()
	d := checkDelivery(testkit.ReadLines(t, out), expected)
	if d.lost != 0 || d.duplicates != 0 || len(d.reordered) != 0 {
		t.Errorf("after restart: lost %d, duplicates %d, reordered %v", d.lost, d.duplicates, d.reordered)
	}
}

// TestSecondProcessOnSameDataDir: a second process on a data dir in use fails at once, naming the lock (the
// embedded broker's lock: it stays embedded under SLUICE_TEST_KAFKA=real).
func TestSecondProcessOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	appendLines(t, in, "f", 0, 10)
	data := filepath.Join(dir, "data")
	first := startExample(t, "first", []string{"SLUICE_DATA_DIR=" + data, "SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t), "SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t)},
		"-in", in, "-out", filepath.Join(dir, "out1.log"))
	first.waitOutput(regexp.MustCompile(`embedded broker started`), 30*time.Second)

	second := startExample(t, "second", []string{"SLUICE_DATA_DIR=" + data, "SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t), "SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t)},
		"-in", in, "-out", filepath.Join(dir, "out2.log"))
	select {
	case <-second.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("second process on the same data dir still running after 10s")
	}
	msg := second.out.String()
	if second.err == nil || !strings.Contains(msg, "data directory is locked") || !strings.Contains(msg, filepath.Join(data, "LOCK")) {
		t.Fatalf("second process: exit %v, output %q; want a failure naming the lock %s", second.err, msg, filepath.Join(data, "LOCK"))
	}
	t.Logf("second process: %s", strings.TrimSpace(msg[strings.LastIndex(strings.TrimSpace(msg), "\n")+1:]))
	first.stop()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
