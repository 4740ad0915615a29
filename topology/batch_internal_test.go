package topology

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/stream"
)

// slowBatchSink takes 20ms per write, as a destination slower than Kafka.
type slowBatchSink struct{}

func (slowBatchSink) Open(context.Context) error { return nil }
func (slowBatchSink) Close() error               { return nil }
func (slowBatchSink) Write(ctx context.Context, _ []stream.Record) error {
	select {
	case <-time.After(20 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestBatchProgressLines: a batch longer than the progress interval logs "batch progress" lines counting
// the records committed of those up to the end offsets, rising, and its summary counts them all.
func TestBatchProgressLines(t *testing.T) {
	saved := batchProgressEvery
	batchProgressEvery = 300 * time.Millisecond
	defer func() { batchProgressEvery = saved }()

	const n = 200
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "slow-events", 1)
	testkit.ProduceN(t, brokers, "slow-events", n, func(i int) (string, string) { return fmt.Sprint("k", i), fmt.Sprintf(`{"n":%d}`, i) })

	tp := New("slow-batch")
	tp.Flow("out").From(tp.Topic("slow-events", ValueCodec("json"), Partitions(1))).To(slowBatchSink{}, BatchSize(10), Linger(time.Millisecond))
	var logs testkit.LogBuffer
	rc := DefaultConfig()
	rc.Brokers, rc.HTTPAddr = brokers, "off"
	rc.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := tp.RunBatch(ctx, rc)
	if err != nil {
		t.Fatalf("RunBatch: %v\n%s", err, logs.String())
	}
	if s.Records != n || s.Flows["out"].Records != n {
		t.Fatalf("summary %+v, want %d records", s, n)
	}
	lines := logs.Lines("batch progress")
	done := regexp.MustCompile(`flow \\"out\\": (\d+)/(\d+) records`)
	last := -1
	for _, l := range lines {
		m := done.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("progress line without the flow's count: %s", l)
		}
		got, _ := strconv.Atoi(m[1])
		if m[2] != strconv.Itoa(n) || got < last || got > n {
			t.Errorf("progress %s/%s after %d: want a rising count of %d", m[1], m[2], last, n)
		}
		last = got
	}
	if len(lines) < 2 || last >= n {
		t.Fatalf("want at least two progress lines short of %d over a batch of %v; got:\n%s", n, s.Duration, logs.Lines("batch"))
	}
	t.Logf("%d progress lines over %v; last %d/%d", len(lines), s.Duration.Round(time.Millisecond), last, n)
}

// countingSlowSink is slowBatchSink that counts what it acknowledged.
type countingSlowSink struct {
	slowBatchSink
	written atomic.Int64
}

func (s *countingSlowSink) Write(ctx context.Context, batch []stream.Record) error {
	if err := s.slowBatchSink.Write(ctx, batch); err != nil {
		return err
	}
	s.written.Add(int64(len(batch)))
	return nil
}

// TestBatchInterruptedSaysHowFar: a batch stopped before its end (Ctrl-C) returns an error saying how far
// each flow got, keeps what it committed, and the next batch run processes the rest.
func TestBatchInterruptedSaysHowFar(t *testing.T) {
	const n = 200
	brokers := testkit.Brokers(t, 1)
	testkit.CreateTopic(t, brokers, "cut-events", 1)
	testkit.ProduceN(t, brokers, "cut-events", n, func(i int) (string, string) { return fmt.Sprint("k", i), fmt.Sprintf(`{"n":%d}`, i) })
	sink := &countingSlowSink{}
	tp := New("cut-batch")
	tp.Flow("out").From(tp.Topic("cut-events", ValueCodec("json"), Partitions(1))).To(sink, BatchSize(10), Linger(time.Millisecond))
	rc := DefaultConfig()
	rc.Brokers, rc.HTTPAddr = brokers, "off"
	rc.Logger = slog.New(slog.DiscardHandler)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for sink.written.Load() < 50 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel() // as Ctrl-C
	}()
	first, firstErr := tp.RunBatch(ctx, rc)
	if err := firstErr; err == nil || !strings.Contains(err.Error(), "stopped before it reached its end offsets") || !regexp.MustCompile(`flow "out": \d+/200 records`).MatchString(err.Error()) {
		t.Fatalf("interrupted RunBatch = %v; want an error saying how far flow out got of 200", firstErr)
	}
	if first.Records >= n || first.Written < 50 {
		t.Fatalf("interrupted summary %+v; want part of the %d records", first, n)
	}
	said := regexp.MustCompile(`flow "out": (\d+)/200`).FindStringSubmatch(firstErr.Error())[1]
	if at := testkit.CommittedOffset(t, brokers, "cut-batch.out", "cut-events", 0); said != strconv.FormatInt(at, 10) {
		t.Errorf("the error says %s records done; the group committed offset %d", said, at)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	second, err := tp.RunBatch(ctx2, rc)
	if err != nil {
		t.Fatalf("second RunBatch: %v", err)
	}
	committed := testkit.CommittedOffset(t, brokers, "cut-batch.out", "cut-events", 0)
	if committed != n || first.Written+second.Written < n {
		t.Fatalf("after the second run: committed %d, written %d+%d; want %d committed and every record written", committed, first.Written, second.Written, n)
	}
	t.Logf("interrupted after %d written (%v); the second run wrote %d; error: %v", first.Written, first.Duration.Round(time.Millisecond), second.Written, firstErr)
}
