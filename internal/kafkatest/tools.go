package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/dbserver"
)

// toolStartAllowance is added to a console tool's own timeout: a JVM takes seconds to start on two cores.
const toolStartAllowance = 60 * time.Second

// running returns the addresses of the nodes that are running now.
func (c *Cluster) runningAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	for _, nd := range c.nodes {
		if nd.running() {
			addrs = append(addrs, nd.addr())
		}
	}
	return addrs
}

// javaTool runs a Kafka command-line tool's main class against the running nodes, with stdin, and returns
// its stdout and stderr.
func (c *Cluster) javaTool(ctx context.Context, stdin string, class string, args ...string) (stdout, stderr string, err error) {
	full, finish := jvmArgs(c.java, c.lib, filepath.Join(c.dir, "tools-log4j2.yaml"), false)
	defer finish()
	full = append(full, class)
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, c.java, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out.String(), errOut.String(), err
}

// ConsoleConsume runs Kafka's own Java console consumer (org.apache.kafka.tools.consumer.ConsoleConsumer)
// from the beginning of topic, in a fresh consumer group, until it has read max records or no record came
// for timeout; keys are printed. It returns the records as "key\tvalue" lines in the order read (a null key
// or value reads "null"); fewer than max lines mean the timeout struck. The test fails if the tool cannot
// run.
func (c *Cluster) ConsoleConsume(t testing.TB, topic string, max int, timeout time.Duration) []string {
	t.Helper()
	return c.consoleConsume(t, c.runningAddrs(), topic, max, timeout)
}

// ConsoleConsumeFrom is ConsoleConsume against any Kafka at brokers, the embedded broker (kfake) included:
// it finds Java and the jars of test/kafka/lib as Start does (fetching them if missing) and fails the test
// when it cannot.
func ConsoleConsumeFrom(t testing.TB, brokers []string, topic string, max int, timeout time.Duration) []string {
	t.Helper()
	java, lib, err := tools()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tools-log4j2.yaml"), []byte(toolsLog4jConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, java: java, lib: lib, dir: dir}
	return c.consoleConsume(t, brokers, topic, max, timeout)
}

func (c *Cluster) consoleConsume(t testing.TB, brokers []string, topic string, max int, timeout time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+toolStartAllowance)
	defer cancel()
	out, errOut, err := c.javaTool(ctx, "", "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", strings.Join(brokers, ","), "--topic", topic, "--from-beginning",
		"--max-messages", strconv.Itoa(max), "--timeout-ms", strconv.FormatInt(timeout.Milliseconds(), 10),
		"--formatter-property", "print.key=true", "--formatter-property", "key.separator=\t")
	// On timeout the tool logs a TimeoutException and exits non-zero after printing what it read.
	if err != nil && !strings.Contains(errOut, "TimeoutException") {
		t.Fatalf("kafkatest: console consumer on topic %q: %v\n%s", topic, err, dbserver.LastLines(errOut, 30))
	}
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// ConsoleProduce runs Kafka's console producer (org.apache.kafka.tools.ConsoleProducer) with
// parse.key=true, key.separator=\t and acks=all, feeding it lines "key\tvalue" (the default partitioner:
// murmur2 of the key, as Java clients hash). It returns when the tool has exited; the test fails when the
// tool fails or reports a record it could not send.
func (c *Cluster) ConsoleProduce(t testing.TB, topic string, lines []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*toolStartAllowance)
	defer cancel()
	stdin := strings.Join(lines, "\n") + "\n"
	_, errOut, err := c.javaTool(ctx, stdin, "org.apache.kafka.tools.ConsoleProducer",
		"--bootstrap-server", strings.Join(c.runningAddrs(), ","), "--topic", topic, "--sync",
		"--reader-property", "parse.key=true", "--reader-property", "key.separator=\t",
		"--command-property", "acks=all",
		// --sync waits for each record, and the tool's default linger (--timeout, 1000 ms) is waited for
		// every one of them: 200 lines took 200 s.
		"--timeout", "0")
	if err != nil {
		t.Fatalf("kafkatest: console producer on topic %q: %v\n%s", topic, err, dbserver.LastLines(errOut, 30))
	}
	if strings.Contains(errOut, "ERROR") {
		t.Fatalf("kafkatest: console producer on topic %q reported errors:\n%s", topic, dbserver.LastLines(errOut, 30))
	}
}

