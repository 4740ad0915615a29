// Package kafkatest starts real Apache Kafka 4.4 clusters (KRaft mode, no ZooKeeper) as child processes of
// a test, so that Sluice's integration tests can run against the real broker as well as the embedded kfake
// one. It is a test helper: import it from _test.go files only.
//
// Two ways to use it:
//
//	// An integration test that runs on either broker: nil means "use the embedded broker, as today".
//	brokers := kafkatest.Brokers(t, 3) // real only when SLUICE_TEST_KAFKA=real (make test-kafka)
//
//	// A test of Kafka behaviour itself (failover, restarts, Java clients): always real.
//	c := kafkatest.Start(t, kafkatest.Options{Nodes: 3})
//	c.CreateTopic(t, "orders", 3, 3, nil)
//	c.Kill(c.Leader(t, "orders", 0))
//
// Each cluster is private to its test: every node runs combined mode (process.roles=broker,controller) with a
// static quorum (controller.quorum.voters lists every node), PLAINTEXT and CONTROLLER listeners on free
// 127.0.0.1 ports, and its data under a directory of $TMPDIR. When the test passes the nodes are killed and
// the directory removed; when it fails the nodes are stopped and the directory kept (its path and the tails
// of the node logs are logged). Storage is formatted with
// kafka.tools.StorageTool (`format -t <cluster-id> -c server.properties`; with static voters neither
// --standalone nor --initial-controllers applies: those are for dynamic quorums). Nodes run
// `java -Xmx384m -Xms128m -XX:+UseSerialGC -cp 'test/kafka/lib/*' kafka.Kafka server.properties` in their
// own process group with Pdeathsig=SIGKILL, so a killed test binary leaks no JVM. The jars come from
// test/kafka/pom.xml (`make kafka-jars`); when they are missing or older than the pom the first Start runs
// Maven itself, under a file lock. No Java, or jars that cannot be fetched, fail the test: it is never
// skipped.
//
// Secured clusters (Options.Security, security.go): a SASL_SSL or SASL_PLAINTEXT client listener that Addrs
// returns, PLAIN and SCRAM users (created at format time), a test CA, optionally the StandardAuthorizer and
// OAUTHBEARER; the PLAINTEXT listener stays for inter-broker traffic and the harness's own calls.
//
// Configuration: 1 node has every replication factor and min.insync.replicas at 1; 3 nodes have
// default.replication.factor=3, min.insync.replicas=2 and the internal topics at 3/2. Always:
// auto.create.topics.enable=false, num.partitions=1, group.initial.rebalance.delay.ms=0,
// log.cleaner.backoff.ms=1000 (compaction is testable), offsets.topic.num.partitions=10. Options.ExtraConfig
// overrides any of them.
//
// A cluster is ready when every running node's PLAINTEXT port answers a metadata request listing every
// running node as a broker (the controller has registered and unfenced them), within 90 s.
//
// JVM flags: -Xmx384m -Xms128m -XX:+UseSerialGC plus -XX:TieredStopAtLevel=1 (the quick C1 JIT only) and a
// shared class archive (cds.go), because on two shared cores start-up is CPU-bound class loading. JVM
// warnings go to stderr so that a console tool's stdout carries only records.
//
// Measured on the 2-core development machine (Kafka 4.4.0, OpenJDK 17.0.15, other test binaries running:
// load average 7-20), which the lead may want to report:
//   - One broker's start-up costs 7.0 s of CPU with the JVM's defaults, 3.7 s with C1 only, 2.2 s with C1
//     and the class archive. Without those, 3 nodes needed 40 s to 98 s to serve under load (the first
//     log line came 11 s after the JVM started); with them a 1-node cluster serves in 3.5-6.5 s and a
//     3-node cluster in 6-10 s, storage formatting included (a format is a JVM start of its own, run in
//     parallel for the nodes). Restart of one node: 1.6-2.5 s to serve, its replicas in sync 0.5 s later;
//     StartAll of 3 nodes with data: 3.5-14 s.
//   - About 300-320 MB RSS per node (heap capped at 384 MB): a 3-node cluster is about 1 GB.
//   - Failover after Kill of a partition leader: acks=all produce resumes about 10 s later, as the
//     controller fences the dead broker only after broker.session.timeout.ms (9 s, the default, kept).
//   - Stop (controlled shutdown) of one node: 2.5 s. StopAll: 5.5 s, as each controller's Raft client waits
//     its 5 s graceful-shutdown timeout once the quorum dissolves. Once, StopAll hung 30 s: a broker still
//     in controlled shutdown after the other nodes' controllers were gone waits for a quorum that never
//     returns (Kafka's own bound on that wait is far beyond 30 s); StopAll now kills such a straggler 10 s after the
//     others exited.
//   - The Java console consumer or producer takes about 2 s per run, nearly all of it JVM start-up.
//   - The format tool reads a cluster id that starts with '-' as a flag: ids are drawn as Kafka draws them.
//   - With static voters (controller.quorum.voters) format needs neither --standalone nor
//     --initial-controllers; those are for dynamic quorums (controller.quorum.bootstrap.servers).
//   - Maven's nearest-wins resolution picked slf4j-api 1.7.36 for the pom as first written, which cannot
//     see log4j-slf4j2-impl: the broker silently logged nothing. The pom now names slf4j-api 2.x.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/dbserver"
)

