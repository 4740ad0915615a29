package topology_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// TestRealKafka proves, on a private single-node Apache Kafka 4.4 cluster (started whatever
// SLUICE_TEST_KAFKA says), what only the real broker and its own Java clients can: that they read what
// Sluice writes, that Sluice reads and joins what they write, and that positions and offsets survive a full
// cluster restart. The subtests share the cluster; the restart runs last.
func TestRealKafka(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
	t.Run("Java console consumer and kcat read what Sluice wrote", func(t *testing.T) { javaAndKcatRead(t, c) })
	t.Run("a foreign-key join over topics the Java console producer wrote", func(t *testing.T) { joinJavaTopics(t, c) })
	t.Run("positions and offsets survive a full cluster restart", func(t *testing.T) { fullClusterRestart(t, c) })
}

// runFiles runs pipeline name: the files source into topic lines (partitions) and a flow into out, until
// stop is called (which fails the test on a run error).
func runFiles(t *testing.T, brokers []string, name string, inputs []string, out string, partitions int) (stop func()) {
	t.Helper()
	src, err := filesource.New(filesource.Config{Paths: inputs})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New(name)
	lines := tp.Topic(name+".lines", topology.ValueCodec("string"), topology.Partitions(partitions))
	tp.Source("files", src).To(lines)
	tp.Flow("to-file").From(lines).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("pipeline %s: %v", name, err)
		}
	}
}

// byKey groups "key\tvalue" lines by key, keeping the order within each key.
func byKey(t *testing.T, who string, lines []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, l := range lines {
		key, value, ok := strings.Cut(l, "\t")
		if !ok {
			t.Fatalf("%s printed %q, not key<TAB>value", who, l)
		}
		out[key] = append(out[key], value)
	}
	return out
}

// javaAndKcatRead: Sluice writes six files' lines (the file path is the key) to a 3-partition topic;
// Kafka's Java console consumer and kcat read every value back, in order per key, and every key sits on
// the partition Kafka's Java producer chooses for it (murmur2), which the console producer shows.
func javaAndKcatRead(t *testing.T, c *kafkatest.Cluster) {
	const files, perFile = 6, 300
	dir := t.TempDir()
	want := map[string][]string{}
	var inputs []string
	for i := range files {
		in := filepath.Join(dir, fmt.Sprintf("in-%d.log", i))
		writeLines(t, in, i, perFile)
		inputs = append(inputs, in)
		for j := range perFile { // the file source keys each line by its file's path
			want[in] = append(want[in], fmt.Sprintf("f%d-%08d", i, j))
		}
	}
	out := filepath.Join(dir, "out.log")
	stop := runFiles(t, c.Addrs(), "interop", inputs, out, 3)
	testkit.WaitLines(t, out, files*perFile, 2*time.Minute)
	stop()

	started := time.Now()
	java := byKey(t, "the Java console consumer", c.ConsoleConsume(t, "interop.lines", files*perFile, 20*time.Second))
	t.Logf("Java console consumer read the topic in %v", time.Since(started).Round(time.Millisecond))
	kcat := requireKcat(t)
	cmd := exec.Command(kcat, "-b", strings.Join(c.Addrs(), ","), "-C", "-t", "interop.lines", "-e", "-q", "-f", "%k\t%p\t%s\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v: %s", err, stderr.String())
	}
	kcatLines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	partitionOf := map[string]string{}
	var kv []string
	for _, l := range kcatLines {
		parts := strings.SplitN(l, "\t", 3)
		if len(parts) != 3 {
			t.Fatalf("kcat printed %q", l)
		}
		partitionOf[parts[0]] = parts[1]
		kv = append(kv, parts[0]+"\t"+parts[2])
	}
	fromKcat := byKey(t, "kcat", kv)
	for key, lines := range want {
		if !slices.Equal(java[key], lines) {
			t.Errorf("the Java console consumer read %d values for key %s, want the %d lines of the file in order (first: %v)",
				len(java[key]), key, len(lines), java[key][:min(3, len(java[key]))])
		}
		if !slices.Equal(fromKcat[key], lines) {
			t.Errorf("kcat read %d values for key %s, want the %d lines of the file in order", len(fromKcat[key]), key, len(lines))
		}
	}
	if len(java) != len(want) || len(fromKcat) != len(want) {
		t.Errorf("keys: Java console consumer %d, kcat %d, want %d", len(java), len(fromKcat), len(want))
	}

	// The same keys written by Kafka's Java producer to a topic of the same partition count land on the
	// same partitions.
	c.CreateTopic(t, "interop.java-keys", 3, 1, nil)
	var produce []string
	for key := range want {
		produce = append(produce, key+"\tx")
	}
	c.ConsoleProduce(t, "interop.java-keys", produce)
	raw, err = exec.Command(kcat, "-b", strings.Join(c.Addrs(), ","), "-C", "-t", "interop.java-keys", "-e", "-q", "-f", "%k\t%p\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	spread := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		key, javaPartition, _ := strings.Cut(l, "\t")
		spread[javaPartition] = true
		if partitionOf[key] != javaPartition {
			t.Errorf("key %s: Sluice wrote it to partition %s, Kafka's Java producer to partition %s", key, partitionOf[key], javaPartition)
		}
	}
	t.Logf("%d keys on %d partitions, as Kafka's Java producer places them", len(want), len(spread))
}

