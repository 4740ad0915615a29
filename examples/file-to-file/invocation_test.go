package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad flags and settings fail at start, before any broker or file is touched, naming what is wrong. (No
// broker is reached, so it needs no real Kafka under SLUICE_TEST_KAFKA=real.)
func TestBadInvocationFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	appendLines(t, in, "f", 0, 1)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"empty input list", nil, []string{"-in", "", "-out", filepath.Join(dir, "out")}, "-in: file source: Paths is empty"},
		{"no output", nil, []string{"-in", in}, "-out: file sink: Path is empty"},
		{"pattern matching nothing", nil, []string{"-in", filepath.Join(dir, "*.nope"), "-out", filepath.Join(dir, "out")}, `pattern "` + filepath.Join(dir, "*.nope") + `" matches no file`},
		{"session timeout too short", []string{"SLUICE_SESSION_TIMEOUT=2s"}, []string{"-in", in, "-out", filepath.Join(dir, "out")}, "SLUICE_SESSION_TIMEOUT"},
		{"bad session timeout", []string{"SLUICE_SESSION_TIMEOUT=soon"}, []string{"-in", in, "-out", filepath.Join(dir, "out")}, "SLUICE_SESSION_TIMEOUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"SLUICE_DATA_DIR=" + filepath.Join(dir, "data-"+strings.ReplaceAll(tc.name, " ", "-")), "SLUICE_HTTP_ADDR=off", "SLUICE_BROKER_ADDR=127.0.0.1:0"}, tc.env...)
			p := startExample(t, tc.name, env, tc.args...)
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				t.Fatal("still running after 30s")
			}
			if p.err == nil || !strings.Contains(p.out.String(), tc.want) {
				t.Fatalf("exit %v, output %q; want a failure mentioning %q", p.err, p.out.String(), tc.want)
			}
		})
	}
}