// EnvVar selects the broker of integration tests: "real" runs them against real Kafka (Brokers starts a
// cluster); anything else, or unset, keeps the embedded broker.
const EnvVar = "SLUICE_TEST_KAFKA"

// straggleTimeout is how long StopAll waits for a node once another one has exited.
const straggleTimeout = 10 * time.Second

// readyTimeout bounds how long a (re)started node may take to serve.
const readyTimeout = 90 * time.Second

// Real reports whether SLUICE_TEST_KAFKA=real: integration tests then run against real Kafka.
func Real() bool { return os.Getenv(EnvVar) == "real" }

// Brokers returns the bootstrap addresses for an integration test: nil when !Real() (the test uses the
// embedded broker, as today), else a fresh real cluster of nodes KRaft nodes private to this test (stopped
// by t.Cleanup). nodes is 1 or 3.
func Brokers(t testing.TB, nodes int) []string {
	t.Helper()
	if !Real() {
		return nil
	}
	return Start(t, Options{Nodes: nodes}).Addrs()
}

// Options configures Start.
type Options struct {
	// Nodes is the number of combined broker+controller nodes: 1 or 3 (0 means 1).
	Nodes int
	// ExtraConfig is written into every node's server.properties after the harness's defaults, overriding
	// them (e.g. "log.retention.ms").
	ExtraConfig map[string]string
	// Security, when set, adds a client listener that requires SASL (and TLS), optionally with the
	// StandardAuthorizer: see Security. Addrs then returns that listener's addresses.
	Security *Security
}

// Cluster is a running real Kafka cluster private to one test. Its methods fail the test they are given
// (or the one that started the cluster) on error, and are safe for concurrent use; node i has node.id i.
type Cluster struct {
	t         testing.TB
	java, lib string
	dir       string
	clusterID string
	extra     map[string]string
	sec       *secured // nil: PLAINTEXT only

	mu        sync.Mutex
	nodes     []*node
	closeOnce sync.Once
}

