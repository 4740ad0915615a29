package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// blackHole is a broker that accepts connections and never answers.
func blackHole(t *testing.T) string { return testkit.StartBlackHole(t).Addr() }

// TestBlackHoleBroker: a broker address that accepts connections and never answers fails the start within
// the start-up timeout (30s by default), naming the address; a SIGTERM during that wait stops the process
// cleanly (exit 0) within 2s.
func TestBlackHoleBroker(t *testing.T) {
	addr := blackHole(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	appendLines(t, in, "f", 0, 10)
	env := []string{"SLUICE_BROKERS=" + addr, "SLUICE_HTTP_ADDR=off"}
	args := []string{"-in", in, "-out", filepath.Join(dir, "out.log")}

	start := time.Now()
	p := startExample(t, "black hole", env, args...)
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("still running %v after start against a black-hole broker", time.Since(start))
	}
	took := time.Since(start)
	msg := p.out.String()
	if p.err == nil || !strings.Contains(msg, "Kafka at "+addr+" did not answer") {
		t.Fatalf("exit %v after %v, output %q; want a failure naming %s", p.err, took, msg, addr)
	}
	if took > 32*time.Second {
		t.Errorf("start-up failed after %v, want within 30s", took)
	}
	t.Logf("failed after %v: %s", took.Round(time.Millisecond), lastLine(msg))

	p = startExample(t, "black hole, stopped", env, args...)
	time.Sleep(3 * time.Second) // the scenario: an operator gives up 3s into a hung start
	stopAt := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("not exited 10s after SIGTERM during a hung start-up")
	}
	took = time.Since(stopAt)
	if p.err != nil || took > 2*time.Second {
		t.Fatalf("SIGTERM during hung start-up: exit %v after %v, want exit 0 within 2s; output %q", p.err, took, p.out.String())
	}
	t.Logf("SIGTERM during hung start-up: exit 0 after %v", took.Round(time.Millisecond))
}

// TestStopDuringStartup sends SIGTERM at points of the start-up (the embedded broker just started, topics
// being created, processors joining their groups): every time the process exits 0 within 2s.
func TestStopDuringStartup(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	appendLines(t, in, "f", 0, 100)
	for i, at := range []*regexp.Regexp{
		regexp.MustCompile(`embedded broker started`),
		regexp.MustCompile(`msg="pipeline starting"`),
		regexp.MustCompile(`msg="flow ready"`),
		regexp.MustCompile(`msg="pipeline running"`),
	} {
		env := []string{"SLUICE_DATA_DIR=" + filepath.Join(dir, "data"), "SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t), "SLUICE_HTTP_ADDR=off"}
		p := startExample(t, at.String(), env, "-in", in, "-out", filepath.Join(dir, "out.log"))
		p.waitOutput(at, 30*time.Second)
		stopAt := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			t.Fatalf("%d: not exited 20s after SIGTERM at %q", i, at)
		}
		took := time.Since(stopAt)
		if p.err != nil || took > 2*time.Second {
			t.Errorf("SIGTERM at %q: exit %v after %v, want exit 0 within 2s; output:\n%s", at, p.err, took, p.out.String())
			continue
		}
		t.Logf("SIGTERM at %q: exit 0 after %v", at, took.Round(time.Millisecond))
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
