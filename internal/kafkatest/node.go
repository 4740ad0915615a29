package kafkatest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"
)

// stopTimeout bounds a clean shutdown (SIGTERM) before the node is killed.
const stopTimeout = 30 * time.Second

// node is one combined-mode (broker and controller) Kafka process. Its ports and directory stay the same
// across restarts.
type node struct {
	id       int
	dir      string // node-<id>: server.properties, log4j2.yaml, data/, server.log, stdout.log
	port     int    // PLAINTEXT listener
	ctrlPort int    // CONTROLLER listener
	saslPort int    // SASL_SSL or SASL_PLAINTEXT client listener of a secured cluster (0: none)

	cmd     *exec.Cmd     // nil while stopped
	dumping bool          // this run writes the class archive at a clean exit (cds.go)
	exited  chan struct{} // closed when cmd has exited
	waitErr error
}

func (n *node) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// clientAddr is the address of the SASL listener.
func (n *node) clientAddr() string { return "127.0.0.1:" + strconv.Itoa(n.saslPort) }

func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// serverProperties renders the node's configuration: defaults for the cluster size, the SASL listener of
// sec (nil: none), then extra (which wins).
func (n *node) serverProperties(nodes []*node, extra map[string]string, sec *secured) string {
	voters := make([]string, len(nodes))
	for i, m := range nodes {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", m.id, m.ctrlPort)
	}
	rf, isr := "1", "1"
	if len(nodes) >= 3 {
		rf, isr = "3", "2"
	}
	conf := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          strconv.Itoa(n.id),
		"listeners":                                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.port, n.ctrlPort),
		"advertised.listeners":                             fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.port),
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.listener.names":                        "CONTROLLER",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"controller.quorum.voters":                         strings.Join(voters, ","),
		"log.dirs":                                         filepath.Join(n.dir, "data"),
		"num.partitions":                                   "1",
		"auto.create.topics.enable":                        "false",
		"default.replication.factor":                       rf,
		"min.insync.replicas":                              isr,
		"offsets.topic.replication.factor":                 rf,
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    isr,
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            isr,
		// 50 partitions (the default) of __consumer_offsets cost seconds to create on two cores at the first
		// consumer group; tests never need that many coordinators.
		"offsets.topic.num.partitions":         "10",
		"transaction.state.log.num.partitions": "10",
		"group.initial.rebalance.delay.ms":     "0",
		"log.cleaner.backoff.ms":               "1000",
		"controlled.shutdown.enable":           "true",
	}
	if sec != nil {
		sec.configure(conf, n)
	}
	for k, v := range extra {
		conf[k] = v
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by internal/kafkatest\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, conf[k])
	}
	return b.String()
}

// log4jConfig sends WARN and above, plus the server's start-up, fencing and shutdown lines, to dir/server.log.
func log4jConfig(dir string) string {
	return `Configuration:
  Appenders:
    File:
      name: file
      fileName: "` + filepath.Join(dir, "server.log") + `"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
      - name: kafka.server.ControllerServer
        level: INFO
      - name: org.apache.kafka.server.BrokerLifecycleManager
        level: INFO
    Root:
      level: WARN
      AppenderRef:
        - ref: file
`
}

// toolsLog4jConfig sends the console tools' WARN and above to stderr, keeping stdout for records.
const toolsLog4jConfig = `Configuration:
  Appenders:
    Console:
      name: stderr
      target: SYSTEM_ERR
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: stderr
`

// jvmArgs are the JVM flags of every Kafka process: small heap, serial GC and the quick (C1) JIT only, as
// start-up dominates on two cores shared by everyone; the class archive of cds.go; JVM warnings on stderr
// (a console tool's stdout carries records only). finish must be called after the JVM exited.
func jvmArgs(java, lib, log4j string, dumpArchive bool) (args []string, finish func()) {
	args = []string{"-Xmx384m", "-Xms128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Xlog:disable", "-Xlog:all=warning:stderr", "-Djava.awt.headless=true"}
	cds, finish := cdsFlags(java, lib, dumpArchive)
	args = append(args, cds...)
	return append(args, "-Dlog4j2.configurationFile="+log4j, "-cp", filepath.Join(lib, "*")), finish
}

// start launches the node's JVM in its own process group; the kernel kills it if the test binary dies.
func (n *node) start(java, lib string) error {
	out, err := os.OpenFile(filepath.Join(n.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("kafkatest: node %d: %w", n.id, err)
	}
	defer out.Close() // the child holds its own descriptor
	fmt.Fprintf(out, "--- kafkatest: starting node %d at %s\n", n.id, time.Now().Format(time.RFC3339Nano))
	args, finish := jvmArgs(java, lib, filepath.Join(n.dir, "log4j2.yaml"), true)
	args = append(args, "kafka.Kafka", filepath.Join(n.dir, "server.properties"))
	cmd := exec.Command(java, args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		finish()
		return fmt.Errorf("kafkatest: node %d: start java: %w", n.id, err)
	}
	n.cmd, n.exited, n.waitErr = cmd, make(chan struct{}), nil
	n.dumping = slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-XX:ArchiveClassesAtExit") })
	exited := n.exited
	go func() {
		n.waitErr = cmd.Wait()
		finish()
		close(exited)
	}()
	return nil
}

// signal sends sig to the node's process group.
func (n *node) signal(sig syscall.Signal) {
	if n.cmd != nil {
		_ = syscall.Kill(-n.cmd.Process.Pid, sig)
	}
}

// kill sends SIGKILL and waits for the exit.
func (n *node) kill() {
	if n.cmd == nil {
		return
	}
	n.signal(syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
}

// stop sends SIGTERM and waits for a clean exit, killing the node after stopTimeout. It reports whether
// the node exited by itself.
func (n *node) stop() bool {
	if n.cmd == nil {
		return true
	}
	n.signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		n.cmd = nil
		return true
	case <-time.After(stopTimeout):
		n.kill()
		return false
	}
}

// logTail is the end of the node's server.log and stdout.log, for failure messages.
func (n *node) logTail(lines int) string {
	var b strings.Builder
	for _, name := range []string{"server.log", "stdout.log"} {
		path := filepath.Join(n.dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- node %d: last lines of %s\n%s\n", n.id, path, dbserver.LastLines(string(data), lines))
	}
	return b.String()
}

// portInUse reports whether the node's log says a listener could not bind.
func (n *node) portInUse() bool {
	for _, name := range []string{"server.log", "stdout.log"} {
		data, _ := os.ReadFile(filepath.Join(n.dir, name))
		if strings.Contains(string(data), "Address already in use") {
			return true
		}
	}
	return false
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("kafkatest: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
