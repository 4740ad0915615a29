package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
)

// TestBrokerRestartRealKafka is TestBrokerRestart against a real Apache Kafka 4.4 node (KRaft, its own
// JVM, started whatever SLUICE_TEST_KAFKA says): the node is stopped with SIGTERM (a controlled shutdown),
// kept down 20s and restarted on the same ports and data directory. The pipeline process stays alive and
// its output converges to every written line, in order. The node's JVM start adds its ~12s to the 20s the
// pipeline sees no broker.
func TestBrokerRestartRealKafka(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
	brokerRestart(t, restartableBroker{
		addrs: strings.Join(c.Addrs(), ","),
		stop: func() {
			began := time.Now()
			c.Stop(0)
			t.Logf("Kafka node stopped %v after SIGTERM", time.Since(began).Round(time.Millisecond))
		},
		start: func() {
			began := time.Now()
			c.Restart(0)
			t.Logf("Kafka node serving %v after its restart began", time.Since(began).Round(time.Millisecond))
		},
	})
}
