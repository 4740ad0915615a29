package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// A failure of the running pipeline (here a line longer than the file source takes) ends the example with
// exit status 1 and is said once, in the pipeline's error line: the example does not print it again.
func TestRunningFailureSaidOnce(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	long := strings.Repeat("x", 3<<20) // longer than the file source's MaxLineBytes (1 MiB)
	if err := os.WriteFile(in, []byte("first\n"+long+"\nlast\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"SLUICE_DATA_DIR=" + filepath.Join(dir, "data"), "SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t),
		"SLUICE_HTTP_ADDR=off"}, testkit.KafkaEnv(t, 1)...)
	p := startExample(t, "failing", env, "-in", in, "-out", filepath.Join(dir, "out.log"))
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("still running 60s after reading a line it cannot take")
	}
	out := p.out.String()
	var errorLines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "level=ERROR") {
			errorLines = append(errorLines, l)
		}
	}
	if p.err == nil || len(errorLines) != 1 {
		t.Fatalf("exit %v with %d error lines; want exit status 1 and one error line:\n%s", p.err, len(errorLines), out)
	}
	t.Logf("error line: %.300s", errorLines[0])
	const where = `source \"files\" task \"file:`
	if !strings.Contains(errorLines[0], where) {
		t.Errorf("the error line does not name the source and task (%s)", where)
	}
	if n := strings.Count(out, `source "files" task`) + strings.Count(out, where); n != 1 {
		t.Errorf("the failure is said %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(lastLine(out), "file-to-file: stopped by the failure logged above") {
		t.Errorf("last line %q; want the example to point at the failure logged above", lastLine(out))
	}
}
