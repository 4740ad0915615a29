package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// buildSluice builds cmd/sluice into a temporary directory.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/sluice")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build cmd/sluice: %v", err)
	}
	return bin
}

// startBroker runs `sluice broker` and waits until it listens.
func startBroker(t *testing.T, bin, addr, data string) *process {
	t.Helper()
	p := startProcess(t, "broker", exec.Command(bin, "broker", "--addr", addr, "--data-dir", data))
	p.waitOutput(regexp.MustCompile(`broker listening on`), 30*time.Second)
	return p
}

// TestBrokerRestart: the broker runs in its own process (`sluice broker`); while a writer appends lines,
// the broker is stopped (SIGTERM, how a broker restarts), kept down 20s and started again on the same port
// and data dir. The pipeline process rides it out: it stays alive, and the output converges to every input
// line, in order.
func TestBrokerRestart(t *testing.T) {
	bin := buildSluice(t)
	dir := t.TempDir()
	brokerAddr, data := testkit.FreeAddr(t), filepath.Join(dir, "broker")
	broker := startBroker(t, bin, brokerAddr, data)
	brokerRestart(t, restartableBroker{
		addrs: brokerAddr,
		stop: func() {
			_ = broker.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-broker.exited:
			case <-time.After(30 * time.Second):
				t.Fatal("broker did not stop within 30s of SIGTERM")
			}
		},
		start: func() { broker = startBroker(t, bin, brokerAddr, data) },
	})
}

// restartableBroker is the Kafka of a broker-restart test: addrs is the bootstrap list given to the
// pipeline as SLUICE_BROKERS, stop stops it cleanly (SIGTERM) and returns once it has exited, start starts
// it again on the same ports and data and returns once it serves.
type restartableBroker struct {
	addrs       string
	stop, start func()
}

// brokerRestart is the scenario of the broker-restart tests: the file-to-file pipeline runs in its own
// process against b while a writer appends 20 lines per file every 100ms; b is stopped, kept down 20s and
// started again. The pipeline must stay alive through it and its output converge to every written line, in
// order. It logs how long the broker was down, how long after its return the output moved again, and the
// duplicates.
func brokerRestart(t *testing.T, b restartableBroker) {
	dir := t.TempDir()
	inputs := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	for _, in := range inputs {
		appendLines(t, in, "", 0, 0)
	}
	out := filepath.Join(dir, "out.log")
	pipeline := startExample(t, "pipeline", []string{"SLUICE_BROKERS=" + b.addrs, "SLUICE_HTTP_ADDR=off"},
		"-in", strings.Join(inputs, ","), "-out", out)
	pipeline.waitOutput(regexp.MustCompile(`msg="pipeline running"`), 60*time.Second)

	// The writer appends 20 lines per file every 100ms until told to stop.
	var (
		mu      sync.Mutex
		written = map[string]int{}
	)
	stopWriter := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopWriter:
				return
			case <-tick.C:
			}
			mu.Lock()
			for i, in := range inputs {
				prefix := fmt.Sprintf("f%d", i)
				appendLines(t, in, prefix, written[prefix], written[prefix]+20)
				written[prefix] += 20
			}
			mu.Unlock()
		}
	}()
	testkit.WaitLines(t, out, 400, 60*time.Second)

	b.stop()
	downAt := time.Now()
	linesAtStop := testkit.CountLines(out)
	for time.Since(downAt) < 20*time.Second {
		select {
		case <-pipeline.exited:
			t.Fatalf("pipeline exited (%v) %v after the broker stopped", pipeline.err, time.Since(downAt).Round(time.Millisecond))
		case <-time.After(100 * time.Millisecond):
		}
	}
	b.start()
	upAt := time.Now()
	linesAtUp := testkit.CountLines(out)
	t.Logf("broker down for %v (serving again); output had %d lines when it stopped, %d when it came back",
		upAt.Sub(downAt).Round(time.Millisecond), linesAtStop, linesAtUp)

	// Keep writing a while after the restart, then stop and wait for convergence.
	testkit.WaitLines(t, out, linesAtUp+1, 120*time.Second)
	t.Logf("output moving again %v after the broker came back", time.Since(upAt).Round(time.Millisecond))
	testkit.WaitLines(t, out, linesAtStop+400, 120*time.Second)
	t.Logf("400 lines past the stop %v after the broker came back", time.Since(upAt).Round(time.Millisecond))
	close(stopWriter)
	<-writerDone
	mu.Lock()
	total := written["f0"] + written["f1"]
	expected := map[string]int{"f0": written["f0"], "f1": written["f1"]}
	mu.Unlock()
	deadline := time.Now().Add(120 * time.Second)
	for {
		d := checkDelivery(testkit.ReadLines(t, out), expected)
		if d.lost == 0 {
			break
		}
		select {
		case <-pipeline.exited:
			t.Fatalf("pipeline exited (%v) before converging: %+v", pipeline.err, d)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("output did not converge within 120s: %d lines written, %+v", total, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d := checkDelivery(testkit.ReadLines(t, out), expected)
	if d.lost != 0 || len(d.reordered) != 0 {
		t.Errorf("lost %d, reordered %v", d.lost, d.reordered)
	}
	t.Logf("%d lines written, %d output lines, %d duplicates, lost %d", total, d.lines, d.duplicates, d.lost)
	for _, l := range strings.Split(pipeline.out.String(), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Logf("pipeline: %s", l)
		}
	}
	pipeline.stop()
}
