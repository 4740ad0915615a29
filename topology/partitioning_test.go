package topology

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// idleSource has no tasks; idleSink accepts everything. They make a topology whose start-up can be tested.
type idleSource struct{}

func (idleSource) Tasks(context.Context) ([]sources.Task, error) { return nil, nil }
func (idleSource) Open(context.Context, sources.Task, stream.Position) (sources.Reader, error) {
	return nil, errors.New("no tasks")
}

type idleSink struct{}

func (idleSink) Open(context.Context) error                   { return nil }
func (idleSink) Write(context.Context, []stream.Record) error { return nil }
func (idleSink) Close() error                                 { return nil }

func idleTopology(name string) *Topology {
	tp := New(name)
	lines := tp.Topic("lines", ValueCodec("string"))
	tp.Source("files", idleSource{}).To(lines)
	tp.Flow("out").From(lines).To(idleSink{})
	return tp
}

// produceKeys writes one record per key to topic with partitioner and returns the partition of each.
func produceKeys(t *testing.T, brokers []string, topic string, keys []string, partitioner sarama.PartitionerConstructor) map[string]int32 {
	t.Helper()
	cfg := kafka.SaramaConfig(kafka.Settings{ClientID: "test-producer"})
	cfg.Producer.Partitioner = partitioner
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, len(keys))
	for i, k := range keys {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(`{"v":"` + k + `"}`)}
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	placed := map[string]int32{}
	for i, k := range keys {
		placed[k] = msgs[i].Partition
	}
	return placed
}

// fnvPartitioner is how an earlier Sluice partitioned: sarama's hash partitioner over FNV-1a.
var fnvPartitioner = sarama.NewCustomHashPartitioner(fnv.New32a)

