package interop_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

// compressionCodecs are the names topology.Compression accepts, each with the codec its batches must carry
// on the broker.
var compressionCodecs = []struct {
	name string
	wire sarama.CompressionCodec
}{
	{"none", sarama.CompressionNone},
	{"gzip", sarama.CompressionGZIP},
	{"snappy", sarama.CompressionSnappy},
	{"lz4", sarama.CompressionLZ4},
	{"zstd", sarama.CompressionZSTD},
}

// compressionRecords is how many lines each codec's pipeline writes: enough for several batches.
const compressionRecords = 500

// compressionLines are the lines the pipeline for codec writes: repetitive (so that compression has
// something to do), of varying length, with non-ASCII text, and without tabs (the console consumer's
// key separator).
func compressionLines(codec string) []string {
	lines := make([]string, compressionRecords)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s line %04d: Grüße, naïve café – %s", codec, i, strings.Repeat("abc", i%17))
	}
	return lines
}

// writeCompressed runs, for each codec, a pipeline that reads a file of lines into the topic
// "lines-<codec>" declared with topology.Compression(codec), until the topic holds every line. It returns
// the lines each topic must hold, and the path of each file (the records' key).
func writeCompressed(t *testing.T, brokers []string) (want map[string][]string, paths map[string]string) {
	t.Helper()
	want, paths = map[string][]string{}, map[string]string{}
	for _, c := range compressionCodecs {
		lines := compressionLines(c.name)
		path := writeLines(t, c.name+".txt", lines)
		src, err := file.New(file.Config{Paths: []string{path}})
		if err != nil {
			t.Fatal(err)
		}
		top := topology.New("compress-" + c.name)
		topic := top.Topic("lines-"+c.name, topology.ValueCodec("string"), topology.Compression(c.name))
		top.Source("lines", src).To(topic)
		runUntil(t, top, brokers, "off", func() bool { return topicCount(t, brokers, topic.Name()) >= compressionRecords })
		want[topic.Name()], paths[topic.Name()] = lines, path
	}
	return want, paths
}

// wireCodecs fetches topic's partition 0 from its leader with a raw fetch request and returns the codec
// of every record batch, in offset order: what the broker stores and serves, before any client
// decompresses it.
func wireCodecs(t *testing.T, brokers []string, topic string) []sarama.CompressionCodec {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 30*time.Second, 10*time.Second
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatalf("read topic %s: %v", topic, err)
	}
	defer client.Close()
	leader, err := client.Leader(topic, 0)
	if err != nil {
		t.Fatalf("read topic %s: leader of partition 0: %v", topic, err)
	}
	high, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatalf("read topic %s: end offset of partition 0: %v", topic, err)
	}
	var codecs []sarama.CompressionCodec
	for offset := int64(0); offset < high; {
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 500, MinBytes: 1, MaxBytes: 4 << 20, Isolation: sarama.ReadUncommitted}
		req.AddBlock(topic, 0, offset, 4<<20, -1)
		res, err := leader.Fetch(req)
		if err != nil {
			t.Fatalf("read topic %s: fetch partition 0 at offset %d: %v", topic, offset, err)
		}
		block := res.GetBlock(topic, 0)
		if block == nil || block.Err != sarama.ErrNoError {
			t.Fatalf("read topic %s: fetch partition 0 at offset %d: %v", topic, offset, block)
		}
		next := offset
		for _, rs := range block.RecordsSet {
			b := rs.RecordBatch
			if b == nil {
				t.Fatalf("topic %s partition 0 offset %d: a legacy message set, not a record batch", topic, offset)
			}
			if b.PartialTrailingRecord {
				continue
			}
			codecs = append(codecs, b.Codec)
			next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		}
		if next == offset {
			t.Fatalf("read topic %s: a fetch at offset %d of partition 0 returned no complete batch", topic, offset)
		}
		offset = next
	}
	return codecs
}

// checkWireCodecs fails t unless every batch of every topic carries its codec.
func checkWireCodecs(t *testing.T, brokers []string) {
	t.Helper()
	for _, c := range compressionCodecs {
		topic := "lines-" + c.name
		codecs := wireCodecs(t, brokers, topic)
		if len(codecs) == 0 {
			t.Fatalf("topic %s: no record batch", topic)
		}
		for i, got := range codecs {
			if got != c.wire {
				t.Errorf("topic %s declared with Compression(%q): batch %d of %d is stored with codec %v", topic, c.name, i, len(codecs), got)
				break
			}
		}
		t.Logf("topic %s: %d record batches, all %v", topic, len(codecs), c.wire)
	}
}

// TestCompressionKcatReadsEveryCodec: for each codec, a pipeline writes a topic declared with
// topology.Compression; the broker stores batches of that codec, and kcat (librdkafka, another client
// than Sluice's) reads every record back, key and value, in order. The embedded broker in make test, real
// Kafka under SLUICE_TEST_KAFKA=real.
func TestCompressionKcatReadsEveryCodec(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	want, paths := writeCompressed(t, brokers)
	checkWireCodecs(t, brokers)
	for _, c := range compressionCodecs {
		topic := "lines-" + c.name
		out := kcat(t, brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n")
		got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		checkLines(t, "kcat", topic, paths[topic], want[topic], got)
	}
}

// TestInteropCompressionConsoleConsumer: Kafka's own Java console consumer reads, for each codec, every
// record of a topic a pipeline wrote with topology.Compression, on the embedded broker and on real Kafka.
func TestInteropCompressionConsoleConsumer(t *testing.T) {
	requireInterop(t)
	for _, b := range []struct {
		name  string
		start func(t *testing.T) []string
	}{
		{"embedded", func(t *testing.T) []string {
			b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b.Addrs()
		}},
		{"real", func(t *testing.T) []string { return kafkatest.Start(t, kafkatest.Options{Nodes: 1}).Addrs() }},
	} {
		t.Run(b.name, func(t *testing.T) {
			brokers := b.start(t)
			want, paths := writeCompressed(t, brokers)
			checkWireCodecs(t, brokers)
			for _, c := range compressionCodecs {
				topic := "lines-" + c.name
				got := kafkatest.ConsoleConsumeFrom(t, brokers, topic, compressionRecords, 20*time.Second)
				checkLines(t, "Kafka's console consumer", topic, paths[topic], want[topic], got)
			}
		})
	}
}

// checkLines fails t unless got holds exactly "key<TAB>line" for each wanted line, in order.
func checkLines(t *testing.T, client, topic, key string, want, got []string) {
	t.Helper()
	expected := make([]string, len(want))
	for i, line := range want {
		expected[i] = key + "\t" + line
	}
	if slices.Equal(got, expected) {
		t.Logf("%s read the %d records of %s", client, len(got), topic)
		return
	}
	if len(got) != len(expected) {
		t.Errorf("%s read %d records of %s, want %d", client, len(got), topic, len(expected))
	}
	for i := range min(len(got), len(expected)) {
		if got[i] != expected[i] {
			t.Errorf("%s: %s record %d is %q, want %q", client, topic, i, got[i], expected[i])
			return
		}
	}
}