// Admin returns a sarama cluster admin connected to the running nodes, closed when t ends.
func (c *Cluster) Admin(t testing.TB) sarama.ClusterAdmin {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(c.runningAddrs(), saramaConfig())
	if err != nil {
		t.Fatalf("kafkatest: connect an admin client to %v: %v", c.runningAddrs(), err)
	}
	t.Cleanup(func() { admin.Close() })
	return admin
}

// CreateTopic creates topic with the given partitions, replication factor and topic configuration (nil for
// none), and waits until every running node's metadata shows a leader for each partition, so that the test
// can produce at once.
func (c *Cluster) CreateTopic(t testing.TB, topic string, partitions, replicationFactor int, config map[string]string) {
	t.Helper()
	entries := map[string]*string{}
	for k, v := range config {
		entries[k] = &v
	}
	admin := c.Admin(t)
	err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(partitions),
		ReplicationFactor: int16(replicationFactor), ConfigEntries: entries}, false)
	if err != nil {
		t.Fatalf("kafkatest: create topic %q (%d partitions, replication factor %d): %v", topic, partitions, replicationFactor, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range c.runningAddrs() {
		for {
			err := hasLeaders(addr, topic, partitions)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kafkatest: topic %q created but not served by %s after 30s: %v", topic, addr, err)
			}
			time.Sleep(100 * time.Millisecond) // polling the brokers' metadata
		}
	}
}

func hasLeaders(addr, topic string, partitions int) error {
	tm, err := topicMetadata(addr, topic)
	if err != nil {
		return err
	}
	if len(tm.Partitions) != partitions {
		return fmt.Errorf("%d of %d partitions known", len(tm.Partitions), partitions)
	}
	for _, p := range tm.Partitions {
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p.ID)
		}
	}
	return nil
}

func topicMetadata(addr, topic string) (*sarama.TopicMetadata, error) {
	b := sarama.NewBroker(addr)
	if err := b.Open(saramaConfig()); err != nil {
		return nil, err
	}
	defer b.Close()
	md, err := b.GetMetadata(&sarama.MetadataRequest{Version: 7, Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 {
		return nil, fmt.Errorf("no metadata for topic %q", topic)
	}
	tm := md.Topics[0]
	if !errors.Is(tm.Err, sarama.ErrNoError) {
		return nil, fmt.Errorf("topic %q: %w", topic, tm.Err)
	}
	return tm, nil
}

// PartitionState returns the leader (a node id, -1 for none) and the in-sync replicas of topic/partition,
// as the first running node that answers sees them.
func (c *Cluster) PartitionState(t testing.TB, topic string, partition int) (leader int, isr []int) {
	t.Helper()
	var last error
	for _, addr := range c.runningAddrs() {
		tm, err := topicMetadata(addr, topic)
		if err != nil {
			last = err
			continue
		}
		for _, p := range tm.Partitions {
			if p.ID == int32(partition) {
				for _, r := range p.Isr {
					isr = append(isr, int(r))
				}
				slices.Sort(isr)
				return int(p.Leader), isr
			}
		}
		t.Fatalf("kafkatest: topic %q has no partition %d", topic, partition)
	}
	t.Fatalf("kafkatest: no running node answered a metadata request for topic %q: %v", topic, last)
	return -1, nil
}

// Leader returns the node id leading topic/partition (-1 for none).
func (c *Cluster) Leader(t testing.TB, topic string, partition int) int {
	t.Helper()
	leader, _ := c.PartitionState(t, topic, partition)
	return leader
}