// joinJavaTopics: Kafka's console producer writes customers and orders (JSON keys {"id":N}, spread over 3
// partitions by murmur2) to topics the test created with the partition count the topology declares; a
// foreign-key join over them gives every order its customer, and follows a rename written by the Java
// producer while the pipeline runs.
func joinJavaTopics(t *testing.T, c *kafkatest.Cluster) {
	const customers, orders = 40, 200
	c.CreateTopic(t, "customers", 3, 1, nil)
	c.CreateTopic(t, "orders", 3, 1, nil)
	customer := func(id int, name string) string { return fmt.Sprintf(`{"id":%d,"name":"%s"}`, id, name) }
	var lines []string
	for id := 1; id <= customers; id++ {
		lines = append(lines, fmt.Sprintf(`{"id":%d}`, id)+"\t"+customer(id, fmt.Sprintf("customer %d", id)))
	}
	c.ConsoleProduce(t, "customers", lines)
	lines = lines[:0]
	for id := 1; id <= orders; id++ {
		lines = append(lines, fmt.Sprintf(`{"id":%d}`, id)+"\t"+order(id, id%customers+1, id*3))
	}
	c.ConsoleProduce(t, "orders", lines)

	f := &joinFixture{t: t, brokers: c.Addrs(), sink: &docSink{docs: map[string]string{}}}
	stop := f.run(true)
	defer stop()
	for id := 1; id <= orders; id++ {
		cust := id%customers + 1
		f.expect(fmt.Sprint(id), joined(id, cust, id*3, customer(cust, fmt.Sprintf("customer %d", cust))))
	}
	// Renames written by the Java producer reach every order of the renamed customers.
	lines = lines[:0]
	for id := 1; id <= customers; id += 3 {
		lines = append(lines, fmt.Sprintf(`{"id":%d}`, id)+"\t"+customer(id, fmt.Sprintf("renamed %d", id)))
	}
	c.ConsoleProduce(t, "customers", lines)
	for id := 1; id <= orders; id++ {
		cust := id%customers + 1
		name := fmt.Sprintf("customer %d", cust)
		if (cust-1)%3 == 0 {
			name = fmt.Sprintf("renamed %d", cust)
		}
		f.expect(fmt.Sprint(id), joined(id, cust, id*3, customer(cust, name)))
	}

	// The keys sit where Java put them, which is where Sluice's partitioner puts them too.
	raw, err := exec.Command(requireKcat(t), "-b", strings.Join(c.Addrs(), ","), "-C", "-t", "customers", "-e", "-q", "-f", "%k\t%p\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		key, p, _ := strings.Cut(l, "\t")
		if want := fmt.Sprint(kafka.PartitionFor(key, 3)); p != want {
			t.Errorf("Kafka's Java producer put key %s on partition %s; Sluice's partitioner says %s", key, p, want)
		}
	}
}

