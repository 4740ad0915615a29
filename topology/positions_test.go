package topology_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Positions rides out a table partition whose leader does not lead it yet (NOT_LEADER_OR_FOLLOWER, as
// real Kafka answers for a moment after a restart) and fails at once for a source that has no table.
func TestPositionsRetriesNotLeader(t *testing.T) {
	// Embedded on purpose: the NOT_LEADER_OR_FOLLOWER answers are injected with kfake's fault control
	// (TestRealKafka's full cluster restart meets the real ones).
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	const table = "pos.files-table"
	if err := kafka.EnsureTopics(brokers, kafka.SaramaConfig(kafka.Settings{}), 1,
		[]kafka.TopicSpec{{Name: table, Partitions: 1, Compact: true}}); err != nil {
		t.Fatal(err)
	}
	state, _ := json.Marshal(topology.TaskState{Position: []byte(`{"offset":42}`), Updated: time.Now().UTC()})
	testkit.Produce(t, brokers, table, testkit.Message{Partition: -1, Key: []byte("file:/in.log"), Value: state})

	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: table, Err: kerr.NotLeaderForPartition, Count: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	positions, err := topology.Positions(ctx, brokers, "pos", "files")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(positions["file:/in.log"].Position); got != `{"offset":42}` || h.Hits() != 3 {
		t.Errorf("position %s after %d NOT_LEADER_OR_FOLLOWER answers, want {\"offset\":42} after 3", got, h.Hits())
	}
	t.Logf("3 NOT_LEADER_OR_FOLLOWER answers ridden out in %v", time.Since(began).Round(time.Millisecond))

	// A leader that never comes: the error names the table and Kafka's answer when ctx ends.
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: table, Err: kerr.NotLeaderForPartition, Count: -1})
	short, cancelShort := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelShort()
	_, err = topology.Positions(short, brokers, "pos", "files")
	for _, want := range []string{"positions of pos/files", table, "not the leader"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want one containing %q", err, want)
		}
	}

	// A source without a table (a misspelt name) is not retried.
	began = time.Now()
	if _, err := topology.Positions(ctx, brokers, "pos", "nosuchsource"); err == nil || time.Since(began) > 5*time.Second {
		t.Errorf("Positions of an unknown source = %v after %v, want an error at once", err, time.Since(began))
	}
}