// Start starts a real cluster whatever SLUICE_TEST_KAFKA says (for tests that need Kafka itself) and waits
// until every node serves. t.Cleanup closes it; when t failed, the data and logs are kept and their path
// and tails are logged.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	n := opts.Nodes
	if n == 0 {
		n = 1
	}
	if n != 1 && n != 3 {
		t.Fatalf("kafkatest: Options.Nodes is %d: a cluster has 1 or 3 nodes", n)
	}
	java, lib, err := tools()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	// A free port may be taken by another process between looking and binding (several test binaries run
	// side by side): such a start is retried with new ports, any other failure is final.
	for attempt := 1; ; attempt++ {
		c, err := launch(t, java, lib, n, opts.ExtraConfig, opts.Security)
		if err == nil {
			t.Cleanup(c.cleanup)
			t.Logf("kafkatest: %d-node Kafka cluster %s serving at %s after %s (data in %s)",
				n, c.clusterID, strings.Join(c.Addrs(), ","), time.Since(began).Round(time.Millisecond), c.dir)
			return c
		}
		if !c.portInUse() || attempt == 3 {
			c.closeNodes()
			t.Logf("kafkatest: data and logs kept in %s", c.dir)
			t.Fatal(err)
		}
		c.closeNodes()
		os.RemoveAll(c.dir)
	}
}

// launch creates, formats and starts a cluster. On error the returned cluster is still usable for
// diagnosis and must be closed.
func launch(t testing.TB, java, lib string, n int, extra map[string]string, sec *Security) (*Cluster, error) {
	c := &Cluster{t: t, java: java, lib: lib, clusterID: newClusterID(), extra: extra}
	dir, err := os.MkdirTemp("", "kafkatest-"+safeName(t.Name())+"-")
	if err != nil {
		return c, fmt.Errorf("kafkatest: %w", err)
	}
	c.dir = dir
	if sec != nil {
		c.sec = &secured{Security: *sec}
		if err := c.sec.prepare(dir); err != nil {
			return c, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tools-log4j2.yaml"), []byte(toolsLog4jConfig), 0o644); err != nil {
		return c, fmt.Errorf("kafkatest: %w", err)
	}
	for i := range n {
		nd := &node{id: i, dir: filepath.Join(dir, fmt.Sprintf("node-%d", i))}
		if nd.port, err = freePort(); err != nil {
			return c, err
		}
		if nd.ctrlPort, err = freePort(); err != nil {
			return c, err
		}
		if c.sec != nil {
			if nd.saslPort, err = freePort(); err != nil {
				return c, err
			}
		}
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			return c, fmt.Errorf("kafkatest: %w", err)
		}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		if err := os.WriteFile(filepath.Join(nd.dir, "server.properties"), []byte(nd.serverProperties(c.nodes, extra, c.sec)), 0o644); err != nil {
			return c, fmt.Errorf("kafkatest: %w", err)
		}
		if err := os.WriteFile(filepath.Join(nd.dir, "log4j2.yaml"), []byte(log4jConfig(nd.dir)), 0o644); err != nil {
			return c, fmt.Errorf("kafkatest: %w", err)
		}
	}
	// Each format is a JVM start: run them side by side.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, nd := range c.nodes {
		wg.Go(func() { errs[i] = c.format(nd) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return c, err
		}
	}
	for _, nd := range c.nodes {
		if err := nd.start(java, lib); err != nil {
			return c, err
		}
	}
	return c, c.waitServing(c.nodes)
}

// newClusterID returns a random Kafka Uuid in its base64 form. Like Kafka's Uuid.randomUuid it never starts
// with '-': the storage tool would read such an id as a flag.
func newClusterID() string {
	for {
		id := make([]byte, 16)
		rand.Read(id)
		if s := base64.RawURLEncoding.EncodeToString(id); s[0] != '-' {
			return s
		}
	}
}

// format runs StorageTool on the node's fresh log directory.
func (c *Cluster) format(nd *node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args, finish := jvmArgs(c.java, c.lib, filepath.Join(c.dir, "tools-log4j2.yaml"), false)
	defer finish()
	args = append(args, "kafka.tools.StorageTool", "format", "-t", c.clusterID, "-c", filepath.Join(nd.dir, "server.properties"))
	if c.sec != nil {
		args = append(args, c.sec.formatArgs()...)
	}
	out, err := exec.CommandContext(ctx, c.java, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafkatest: formatting the storage of node %d (%s) failed: %v\n%s",
			nd.id, filepath.Join(nd.dir, "data"), err, dbserver.LastLines(string(out), 30))
	}
	return nil
}

