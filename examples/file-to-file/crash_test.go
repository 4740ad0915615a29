package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// delivery is what an output file holds compared with what the writers wrote.
type delivery struct {
	lines, unique, lost, duplicates int
	reordered                       []string
}

// checkDelivery compares output lines "<prefix>-<seq>" with expected[prefix] lines per input. In order
// means: the first occurrences of each input's lines come in sequence order (a replay after a crash may
// repeat lines, never reorder them).
func checkDelivery(lines []string, expected map[string]int) delivery {
	d := delivery{lines: len(lines)}
	next := map[string]int{}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			d.duplicates++
			continue
		}
		seen[l] = true
		i := strings.LastIndexByte(l, '-')
		prefix := l[:max(i, 0)]
		seq, err := strconv.Atoi(l[i+1:])
		if i < 0 || err != nil {
			d.reordered = append(d.reordered, "garbled: "+l)
			continue
		}
		if seq != next[prefix] {
			d.reordered = append(d.reordered, fmt.Sprintf("%s: got %d, expected %d next", prefix, seq, next[prefix]))
		}
		next[prefix] = max(next[prefix], seq+1)
	}
	d.unique = len(seen)
	for prefix, n := range expected {
		for seq := 0; seq < n; seq++ {
			if !seen[fmt.Sprintf("%s-%08d", prefix, seq)] {
				d.lost++
			}
		}
	}
	return d
}

// TestCrashLosesNothing runs the example as a child process on an embedded broker while writers append to
// three files, SIGKILLs it at random moments and restarts it on the same data dir. Every line must come out,
// in order per file, with duplicates bounded by what was in flight at each kill. With SLUICE_TEST_KAFKA=real
// the child uses a 3-node real Kafka cluster (replication 3) that keeps running through the kills.
func TestCrashLosesNothing(t *testing.T) {
	const (
		files     = 3
		kills     = 6
		batch     = 500
		perTick   = 20 // lines per file every 10ms: 6,000 lines/s in all
		readBatch = 1000
	)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("seed %d", seed)

	dir := t.TempDir()
	var inputs []string
	expected := map[string]int{}
	for i := range files {
		inputs = append(inputs, filepath.Join(dir, fmt.Sprintf("in-%d.log", i)))
	}
	out := filepath.Join(dir, "out.log")
	env := []string{
		"SLUICE_DATA_DIR=" + filepath.Join(dir, "data"),
		"SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t),
		"SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t),
	}
	env = append(env, testkit.KafkaEnv(t, 3)...)
	args := []string{"-in", strings.Join(inputs, ","), "-out", out, "-batch", strconv.Itoa(batch)}

	// Writers append whole lines while the example crashes and restarts.
	writer := startLineWriter(t, inputs, perTick)

	running := regexp.MustCompile(`msg="pipeline running"`)
	for k := range kills {
		before := testkit.CountLines(out)
		p := startExample(t, fmt.Sprintf("run %d", k), env, args...)
		if k%2 == 0 { // kill while data flows ...
			p.waitOutput(running, 60*time.Second)
			// "pipeline running" comes before the flow's group has its partitions; on real Kafka the
			// group first waits out the session of the member killed before (SLUICE_SESSION_TIMEOUT).
			testkit.WaitLines(t, out, before+1, 60*time.Second)
		} // ... or, on odd runs, possibly still starting up
		time.Sleep(time.Duration(500+rng.IntN(3000)) * time.Millisecond)
		p.kill()
		t.Logf("kill %d: %d lines out so far", k+1, testkit.CountLines(out))
	}
	total := writer.total()
	for f, n := range writer.finish() {
		expected[f] = n
	}

	final := startExample(t, "final run", env, args...)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d := checkDelivery(testkit.ReadLines(t, out), expected)
		if d.lost == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines still missing after 3 minutes", d.lost, total)
		}
		time.Sleep(200 * time.Millisecond)
	}
	final.stop()

	d := checkDelivery(testkit.ReadLines(t, out), expected)
	t.Logf("crash test: %d kills, %d lines written, %d out, lost %d, duplicates %d (%.1f per kill)",
		kills, total, d.lines, d.lost, d.duplicates, float64(d.duplicates)/kills)
	if d.lost != 0 {
		t.Errorf("lost %d lines", d.lost)
	}
	if len(d.reordered) > 0 {
		t.Errorf("%d lines out of order, first: %v", len(d.reordered), d.reordered[:min(5, len(d.reordered))])
	}
	// In flight at a kill: the sink batch written but not yet committed, and per file the read batch
	// acknowledged by Kafka whose position was not yet saved.
	if bound := kills * (batch + files*readBatch); d.duplicates > bound {
		t.Errorf("%d duplicates, more than the %d in flight at %d kills", d.duplicates, bound, kills)
	}
}
