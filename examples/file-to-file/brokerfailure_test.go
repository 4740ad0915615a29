package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
)

// growthWatch samples the size of a file and remembers when it last grew, to measure how long output
// stalled.
type growthWatch struct {
	mu    sync.Mutex
	times []time.Time // each moment the file was seen to have grown
	stop  chan struct{}
	done  chan struct{}
}

func watchGrowth(path string) *growthWatch {
	w := &growthWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var last int64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case now := <-tick.C:
				if info, err := os.Stat(path); err == nil && info.Size() > last {
					last = info.Size()
					w.mu.Lock()
					w.times = append(w.times, now)
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

// longestStall returns the longest time without growth between from and to, and when it began.
func (w *growthWatch) longestStall(from, to time.Time) (stall time.Duration, began time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := from
	for _, at := range append(append([]time.Time(nil), w.times...), to) {
		if at.Before(from) {
			continue
		}
		if at.After(to) {
			at = to
		}
		if gap := at.Sub(prev); gap > stall {
			stall, began = gap, prev
		}
		prev = at
		if !at.Before(to) {
			break
		}
	}
	return stall, began
}

func (w *growthWatch) close() {
	close(w.stop)
	<-w.done
}

// TestBrokerFailureUnderLoad runs the example against a 3-node real Kafka cluster (replication 3) while
// writers append to three files, SIGKILLs the broker that coordinates the flow's group and leads data
// partitions, and restarts it later. The pipeline must ride it out without a restart of its own: every line
// comes out, in order per file. It logs how long the output stalled after the kill and after the restart.
// It always runs on real Kafka: a broker failure with leadership moving is what the embedded broker cannot
// show.
func TestBrokerFailureUnderLoad(t *testing.T) {
	const (
		files   = 3
		perTick = 10 // lines per file every 10ms: 3,000 lines/s in all
	)
	c := kafkatest.Start(t, kafkatest.Options{Nodes: 3})
	dir := t.TempDir()
	var inputs []string
	for i := range files {
		inputs = append(inputs, filepath.Join(dir, fmt.Sprintf("in-%d.log", i)))
		appendLines(t, inputs[i], fmt.Sprintf("f%d", i), 0, 0) // exists from the start
	}
	out := filepath.Join(dir, "out.log")
	env := []string{"SLUICE_BROKERS=" + strings.Join(c.Addrs(), ","), "SLUICE_REPLICATION=3", "SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t)}
	p := startExample(t, "pipeline", env, "-name", "broker-failure", "-in", strings.Join(inputs, ","), "-out", out)
	p.waitOutput(regexp.MustCompile(`msg="pipeline running"`), 90*time.Second)

	writer := startLineWriter(t, inputs, perTick)
	total := writer.total
	watch := watchGrowth(out)
	defer watch.close()
	alive := func(when string) {
		t.Helper()
		select {
		case <-p.exited:
			t.Fatalf("the pipeline exited %s: %v", when, p.err)
		default:
		}
	}
	// caughtUp waits until the output holds at least n lines.
	caughtUp := func(what string, n int) time.Time {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for testkit.CountLines(out) < n {
			alive(what)
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d lines out after 90s, want %d", what, testkit.CountLines(out), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Now()
	}
	caughtUp("before the kill", 3000)
	time.Sleep(2 * time.Second) // steady flow

	victim, role := victimOf(t, c, "broker-failure.to-file", "lines")
	atKill := total()
	killed := time.Now()
	c.Kill(victim)
	t.Logf("SIGKILLed node %d (%s) with %d lines written", victim, role, atKill)
	recovered := caughtUp("after the kill", atKill)
	alive("after the kill")
	stall, began := watch.longestStall(killed, recovered)
	t.Logf("after the SIGKILL of a broker: output stalled %v at most (from %v after the kill); every line written before the kill was out %v after it",
		stall.Round(time.Millisecond), began.Sub(killed).Round(time.Millisecond), recovered.Sub(killed).Round(time.Millisecond))

	time.Sleep(2 * time.Second)
	restarting := time.Now()
	c.Restart(victim)
	atRestart := total()
	t.Logf("node %d serving again after %v", victim, time.Since(restarting).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	recovered = caughtUp("after the broker's restart", atRestart)
	stall, _ = watch.longestStall(restarting, time.Now())
	t.Logf("around the broker's restart: output stalled %v at most", stall.Round(time.Millisecond))

	expected := writer.finish()
	deadline := time.Now().Add(90 * time.Second)
	var d delivery
	for {
		alive("while draining")
		d = checkDelivery(testkit.ReadLines(t, out), expected)
		if d.lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop()
	d = checkDelivery(testkit.ReadLines(t, out), expected)
	t.Logf("broker failure: %d lines written, %d out, lost %d, duplicates %d", total(), d.lines, d.lost, d.duplicates)
	if d.lost != 0 {
		t.Errorf("lost %d lines", d.lost)
	}
	if len(d.reordered) > 0 {
		t.Errorf("%d lines out of order, first: %v", len(d.reordered), d.reordered[:min(5, len(d.reordered))])
	}
	if n := strings.Count(p.out.String(), `msg="pipeline running"`); n != 1 {
		t.Errorf("the pipeline said it was running %d times, want once (no restart)", n)
	}
}

// victimOf picks the node to kill: the coordinator of the flow's consumer group when it also leads a
// partition of topic, else the leader of the topic's partition 0. It says what the node does.
func victimOf(t *testing.T, c *kafkatest.Cluster, group, topic string) (int, string) {
	t.Helper()
	coordinator := testkit.GroupCoordinator(t, c.Addrs(), group)
	leaders := testkit.PartitionLeaders(t, c.Addrs(), topic)
	leads := map[int32][]int32{}
	for _, part := range slices.Sorted(maps.Keys(leaders)) {
		leads[leaders[part]] = append(leads[leaders[part]], part)
	}
	victim := coordinator
	if len(leads[victim]) == 0 {
		victim = leaders[0]
	}
	role := fmt.Sprintf("leader of %s partitions %v", topic, leads[victim])
	if victim == coordinator {
		role += ", coordinator of group " + group
	}
	return int(victim), role
}