// waitServing waits until each node of want answers a metadata request listing every running node as a
// broker, failing fast when one of them exits.
func (c *Cluster) waitServing(want []*node) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		var running []int32
		for _, nd := range c.nodes {
			if nd.running() {
				running = append(running, int32(nd.id))
			}
		}
		pending := 0
		var last error
		for _, nd := range want {
			if nd.cmd == nil {
				return fmt.Errorf("kafkatest: node %d is not running", nd.id)
			}
			select {
			case <-nd.exited:
				return fmt.Errorf("kafkatest: node %d (%s) exited before serving: %v\n%s",
					nd.id, nd.addr(), nd.waitErr, nd.logTail(40))
			default:
			}
			if err := lists(nd.addr(), running); err != nil {
				pending++
				last = fmt.Errorf("node %d (%s): %w", nd.id, nd.addr(), err)
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var tails strings.Builder
			for _, nd := range want {
				tails.WriteString(nd.logTail(40))
			}
			return fmt.Errorf("kafkatest: Kafka not serving after %s: %v\n%s", readyTimeout, last, tails.String())
		}
		time.Sleep(200 * time.Millisecond) // polling a condition: nothing to wait on but the network
	}
}

// lists asks the broker at addr for cluster metadata and checks that every id of want is a live broker.
func lists(addr string, want []int32) error {
	b := sarama.NewBroker(addr)
	if err := b.Open(saramaConfig()); err != nil {
		return err
	}
	defer b.Close()
	md, err := b.GetMetadata(&sarama.MetadataRequest{Version: 7})
	if err != nil {
		return err
	}
	have := map[int32]bool{}
	for _, br := range md.Brokers {
		have[br.ID()] = true
	}
	for _, id := range want {
		if !have[id] {
			return fmt.Errorf("broker %d not yet in the metadata (%d brokers listed)", id, len(md.Brokers))
		}
	}
	return nil
}

// saramaConfig is the configuration of the harness's own admin and metadata calls: short deadlines.
func saramaConfig() *sarama.Config {
	conf := sarama.NewConfig()
	conf.Version = sarama.V4_0_0_0
	conf.ClientID = "kafkatest"
	conf.Net.DialTimeout = 2 * time.Second
	conf.Net.ReadTimeout = 5 * time.Second
	conf.Net.WriteTimeout = 5 * time.Second
	conf.Metadata.Retry.Max = 1
	conf.Metadata.Timeout = 10 * time.Second
	conf.Admin.Timeout = 20 * time.Second
	return conf
}

// Addrs returns the bootstrap list, "127.0.0.1:port" per node (node i at index i), running or not: of
// the SASL listener when Options.Security is set, else of the PLAINTEXT one.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addrs := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		addrs[i] = nd.addr()
		if c.sec != nil {
			addrs[i] = nd.clientAddr()
		}
	}
	return addrs
}

// Dir is the directory holding every node's configuration, data and logs (node-<i>/server.log).
func (c *Cluster) Dir() string { return c.dir }

func (c *Cluster) node(i int) *node {
	if i < 0 || i >= len(c.nodes) {
		c.t.Fatalf("kafkatest: no node %d in a %d-node cluster", i, len(c.nodes))
	}
	return c.nodes[i]
}

// Kill sends SIGKILL to node i and waits for it to exit (a crash: no controlled shutdown, no flush).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.node(i).kill()
}

// Stop sends SIGTERM to node i and waits for a clean exit (controlled shutdown: its partition leaderships
// move first); after 30 s it is killed and the test fails. A node cannot finish a controlled shutdown
// without a controller quorum: when most nodes are down already, use Kill.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.node(i)
	if !nd.stop() {
		c.t.Errorf("kafkatest: node %d did not exit within %s of SIGTERM: killed\n%s", i, stopTimeout, nd.logTail(20))
	}
}

