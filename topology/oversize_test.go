package topology_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/testkit"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/topology"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// oversizeLine is longer than the producer's MaxMessageBytes (1,000,000) and shorter than the file source's
// MaxLineBytes (1 MiB): the file source accepts it, Kafka does not.
const oversizeLine = 1_000_500

// writeFileWithOversizeLine writes n lines "line-%04d" with line number big (1-based) replaced by
// oversizeLine bytes, and returns the byte offsets where the big line starts and ends (after its newline).
func writeFileWithOversizeLine(t *testing.T, path string, n, big int) (start, end int64) {
	t.Helper()
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		if i == big {
			start = int64(b.Len())
			b.Write(bytes.Repeat([]byte{'x'}, oversizeLine))
			b.WriteByte('\n')
			end = int64(b.Len())
			continue
		}
		fmt.Fprintf(&b, "line-%04d\n", i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return start, end
}

// readTopicToEnd returns every message of topic (partition 0: the tests' topics have one), from the oldest
// to the high-water mark at the time of the call.
func readTopicToEnd(t *testing.T, brokers []string, topic string) []testkit.Message {
	t.Helper()
	waitForTopic(t, brokers, topic)
	return testkit.ReadTopic(t, brokers, topic)
}

// waitTopicCount polls until topic's partition 0 holds at least n messages.
func waitTopicCount(t *testing.T, brokers []string, topic string, n int64) {
	t.Helper()
	waitForTopic(t, brokers, topic)
	var got int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = testkit.HighWaterMarks(t, brokers, topic)[0]; got >= n {
			return
		}
	}
	t.Fatalf("%s holds %d messages, want %d", topic, got, n)
}

