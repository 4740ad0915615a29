package topology

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The partitioning check rides out the answers of a fresh cluster whose new topics' leaders are not
// settled yet (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE to ListOffsets): it reads the whole sample and
// logs no warning.
func TestCheckPartitioningRetriesUnsettledLeaders(t *testing.T) {
	// Embedded on purpose: the unsettled answers are injected with kfake's fault control.
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	tp := idleTopology("fresh")
	control := controlTopic("fresh", "files")
	if err := kafka.EnsureTopics(brokers, kafka.SaramaConfig(kafka.Settings{}), 1, []kafka.TopicSpec{
		{Name: control, Partitions: 4, Compact: true},
		{Name: tableTopic(sourceGroup("fresh", "files")), Partitions: 4, Compact: true},
	}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("file:/var/log/%d.log", i))
	}
	produceKeys(t, brokers, control, keys, kafka.SaramaConfig(kafka.Settings{}).Producer.Partitioner)
	notLeader := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: control, Err: kerr.NotLeaderForPartition, Count: 2})
	noLeader := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: control, Err: kerr.LeaderNotAvailable, Count: 2})

	var logs bytes.Buffer
	p := &pipelineRun{t: tp, brokers: brokers, log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	began := time.Now()
	if err := p.checkPartitioning(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("check with 4 unsettled answers took %v", time.Since(began).Round(time.Millisecond))
	if notLeader.Hits() != 2 || noLeader.Hits() != 2 {
		t.Errorf("%d NOT_LEADER_OR_FOLLOWER and %d LEADER_NOT_AVAILABLE answers given, want 2 each", notLeader.Hits(), noLeader.Hits())
	}
	if strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "records=100") {
		t.Errorf("want no warning and all 100 records read; log:\n%s", logs.String())
	}
}
