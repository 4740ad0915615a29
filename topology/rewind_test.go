package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// Rewind's timestamp lookup (Kafka's ListOffsets by time) against the test's Kafka: the embedded broker by
// default, real Kafka under SLUICE_TEST_KAFKA=real. Records carry producer timestamps an hour apart, one
// out of order; per partition the group goes to the first offset whose timestamp is at or after the time,
// to the end where there is none; offsets are clamped to each partition's range; a dry run commits nothing.
func TestRewindTimestampLookup(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	topic := fmt.Sprintf("rewind-lookup-%d", time.Now().UnixNano())
	testkit.CreateTopic(t, brokers, topic, 2)
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	hour := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	var msgs []testkit.Message
	// partition 0: hours 0..9 at offsets 0..9; partition 1: hours 0, 2, 4, then 3 (out of order), 6.
	for h := range 10 {
		msgs = append(msgs, testkit.Message{Partition: 0, Key: []byte("a"), Value: []byte(fmt.Sprintf(`{"h":%d}`, h)), Timestamp: hour(h)})
	}
	for _, h := range []int{0, 2, 4, 3, 6} {
		msgs = append(msgs, testkit.Message{Partition: 1, Key: []byte("b"), Value: []byte(fmt.Sprintf(`{"h":%d}`, h)), Timestamp: hour(h)})
	}
	testkit.Produce(t, brokers, topic, msgs...)

	sink, err := file.New(file.Config{Path: filepath.Join(t.TempDir(), "out.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	count, err := stages.Count("count")
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("rwlookup")
	in := tp.Topic(topic, topology.ValueCodec("json"), topology.Partitions(2))
	tp.Flow("copy").From(in).To(sink)
	counted, err := file.New(file.Config{Path: filepath.Join(t.TempDir(), "counts.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	tp.Flow("counts").From(in).Keyed(count).To(counted)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.DataDir = brokers, t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	group := "rwlookup.copy"

	rewind := func(to topology.RewindTarget) map[int32]int64 {
		t.Helper()
		res, err := topology.Rewind(ctx, cfg, tp, "copy", to)
		if err != nil {
			t.Fatalf("rewind to %+v: %v", to, err)
		}
		if res.Group != group || res.Topic != topic || len(res.Partitions) != 2 {
			t.Fatalf("rewind to %+v: %+v", to, res)
		}
		out := map[int32]int64{}
		for _, p := range res.Partitions {
			out[p.Partition] = p.New
		}
		return out
	}
	check := func(what string, got map[int32]int64, p0, p1 int64) {
		t.Helper()
		if got[0] != p0 || got[1] != p1 {
			t.Errorf("%s: new offsets %v, want map[0:%d 1:%d]", what, got, p0, p1)
		}
	}
	check("exactly hour 3", rewind(topology.RewindTarget{Timestamp: hour(3), DryRun: true}), 3, 2)
	check("between hours 2 and 3", rewind(topology.RewindTarget{Timestamp: hour(2).Add(time.Minute), DryRun: true}), 3, 2)
	check("hour 5 (partition 1: after its out-of-order record)", rewind(topology.RewindTarget{Timestamp: hour(5), DryRun: true}), 5, 4)
	check("after every record: the ends", rewind(topology.RewindTarget{Timestamp: hour(12), DryRun: true}), 10, 5)
	check("before every record", rewind(topology.RewindTarget{Timestamp: base.Add(-time.Hour), DryRun: true}), 0, 0)
	check("earliest", rewind(topology.RewindTarget{Earliest: true, DryRun: true}), 0, 0)
	check("latest", rewind(topology.RewindTarget{Latest: true, DryRun: true}), 10, 5)
	seven := int64(7)
	check("offset 7, clamped to partition 1's end", rewind(topology.RewindTarget{Offset: &seven, DryRun: true}), 7, 5)
	if got := testkit.CommittedOffsets(t, brokers, group, topic); len(got) != 0 {
		t.Fatalf("dry runs committed offsets: %v", got)
	}

	res, err := topology.Rewind(ctx, cfg, tp, "copy", topology.RewindTarget{Timestamp: hour(4)})
	if err != nil {
		t.Fatal(err)
	}
	if got := testkit.CommittedOffsets(t, brokers, group, topic); got[0] != 4 || got[1] != 2 {
		t.Fatalf("committed after the rewind to hour 4: %v, want map[0:4 1:2]", got)
	}
	if res.Records != (10-4)+(5-2) || res.Partitions[0].Old != nil {
		t.Fatalf("first rewind: %+v", res)
	}
	res, err = topology.Rewind(ctx, cfg, tp, "copy", topology.RewindTarget{Earliest: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Partitions[0]; p.Old == nil || *p.Old != 4 || p.New != 0 {
		t.Fatalf("second rewind, partition 0: %+v, want old 4 new 0", p)
	}
	if got := testkit.CommittedOffsets(t, brokers, group, topic); got[0] != 0 || got[1] != 0 {
		t.Fatalf("committed after the rewind to earliest: %v", got)
	}

	// A flow with a stateful step: the step's group reads the declared topic.
	if res, err := topology.Rewind(ctx, cfg, tp, "counts", topology.RewindTarget{Timestamp: hour(3), DryRun: true}); err != nil ||
		res.Group != "rwlookup.counts.count" || res.Topic != topic || res.Partitions[0].New != 3 || res.Partitions[1].New != 2 {
		t.Errorf("rewind of a flow with a keyed step: %+v %v", res, err)
	}

	for _, bad := range []struct {
		flow string
		to   topology.RewindTarget
		want string
	}{
		{"nosuch", topology.RewindTarget{Latest: true}, `pipeline rwlookup has no flow "nosuch" (its flows: ["copy" "counts"])`},
		{"copy", topology.RewindTarget{}, "name exactly one of"},
		{"copy", topology.RewindTarget{Latest: true, Earliest: true}, "name exactly one of"},
	} {
		if _, err := topology.Rewind(ctx, cfg, tp, bad.flow, bad.to); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("rewind %s to %+v: %v, want %q", bad.flow, bad.to, err, bad.want)
		}
	}
}

// Rewind refuses while a replica runs, whether the pipeline runs in this process (its own control state)
// or in another one (a second *Topology of the same declaration stands for it: Rewind then reads the
// replicas' status from <pipeline>.status), and goes ahead once every replica is STOPPED, or none runs.
func TestRewindRefusedWhileRunning(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	topic := fmt.Sprintf("rewind-running-%d", time.Now().UnixNano())
	testkit.CreateTopic(t, brokers, topic, 1)
	testkit.ProduceN(t, brokers, topic, 20, func(i int) (string, string) { return fmt.Sprintf("k%d", i), fmt.Sprintf(`{"n":%d}`, i) })
	declare := func() *topology.Topology {
		sink, err := file.New(file.Config{Path: filepath.Join(t.TempDir(), "out.jsonl")})
		if err != nil {
			t.Fatal(err)
		}
		tp := topology.New("rwrunning")
		tp.Flow("copy").From(tp.Topic(topic, topology.ValueCodec("json"))).To(sink)
		return tp
	}
	tp, other := declare(), declare()
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.DataDir, cfg.HTTPAddr = brokers, t.TempDir(), testkit.FreeAddr(t)
	logs := &testkit.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs.String())
		}
	}()
	// lastStatus is the state the replica last published on the status topic ("" before any).
	lastStatus := func() string {
		state := ""
		for _, m := range testkit.ReadTopic(t, brokers, "rwrunning.status") {
			var st struct {
				State string `json:"state"`
			}
			state = ""
			if m.Value != nil && json.Unmarshal(m.Value, &st) == nil {
				state = st.State
			}
		}
		return state
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("the pipeline ended before %s: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("not after a minute: %s", what)
			}
		}
	}
	waitUntil("the replica published RUNNING", func() bool { return lastStatus() == "RUNNING" })
	waitUntil("the flow committed its 20 records", func() bool { return testkit.CommittedOffsets(t, brokers, "rwrunning.copy", topic)[0] == 20 })
	latest := topology.RewindTarget{Latest: true, DryRun: true}
	for name, tpx := range map[string]*topology.Topology{"in this process": tp, "from another process": other} {
		_, err := topology.Rewind(ctx, cfg, tpx, "copy", latest)
		if err == nil || !strings.Contains(err.Error(), "pipeline rwrunning is RUNNING on replica") || !strings.Contains(err.Error(), "stop it first") {
			t.Errorf("rewind %s while running: %v", name, err)
		}
	}

	api := &opsapi.Client{BaseURL: "http://" + cfg.HTTPAddr}
	if _, err := api.Stop(ctx, "rwrunning"); err != nil {
		t.Fatal(err)
	}
	waitUntil("the replica published STOPPED", func() bool { return lastStatus() == "STOPPED" })
	for name, tpx := range map[string]*topology.Topology{"in this process": tp, "from another process": other} {
		if res, err := topology.Rewind(ctx, cfg, tpx, "copy", latest); err != nil || len(res.Partitions) != 1 || res.Partitions[0].New != 20 {
			t.Errorf("rewind %s while stopped: %+v %v", name, res, err)
		}
	}

	cancel() // a clean end: the replica's status is a tombstone, none runs
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
	res, err := topology.Rewind(context.Background(), cfg, other, "copy", topology.RewindTarget{Earliest: true})
	if err != nil || res.Partitions[0].Old == nil || *res.Partitions[0].Old != 20 || res.Partitions[0].New != 0 {
		t.Fatalf("rewind after the pipeline ended: %+v %v", res, err)
	}
	if got := testkit.CommittedOffsets(t, brokers, "rwrunning.copy", topic); got[0] != 0 {
		t.Fatalf("committed after the rewind: %v", got)
	}
}