// A data dir whose control topic was written by a Sluice that partitioned with FNV-1a: RunWith refuses to
// start, naming the topic, an example key, the partition it is on and the one this Sluice looks at, and
// what to do.
func TestRunRefusesControlRecordsOnFNVPartitions(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	control := controlTopic("old", "files")
	if err := kafka.EnsureTopics(b.Addrs(), kafka.SaramaConfig(kafka.Settings{}), 1,
		[]kafka.TopicSpec{{Name: control, Partitions: 12, Compact: true}}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("file:/var/log/app-%d.log", i))
	}
	placed := produceKeys(t, b.Addrs(), control, keys, fnvPartitioner)
	moved := 0
	for k, part := range placed {
		if part != fnvPartition([]byte(k), 12) {
			t.Fatalf("the FNV producer put %q on %d, not on its FNV partition %d", k, part, fnvPartition([]byte(k), 12))
		}
		if part != kafka.PartitionFor(k, 12) {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no key of the test has different FNV and murmur2 partitions")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.DataDir, cfg.BrokerAddr, cfg.HTTPAddr = dataDir, "127.0.0.1:0", "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	started := time.Now()
	err = idleTopology("old").RunWith(ctx, cfg)
	t.Logf("RunWith failed after %v:\n%v", time.Since(started), err)
	if !errors.Is(err, ErrOldPartitioning) {
		t.Fatalf("RunWith = %v, want ErrOldPartitioning", err)
	}
	msg := err.Error()
	for _, want := range []string{"topic " + control, "FNV-1a", "SLUICE_DATA_DIR", "pipeline name", "re-create"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	m := regexp.MustCompile(`key "([^"]+)" at partition (\d+) offset \d+, where this Sluice looks for it on partition (\d+)`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatal("error names no example key with both partitions")
	}
	on, _ := strconv.Atoi(m[2])
	want, _ := strconv.Atoi(m[3])
	if _, ok := placed[m[1]]; !ok || int32(on) != placed[m[1]] || int32(want) != kafka.PartitionFor(m[1], 12) {
		t.Fatalf("example key %q on %d, looked for on %d: want on %d (FNV-1a), looked for on %d (murmur2)",
			m[1], on, want, placed[m[1]], kafka.PartitionFor(m[1], 12))
	}
}

// The check accepts records on their murmur2 partitions, ignores topics of one partition (where FNV and
// murmur2 agree) and empty ones, and names every topic with records on FNV partitions.
func TestCheckPartitioningTopics(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tp := idleTopology("shop")
	sourceTable := tableTopic(sourceGroup("shop", "files"))
	control := controlTopic("shop", "files")
	if err := kafka.EnsureTopics(b.Addrs(), kafka.SaramaConfig(kafka.Settings{}), 1, []kafka.TopicSpec{
		{Name: control, Partitions: 12, Compact: true},
		{Name: sourceTable, Partitions: 12, Compact: true},
	}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("mysql:shop/table_%d", i))
	}
	var logs bytes.Buffer
	p := &pipelineRun{t: tp, brokers: b.Addrs(), log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	started := time.Now()
	if err := p.checkPartitioning(context.Background(), nil); err != nil {
		t.Fatalf("empty topics: %v", err)
	}
	t.Logf("check of two empty topics of 12 partitions took %v", time.Since(started))
	produceKeys(t, b.Addrs(), control, keys, kafka.SaramaConfig(kafka.Settings{}).Producer.Partitioner)
	if err := p.checkPartitioning(context.Background(), nil); err != nil {
		t.Fatalf("records on their murmur2 partitions: %v", err)
	}
	produceKeys(t, b.Addrs(), sourceTable, keys, fnvPartitioner)
	started = time.Now()
	err = p.checkPartitioning(context.Background(), nil)
	t.Logf("check of 400 records took %v", time.Since(started))
	if !errors.Is(err, ErrOldPartitioning) || !strings.Contains(err.Error(), "topic "+sourceTable) || strings.Contains(err.Error(), "topic "+control) {
		t.Fatalf("FNV-partitioned table: %v", err)
	}
	if !strings.Contains(logs.String(), "records=400") {
		t.Errorf("the check did not read all 400 records:\n%s", logs.String())
	}

	// One partition: never misplaced, not read.
	one := New("one")
	lines := one.Topic("lines", ValueCodec("string"))
	one.Source("files", idleSource{}, TaskSlots(1)).To(lines)
	if err := kafka.EnsureTopics(b.Addrs(), kafka.SaramaConfig(kafka.Settings{}), 1, []kafka.TopicSpec{
		{Name: controlTopic("one", "files"), Partitions: 1, Compact: true},
		{Name: tableTopic(sourceGroup("one", "files")), Partitions: 1, Compact: true},
	}); err != nil {
		t.Fatal(err)
	}
	produceKeys(t, b.Addrs(), controlTopic("one", "files"), keys, fnvPartitioner)
	logs.Reset()
	p.t = one
	if err := p.checkPartitioning(context.Background(), nil); err != nil {
		t.Fatalf("one partition: %v", err)
	}
	if !strings.Contains(logs.String(), "records=0") {
		t.Errorf("the check read a topic of one partition:\n%s", logs.String())
	}

	// At most placementSampleLimit records of each partition are read.
	two := New("two")
	lines = two.Topic("lines", ValueCodec("string"))
	two.Source("files", idleSource{}, TaskSlots(2)).To(lines)
	if err := kafka.EnsureTopics(b.Addrs(), kafka.SaramaConfig(kafka.Settings{}), 1, []kafka.TopicSpec{
		{Name: controlTopic("two", "files"), Partitions: 2, Compact: true},
		{Name: tableTopic(sourceGroup("two", "files")), Partitions: 2, Compact: true},
	}); err != nil {
		t.Fatal(err)
	}
	for range 15 { // 3,000 records, about 1,500 per partition
		produceKeys(t, b.Addrs(), controlTopic("two", "files"), keys, kafka.SaramaConfig(kafka.Settings{}).Producer.Partitioner)
	}
	logs.Reset()
	p.t = two
	started = time.Now()
	if err := p.checkPartitioning(context.Background(), nil); err != nil {
		t.Fatalf("two partitions: %v", err)
	}
	t.Logf("check of 2,000 of 3,000 records took %v", time.Since(started))
	if got := regexp.MustCompile(`records=(\d+)`).FindStringSubmatch(logs.String()); got == nil || got[1] != strconv.Itoa(2*placementSampleLimit) {
		t.Errorf("3,000 records over 2 partitions: want %d read:\n%s", 2*placementSampleLimit, logs.String())
	}

	// A stop during the check returns promptly with the stop's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.t = tp
	if err := p.checkPartitioning(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled check: %v", err)
	}
}

// The producer's partitioner, PartitionFor and a goka view (the hasher of every processor and view) agree
// on where 1,000 keys live among 7 partitions: the view finds every key the producer wrote, by hashing it.
func TestGokaTablePartitionForAndProducerAgree(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const topic = "agree-table"
	if err := kafka.EnsureTopics(b.Addrs(), kafka.SaramaConfig(kafka.Settings{}), 1,
		[]kafka.TopicSpec{{Name: topic, Partitions: 7, Compact: true}}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf(`{"id":%d}`, i))
	}
	placed := produceKeys(t, b.Addrs(), topic, keys, kafka.SaramaConfig(kafka.Settings{}).Producer.Partitioner)
	used := map[int32]bool{}
	for k, part := range placed {
		used[part] = true
		if want := kafka.PartitionFor(k, 7); part != want {
			t.Fatalf("key %s: producer put it on %d, PartitionFor says %d", k, part, want)
		}
	}
	if len(used) != 7 {
		t.Fatalf("1,000 keys used only partitions %v", used)
	}

	view, err := newEngineView(b.Addrs(), nil, goka.Table(topic), new(codec.String), "test-topics")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- view.Run(ctx) }()
	defer func() { cancel(); <-runErr }()
	select {
	case <-view.WaitRunning():
	case err := <-runErr:
		t.Fatalf("view stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("view not recovered within a minute")
	}
	for _, k := range keys {
		v, err := view.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if v != `{"v":"`+k+`"}` {
			t.Fatalf("goka view: key %s (partition %d) = %v: the view hashes it to another partition", k, placed[k], v)
		}
	}
}
