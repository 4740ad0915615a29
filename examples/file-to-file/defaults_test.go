package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// TestDefaultInputAndBrokerAddress: without -in the example creates SLUICE_DATA_DIR/demo-input.log with a
// few lines and copies them (then what is appended), and with SLUICE_BROKER_ADDR's port 0 it prints the
// port the embedded broker really listens on.
func TestDefaultInputAndBrokerAddress(t *testing.T) {
	dir := t.TempDir()
	data, out := filepath.Join(dir, "data"), filepath.Join(dir, "out.log")
	p := startExample(t, "default-input", []string{"SLUICE_DATA_DIR=" + data, "SLUICE_BROKER_ADDR=127.0.0.1:0", "SLUICE_HTTP_ADDR=off"},
		"-out", out)
	p.waitOutput(regexp.MustCompile(`embedded broker started`), 60*time.Second)
	printed := regexp.MustCompile(`broker:\s+(127\.0\.0\.1:\d+) \(embedded\)`).FindStringSubmatch(p.out.String())
	if printed == nil || strings.HasSuffix(printed[1], ":0") {
		t.Fatalf("printed broker address %q, want the bound port", printed)
	}
	if !regexp.MustCompile(`msg="embedded broker started" .*addr=` + regexp.QuoteMeta(printed[1]) + ` `).MatchString(p.out.String()) {
		t.Errorf("printed %s, but the broker says otherwise:\n%s", printed[1], p.out.String())
	}
	in := filepath.Join(data, "demo-input.log")
	if !strings.Contains(p.out.String(), "input:    "+in) {
		t.Errorf("the input file is not named:\n%s", p.out.String())
	}
	testkit.WaitLines(t, out, 3, 60*time.Second)
	appendLines(t, in, "appended", 0, 2)
	testkit.WaitLines(t, out, 5, 60*time.Second)
	p.stop()
}

// TestStopsWhenParentDies: started the way `go run` starts it (a parent process that waits for it), the
// example stops cleanly when its parent is SIGKILLed, instead of running on with its ports and its data
// directory's lock.
func TestStopsWhenParentDies(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	appendLines(t, in, "line", 0, 3)
	// sh stays the parent: the command after the example keeps it from exec'ing the example in its place.
	cmd := exec.Command("sh", "-c", `"$0" "$@"; echo parent done`, binary, "-in", in, "-out", out)
	cmd.Env = append(os.Environ(), "SLUICE_DATA_DIR="+filepath.Join(dir, "data"), "SLUICE_BROKER_ADDR=127.0.0.1:0", "SLUICE_HTTP_ADDR=off")
	p := startProcess(t, "parent", cmd)
	testkit.WaitLines(t, out, 3, 60*time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// The example shares the parent's output pipe: Wait returns once the example has exited too.
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the example still runs 60 s after its parent was killed:\n%s", p.out.String())
	}
	t.Logf("the example stopped %v after its parent was killed", time.Since(killed).Round(time.Millisecond))
	if !strings.Contains(p.out.String(), `msg="pipeline stopped"`) {
		t.Errorf("no clean stop in the example's log:\n%s", p.out.String())
	}
	// Its data directory is free again: a new run takes it.
	again := startExample(t, "again", []string{"SLUICE_DATA_DIR=" + filepath.Join(dir, "data"), "SLUICE_BROKER_ADDR=127.0.0.1:0", "SLUICE_HTTP_ADDR=off"},
		"-in", in, "-out", out)
	again.waitOutput(regexp.MustCompile(`embedded broker started`), 60*time.Second)
	again.stop()
}