// Restart starts node i again (same ports, same data directory) and waits until it serves: its metadata
// lists it and every other running node. A running node is restarted cleanly (Stop first).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.node(i)
	if nd.cmd != nil {
		nd.stop()
	}
	if err := nd.start(c.java, c.lib); err != nil {
		c.t.Fatal(err)
	}
	if err := c.waitServing([]*node{nd}); err != nil {
		c.t.Fatal(err)
	}
}

// StopAll stops every node (SIGTERM to all at once), keeping the data. Kafka has a race here: a node whose
// broker is still in controlled shutdown when the others' controllers are gone waits for a quorum that
// never comes back (Kafka itself gives up only after minutes). So once the first node has exited, the others
// get 10 s more each (30 s in all before any exit); a node still running then is killed, as a crash, and
// the test logs it. Acknowledged records survive that, as they survive Kill.
func (c *Cluster) StopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopAllLocked()
}

// stopAllLocked is StopAll with c.mu held.
func (c *Cluster) stopAllLocked() {
	exited := make(chan *node, len(c.nodes))
	pending := map[*node]bool{}
	for _, nd := range c.nodes {
		if nd.cmd == nil {
			continue
		}
		pending[nd] = true
		nd.signal(syscall.SIGTERM)
		go func(nd *node, done <-chan struct{}) {
			<-done
			exited <- nd
		}(nd, nd.exited)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	for len(pending) > 0 {
		select {
		case nd := <-exited:
			delete(pending, nd)
			nd.cmd = nil
			timer.Reset(straggleTimeout)
			continue
		case <-timer.C:
		}
		break
	}
	for nd := range pending {
		c.t.Logf("kafkatest: node %d did not exit after SIGTERM while the rest of the cluster stopped (its controlled shutdown waits for a controller quorum that is gone): killed\n%s",
			nd.id, nd.logTail(10))
		nd.kill()
	}
}

// StartAll starts every stopped node again (same ports and data) and waits until all serve.
func (c *Cluster) StartAll() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var started []*node
	for _, nd := range c.nodes {
		if nd.cmd != nil {
			continue
		}
		if err := nd.start(c.java, c.lib); err != nil {
			c.t.Fatal(err)
		}
		started = append(started, nd)
	}
	if err := c.waitServing(c.nodes); err != nil {
		c.t.Fatal(err)
	}
}

// Close stops every node as StopAll does. It does not remove the data: t.Cleanup does, when the test
// passed. It is safe to call more than once.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopAllLocked()
}

// closeNodes kills every node at once: for a cluster whose start failed.
func (c *Cluster) closeNodes() {
	for _, nd := range c.nodes {
		nd.kill()
	}
}

func (c *Cluster) portInUse() bool {
	for _, nd := range c.nodes {
		if nd.portInUse() {
			return true
		}
	}
	return false
}

// cleanup closes the cluster when the test ends. When the test passed it kills the nodes (a clean shutdown
// costs seconds and the data is removed anyway; only a node writing the class archive is stopped cleanly)
// and removes the data; else it stops them cleanly, keeps the data and logs where it is, with the tail of
// every node's log.
func (c *Cluster) cleanup() {
	c.closeOnce.Do(func() {
		if !c.t.Failed() {
			c.mu.Lock()
			var wg sync.WaitGroup
			for _, nd := range c.nodes {
				if nd.dumping {
					wg.Go(func() { nd.stop() })
				} else {
					wg.Go(nd.kill)
				}
			}
			wg.Wait()
			c.mu.Unlock()
			os.RemoveAll(c.dir)
			return
		}
		c.Close()
		var b strings.Builder
		for _, nd := range c.nodes {
			b.WriteString(nd.logTail(30))
		}
		c.t.Logf("kafkatest: the test failed: Kafka's data and logs are kept in %s\n%s", c.dir, b.String())
	})
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func safeName(s string) string {
	s = unsafeChars.ReplaceAllString(s, "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}
