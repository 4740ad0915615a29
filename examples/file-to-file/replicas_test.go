package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
)

// taskSlots is the default TaskSlots of a source: the partitions of its control topic.
const taskSlots = 12

// TestReplicasShareAndTakeOver runs two replicas of the example against a broker that lives outside them
// (kfake in this test process, or a 3-node real Kafka cluster with SLUICE_TEST_KAFKA=real). Both must run
// tasks; when one is SIGKILLed the survivor takes over its files, and nothing is lost.
func TestReplicasShareAndTakeOver(t *testing.T) {
	brokers := testkit.Brokers(t, 3)
	kind := "embedded broker"
	if kafkatest.Real() {
		kind = "real Kafka, 3 nodes"
	}

	// Tasks are spread by hashing their keys onto the source's control partitions, and goka gives each of
	// two replicas a contiguous half of them. Pick four file names, two hashing into each half, so that the
	// test checks sharing rather than the luck of the hash.
	dir := t.TempDir()
	var low, high []string
	for i := 0; len(low) < 2 || len(high) < 2; i++ {
		path := filepath.Join(dir, fmt.Sprintf("in-%d.log", i))
		if kafka.PartitionFor("file:"+path, taskSlots) < taskSlots/2 {
			if len(low) < 2 {
				low = append(low, path)
			}
		} else if len(high) < 2 {
			high = append(high, path)
		}
	}
	inputs := append(low, high...)
	expected := map[string]int{}
	for i, in := range inputs {
		appendLines(t, in, fmt.Sprintf("f%d", i), 0, 1000)
		expected[fmt.Sprintf("f%d", i)] = 1000
	}

	start := func(name string) (*process, string) {
		out := filepath.Join(dir, "out-"+name+".log")
		env := []string{
			"SLUICE_BROKERS=" + strings.Join(brokers, ","),
			"SLUICE_REPLICATION=" + strconv.Itoa(len(brokers)),
			"SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t),
			// The default session timeout (10 s): the takeover time logged below is the README's.
			"SLUICE_LOG_LEVEL=debug",
		}
		return startExample(t, name, env, "-name", "replicas", "-in", strings.Join(inputs, ","), "-out", out), out
	}
	a, outA := start("a")
	a.waitOutput(regexp.MustCompile(`msg="pipeline running"`), 60*time.Second)
	bp, outB := start("b")

	// Both replicas own files once the group settled.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ra, rb := a.runningTasks(), bp.runningTasks()
		if len(ra) > 0 && len(rb) > 0 && len(ra)+len(rb) == len(inputs) {
			t.Logf("replica a runs %v, replica b runs %v", slices.Sorted(maps.Keys(ra)), slices.Sorted(maps.Keys(rb)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not shared after 60s: a runs %v, b runs %v", ra, rb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	union := func() []string { return append(testkit.ReadLines(t, outA), testkit.ReadLines(t, outB)...) }
	waitDelivered := func(what string) {
		deadline := time.Now().Add(90 * time.Second)
		for {
			d := checkDelivery(union(), expected)
			if d.lost == 0 {
				t.Logf("%s: %d lines out, %d duplicates", what, d.lines, d.duplicates)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d lines missing after 90s", what, d.lost)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitDelivered("before the kill")

	bp.kill()
	killed := time.Now()
	for len(a.runningTasks()) != len(inputs) {
		if time.Since(killed) > 60*time.Second {
			t.Fatalf("survivor runs %v 60s after the kill, want all %d files", a.runningTasks(), len(inputs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("survivor took over all files %.1fs after the SIGKILL (default session timeout 10s, %s)", time.Since(killed).Seconds(), kind)

	for i, in := range inputs {
		appendLines(t, in, fmt.Sprintf("f%d", i), 1000, 2000)
		expected[fmt.Sprintf("f%d", i)] = 2000
	}
	waitDelivered("after the takeover")
	t.Logf("every line appended after the takeover delivered %.1fs after the SIGKILL", time.Since(killed).Seconds())
	a.stop()
}
