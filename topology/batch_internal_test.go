package topology

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
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