func quietConfig(brokers []string) topology.Config {
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// Acceptance 1a: a line Kafka would refuse, in the middle of a file, stops the pipeline with an error naming
// the file and the byte offsets, nothing after it reaches Kafka, and the saved position stays before it.
func TestOversizeRecordFencesTask(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	in := filepath.Join(t.TempDir(), "in.log")
	start, end := writeFileWithOversizeLine(t, in, 1000, 500)
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("oversize")
	lines := tp.Topic("lines", topology.ValueCodec("string"))
	tp.Source("files", src).To(lines)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var logs testkit.LogBuffer
	cfg := quietConfig(brokers)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	err = tp.RunWith(ctx, cfg)
	if ctx.Err() != nil {
		t.Fatalf("the pipeline did not stop by itself (RunWith = %v)", err)
	}
	if want := "records up to 1048576 bytes are accepted but topic lines takes at most 1000000: longer ones stop the task"; !strings.Contains(logs.String(), want) {
		t.Errorf("no start-up warning %q in the log:\n%s", want, logs.String())
	}
	for _, want := range []string{`source "files"`, `task "file:` + in + `"`, string(filesource.PositionAt(in, end)),
		string(filesource.PositionAt(in, start)), `topic "lines"`, "1000000"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("RunWith = %v; want an error with %s", err, want)
		}
	}
	t.Logf("error: %v", err)

	msgs := readTopicToEnd(t, brokers, "lines")
	if len(msgs) != 499 {
		t.Errorf("topic lines holds %d messages, want the 499 lines before the refused one", len(msgs))
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("line-%04d", i+1); string(m.Value) != want {
			t.Fatalf("message %d is %.20q, want %s", i, m.Value, want)
		}
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	positions, err := topology.Positions(pctx, brokers, "oversize", "files")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(positions["file:"+in].Position); got != string(filesource.PositionAt(in, start)) {
		t.Errorf("saved position %s, want the refused line's start %d", got, start)
	}
}

// Acceptance 1b: with a dead-letter topic, the oversized line is set aside there whole, with the reason in
// headers, and every other line reaches its topic in order.
func TestOversizeRecordGoesToDeadLetter(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	in := filepath.Join(t.TempDir(), "in.log")
	_, end := writeFileWithOversizeLine(t, in, 1000, 500)
	src, err := filesource.New(filesource.Config{Paths: []string{in}, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("oversize-dlq")
	lines := tp.Topic("lines", topology.ValueCodec("string"))
	dlq := tp.Topic("lines.dlq", topology.ValueCodec("string"))
	tp.Source("files", src).To(lines).DeadLetter(dlq)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, quietConfig(brokers)) }()
	waitTopicCount(t, brokers, "lines", 999)
	waitTopicCount(t, brokers, "lines.dlq", 1)

	// The topics were created with limits that agree with their producers; the dead-letter topic's is larger
	// (kfake, like Kafka, checks each record batch against the topic's max.message.bytes).
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	limits, err := kafka.DescribeMaxMessageBytes(dctx, 10*time.Second, brokers, kafka.SaramaConfig(kafka.Settings{}), []string{"lines", "lines.dlq"})
	if err != nil {
		t.Fatal(err)
	}
	if limits["lines"] != 1_000_000+kafka.RecordBatchOverhead || limits["lines.dlq"] != 16<<20+kafka.RecordBatchOverhead {
		t.Errorf("max.message.bytes %v", limits)
	}

	dead := readTopicToEnd(t, brokers, "lines.dlq")
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	h := map[string]string{}
	for _, rh := range dead[0].Headers {
		h[string(rh.Key)] = string(rh.Value)
	}
	if len(dead[0].Value) != oversizeLine || strings.Trim(string(dead[0].Value), "x") != "" || string(dead[0].Key) != in {
		t.Errorf("dead letter has a %d-byte value and key %q; want the whole %d-byte line keyed by its file", len(dead[0].Value), dead[0].Key, oversizeLine)
	}
	if h[topology.HeaderErrorStage] != topology.StageProduce || h[topology.HeaderErrorSource] != "files" ||
		h[topology.HeaderErrorPosition] != string(filesource.PositionAt(in, end)) || !strings.Contains(h[topology.HeaderErrorReason], `topic "lines": too large for Kafka`) {
		t.Errorf("dead-letter headers %v", h)
	}
	msgs := readTopicToEnd(t, brokers, "lines")
	want := 1
	for _, m := range msgs {
		if want == 500 {
			want++
		}
		if string(m.Value) != fmt.Sprintf("line-%04d", want) {
			t.Fatalf("lines: %.20q where line-%04d belongs", m.Value, want)
		}
		want++
	}
	if want != 1001 {
		t.Fatalf("lines ends before line-%04d", want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith = %v", err)
	}
}

// A refusal that Kafka sends back after the record was sent (here: a broker fault on the last line) stops
// the task with an error naming the record, whether the source follows its file (its task waits for input
// when the answer arrives: it used to hang there) or is bounded (its input ended: the error used to be
// dropped and RunWith returned nil).
func TestLateProduceFailureStopsTask(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			// Embedded on purpose: the broker's refusal is injected with kfake's fault control.
			cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.GroupMinSessionTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			cluster.Fault(kfake.Fault{
				Keys: []kmsg.Key{kmsg.Produce}, Topic: "lines", Err: kerr.MessageTooLarge, Count: -1,
				When: func(req kmsg.Request) bool {
					for _, rt := range req.(*kmsg.ProduceRequest).Topics {
						for _, rp := range rt.Partitions {
							if bytes.Contains(rp.Records, []byte("refused by the broker")) {
								return true
							}
						}
					}
					return false
				},
			})
			in := filepath.Join(t.TempDir(), "in.log")
			if err := os.WriteFile(in, []byte("line-0001\nline-0002\nrefused by the broker\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := filesource.New(filesource.Config{Paths: []string{in}, StopAtEnd: bounded})
			if err != nil {
				t.Fatal(err)
			}
			tp := topology.New("late")
			lines := tp.Topic("lines", topology.ValueCodec("string"))
			tp.Source("files", src).To(lines)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = tp.RunWith(ctx, quietConfig(cluster.ListenAddrs()))
			if ctx.Err() != nil {
				t.Fatalf("the pipeline did not stop by itself (RunWith = %v)", err)
			}
			if err == nil || !strings.Contains(err.Error(), `source "files" task "file:`+in+`": record at position`) ||
				!strings.Contains(err.Error(), `topic "lines": Kafka refused it`) {
				t.Fatalf("RunWith = %v; want the refusal, naming the source, task and record", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

// A topic that already exists with a smaller max.message.bytes than the engine's producers send is read at
// start-up: a record over it is set aside before it is sent, in order, instead of being refused by the
// broker while later records are in flight.
func TestExistingTopicLimitIsRead(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	if err := kafka.EnsureTopics(brokers, kafka.SaramaConfig(kafka.Settings{}), 1,
		[]kafka.TopicSpec{{Name: "lines", Partitions: 1, MaxMessageBytes: 5000}}); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.log")
	big := strings.Repeat("y", 4000) // fits the producer, not the topic (5000 - 1024 for the batch)
	if err := os.WriteFile(in, []byte("one\n"+big+"\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("existing")
	lines := tp.Topic("lines", topology.ValueCodec("string"))
	dlq := tp.Topic("lines.dlq", topology.ValueCodec("string"))
	tp.Source("files", src).To(lines).DeadLetter(dlq)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, quietConfig(brokers)) }()
	waitTopicCount(t, brokers, "lines", 2)
	waitTopicCount(t, brokers, "lines.dlq", 1)
	var got []string
	for _, m := range readTopicToEnd(t, brokers, "lines") {
		got = append(got, string(m.Value))
	}
	if strings.Join(got, ",") != "one,three" {
		t.Errorf("lines holds %q", got)
	}
	if dead := readTopicToEnd(t, brokers, "lines.dlq"); len(dead) != 1 || string(dead[0].Value) != big {
		t.Errorf("dead letters: %d", len(dead))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith = %v", err)
	}
}