// fullClusterRestart: a pipeline with a file source runs and stops cleanly; every node of the cluster is
// stopped and started again; the group table of positions, the control topic and the flow's committed
// offsets survived (read as `sluice positions` reads them), and the pipeline resumes exactly: after another
// clean stop, the output equals the input, no line twice, none lost.
func fullClusterRestart(t *testing.T, c *kafkatest.Cluster) {
	const first, more = 2000, 500
	dir := t.TempDir()
	inputs := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	for i, in := range inputs {
		writeLines(t, in, i, first)
	}
	out := filepath.Join(dir, "out.log")
	stop := runFiles(t, c.Addrs(), "restart", inputs, out, 2)
	testkit.WaitLines(t, out, 2*first, 2*time.Minute)
	stop()
	before := positionsOf(t, c.Addrs(), inputs)
	offsets := committedOffsets(t, c.Addrs(), "restart.to-file", "restart.lines", 2)

	began := time.Now()
	c.StopAll()
	stopped := time.Since(began)
	c.StartAll()
	serving := time.Since(began) - stopped
	// Right away: a node lists itself in metadata a moment before it leads its partitions again, and
	// Positions rides that out (it retries NOT_LEADER_OR_FOLLOWER within its ctx).
	read := time.Now()
	after := positionsOf(t, c.Addrs(), inputs)
	t.Logf("full cluster restart: stopped in %v, metadata served %v later, positions read %v after that",
		stopped.Round(time.Millisecond), serving.Round(time.Millisecond), time.Since(read).Round(time.Millisecond))
	if !maps.Equal(after, before) {
		t.Errorf("positions after the cluster restart %v, before %v", after, before)
	}
	topics := topicNames(t, c.Addrs())
	for _, want := range []string{"restart.files.control", "restart.files-table", "restart.lines"} {
		if !slices.Contains(topics, want) {
			t.Errorf("topic %s missing after the cluster restart; topics: %v", want, topics)
		}
	}
	for in, pos := range before {
		if want := string(filesource.PositionAt(in, fileSize(t, in))); pos != want {
			t.Errorf("position of %s is %s after a clean stop, want %s", in, pos, want)
		}
	}
	if after := committedOffsets(t, c.Addrs(), "restart.to-file", "restart.lines", 2); !slices.Equal(after, offsets) {
		t.Errorf("committed offsets of the flow after the cluster restart %v, before %v", after, offsets)
	}

	for i, in := range inputs {
		appendFileLines(t, in, i, first, first+more)
	}
	resumed := time.Now()
	stop = runFiles(t, c.Addrs(), "restart", inputs, out, 2)
	testkit.WaitLines(t, out, 2*(first+more), 2*time.Minute)
	t.Logf("resumed: the %d new lines out %v after the pipeline started", 2*more, time.Since(resumed).Round(time.Millisecond))
	stop()

	got := testkit.ReadLines(t, out)
	if len(got) != 2*(first+more) {
		t.Errorf("%d lines out, want exactly %d", len(got), 2*(first+more))
	}
	for i := range inputs {
		var want, have []string
		for j := range first + more {
			want = append(want, fmt.Sprintf("f%d-%08d", i, j))
		}
		for _, l := range got {
			if strings.HasPrefix(l, fmt.Sprintf("f%d-", i)) {
				have = append(have, l)
			}
		}
		if !slices.Equal(have, want) {
			t.Errorf("file %d: %d lines out, want its %d lines once each in order", i, len(have), len(want))
		}
	}
}

// positionsOf reads the saved position of each input's task from the source's group table.
func positionsOf(t *testing.T, brokers []string, inputs []string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	positions, err := topology.Positions(ctx, brokers, "restart", "files")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, in := range inputs {
		st := positions["file:"+in]
		if st.Owner != "" {
			t.Errorf("task of %s owned by %q after a clean stop", in, st.Owner)
		}
		out[in] = string(st.Position)
	}
	return out
}

// committedOffsets returns group's committed offset of each partition of topic.
func committedOffsets(t *testing.T, brokers []string, group, topic string, partitions int32) []int64 {
	t.Helper()
	var out []int64
	for p := range partitions {
		out = append(out, testkit.CommittedOffset(t, brokers, group, topic, p))
	}
	return out
}

// appendFileLines appends lines f<file>-<seq> for seq in [from, to) to path.
func appendFileLines(t *testing.T, path string, file, from, to int) {
	t.Helper()
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "f%d-%08d\n", file, i)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// topicNames lists the cluster's topics (without Kafka's own "__" ones).
func topicNames(t *testing.T, brokers []string) []string {
	t.Helper()
	return testkit.Topics(t, brokers)
}
