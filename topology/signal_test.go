package topology

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalLinesInPipelineFormat: the "stopping" line SignalContext writes at the first signal is in the
// engine's log format (text by default, JSON with SLUICE_LOG_FORMAT=json), not the log package's.
func TestSignalLinesInPipelineFormat(t *testing.T) {
	if os.Getenv("SLUICE_SIGNAL_CHILD") == "1" {
		ctx, stop := SignalContext(context.Background())
		defer stop()
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			os.Exit(3)
		}
		time.Sleep(50 * time.Millisecond) // the line is written before cancel; let stderr drain
		os.Exit(0)
	}
	for format, prefix := range map[string]string{"": "time=", "text": "time=", "json": `{"time":`} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSignalLinesInPipelineFormat$")
		cmd.Env = append(os.Environ(), "SLUICE_SIGNAL_CHILD=1", "SLUICE_LOG_FORMAT="+format)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("format %q: child: %v\n%s", format, err, out)
		}
		var line string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "stopping; a second signal") {
				line = l
			}
		}
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("format %q: stopping line %q does not start with %q; output:\n%s", format, line, prefix, out)
		}
	}
}
