package testkit

import (
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafkatest"
)

// Brokers returns the bootstrap addresses of a Kafka that lives outside the pipeline under test and stops
// when the test ends. With SLUICE_TEST_KAFKA=real (make test-kafka) it is a fresh real Apache Kafka cluster
// of nodes KRaft nodes private to the test (kafkatest.Brokers; nodes is 1 or 3, and topics on 3 nodes want
// replication 3); otherwise it is the embedded broker (kfake) running in this test process, whatever nodes
// says.
func Brokers(t testing.TB, nodes int) []string {
	t.Helper()
	if addrs := kafkatest.Brokers(t, nodes); addrs != nil {
		return addrs
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addrs()
}

// KafkaEnv returns the environment that points a child pipeline process at the test's Kafka. By default it
// is empty: the child runs its own embedded broker on its SLUICE_DATA_DIR, as a user's first run does. With
// SLUICE_TEST_KAFKA=real it is SLUICE_BROKERS of a fresh real cluster of nodes KRaft nodes and
// SLUICE_REPLICATION=nodes, so that the topics Sluice creates are replicated on every node. The cluster
// keeps running while the child is killed and restarted, and stops when the test ends. Append it after
// any SLUICE_DATA_DIR/SLUICE_BROKER_ADDR: with SLUICE_BROKERS set those are not used.
func KafkaEnv(t testing.TB, nodes int) []string {
	t.Helper()
	addrs := kafkatest.Brokers(t, nodes)
	if addrs == nil {
		return nil
	}
	return []string{"SLUICE_BROKERS=" + strings.Join(addrs, ","), "SLUICE_REPLICATION=" + strconv.Itoa(nodes)}
}
