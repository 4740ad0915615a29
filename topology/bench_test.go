package topology_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
)

const benchLines = 200_000

// BenchmarkFileKafkaFile moves the same lines file -> Kafka -> file twice on one in-process broker: with
// hand-written sarama code (an async producer and a partition consumer writing the file, fsync every 1,000
// lines, no positions, no offsets) as the baseline, and with a Sluice topology (positions in a group table,
// offsets committed after fsync). The two alternate their order from one iteration to the next, each after a
// garbage collection. It reports both rates and sluice/sarama (the rates' ratio), and sluice/sarama-cpu: the
// process's CPU time (user + system, broker included) of the baseline over Sluice's, which a busy machine
// disturbs far less than the wall-clock rates.
//
//	go test -run '^$' -bench FileKafkaFile -benchtime 8x ./topology
func BenchmarkFileKafkaFile(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.log")
	var input bytes.Buffer
	for i := range benchLines {
		fmt.Fprintf(&input, "line %07d of the benchmark input, about eighty bytes long with its padding.....\n", i)
	}
	if err := os.WriteFile(in, input.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	brokers := testkit.Brokers(b, 1)

	var rawTotal, sluiceTotal, rawCPU, sluiceCPU time.Duration
	raw := func(i int) {
		settle(b)
		cpu := processCPU()
		defer func() { rawCPU += processCPU() - cpu }()
		rawTotal += rawSaramaPipeline(b, brokers, fmt.Sprintf("raw-%d", i), in, filepath.Join(dir, fmt.Sprintf("raw-%d.out", i)), int64(input.Len()))
	}
	sluice := func(i int) {
		settle(b)
		cpu := processCPU()
		defer func() { sluiceCPU += processCPU() - cpu }()
		sluiceTotal += sluicePipeline(b, brokers, fmt.Sprintf("sluice-%d", i), in, filepath.Join(dir, fmt.Sprintf("sluice-%d.out", i)), int64(input.Len()))
	}
	for i := 0; b.Loop(); i++ { // the order alternates, so that neither side always runs after the other's garbage
		if i%2 == 0 {
			raw(i)
			sluice(i)
		} else {
			sluice(i)
			raw(i)
		}
	}
	n := float64(b.N * benchLines)
	b.ReportMetric(n/rawTotal.Seconds(), "sarama-records/s")
	b.ReportMetric(n/sluiceTotal.Seconds(), "sluice-records/s")
	b.ReportMetric(rawTotal.Seconds()/sluiceTotal.Seconds(), "sluice/sarama")
	b.ReportMetric(rawCPU.Seconds()/sluiceCPU.Seconds(), "sluice/sarama-cpu")
}

func sluicePipeline(b *testing.B, brokers []string, name, in, out string, size int64) time.Duration {
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		b.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		b.Fatal(err)
	}
	t := topology.New(name)
	lines := t.Topic(name, topology.ValueCodec("string"))
	t.Source("files", src).To(lines)
	t.Flow("out").From(lines).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- t.RunWith(ctx, cfg) }()
	waitSize(b, out, size)
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return elapsed
}

func rawSaramaPipeline(b *testing.B, brokers []string, topic, in, out string, size int64) time.Duration {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.Flush.Bytes = 256 << 10
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		b.Fatal(err)
	}
	admin.Close()

	start := time.Now()
	producer, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		f, _ := os.Open(in)
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			producer.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(in), Value: sarama.StringEncoder(sc.Text())}
		}
		producer.AsyncClose()
	}()
	go func() {
		for range producer.Successes() {
		}
	}()
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 256<<10)
	var written int64
	for n := 0; written < size; n++ {
		m := <-pc.Messages()
		w.Write(m.Value)
		w.WriteByte('\n')
		written += int64(len(m.Value) + 1)
		if n%1000 == 999 || written >= size {
			w.Flush()
			f.Sync()
		}
	}
	return time.Since(start)
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle collects the previous phase's garbage outside the timed part, so that each phase starts alike.
func settle(b *testing.B) {
	b.StopTimer()
	runtime.GC()
	b.StartTimer()
}

func waitSize(b *testing.B, path string, size int64) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if info, err := os.Stat(path); err == nil && info.Size() >= size {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not reach %d bytes", path, size)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
