// Package broker runs Sluice's embedded Kafka-protocol broker: kfake in-process, persisting to a data
// directory that it locks for its lifetime.
//
// # How kfake differs from Apache Kafka, and what Sluice does about it
//
// Found by running every integration test on both (make test-kafka: real Kafka 4.4 in KRaft mode, 1 or 3
// nodes, see internal/kafkatest):
//   - Acknowledgement order. One kfake broker acknowledges produce requests in the order they were sent; a
//     multi-broker Kafka acknowledges writes to partitions led by different brokers in any order. goka marks
//     a consumed message as soon as its own writes are acknowledged and sarama keeps the highest mark, so a
//     join could commit its input past a message whose loopback was still in flight, and a SIGKILL lost it.
//     Fixed in the engine: every consumer group commits a partition only up to its longest fully processed
//     prefix (topology/commitorder.go).
//   - Topic creation. kfake creates topics synchronously; Kafka's CreateTopics returns before every broker
//     knows the topic and its leaders (20-90 ms measured), and a describe-configs right after it can answer
//     UNKNOWN_TOPIC_OR_PARTITION. Start-up waits until every broker shows a leader for each partition, and
//     retries retriable answers (internal/kafka: EnsureTopicsWithin, Retriable).
//   - Restarts. After a full cluster restart a Kafka node can be in the metadata before it leads its
//     partitions again (NOT_LEADER_OR_FOLLOWER); Positions and the start-up checks retry such answers.
//   - Group membership. A SIGKILLed replica's restarted process gets its partitions on Kafka only once the
//     dead member's session has expired (SLUICE_SESSION_TIMEOUT), though it logs "pipeline running" before.
//     Two-replica failover: 12.2-12.7 s on kfake, 13.5 s on a 3-node Kafka.
//   - Broker loss. A SIGKILLed Kafka broker is fenced after broker.session.timeout.ms (9 s by default), so
//     its partitions produce nothing for about 9-11 s; kfake has no replication to fail over.
//   - Internal topics. Kafka lists __consumer_offsets in metadata; kfake does not.
//   - Message size. Both refuse a record batch over max.message.bytes (default 1,048,588, batch header
//     included). Sluice sets max.message.bytes on the topics it creates and checks sizes before sending.
//   - Durability. kfake keeps explicitly created topics across a SIGKILL but loses auto-created ones, and
//     takes no lock on its data directory: Sluice creates every topic explicitly and locks DATA_DIR/LOCK.
//   - Authentication. kfake speaks TLS and SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, not OAUTHBEARER. To
//     wrong credentials Kafka answers SASL_AUTHENTICATION_FAILED ("Authentication failed during
//     authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"); kfake closes the
//     connection instead, which a client cannot tell from a broker restart. Start-up tells them apart
//     (kafka.CheckAuth: a closed SASL exchange while the same broker answers without SASL is refused
//     credentials), so both fail at once, naming the user and the mechanism.
//   - Restart of the broker itself. Down 20 s and back: the pipeline resumed 6.5 s after kfake served again,
//     1.2-1.8 s after a real Kafka node did; duplicates: 40 on kfake, 0 on Kafka.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/kafka"
)

// ErrDataDirLocked means another process holds the data directory. Two brokers on one directory would
// corrupt each other's logs, so the second one refuses to start.
var ErrDataDirLocked = errors.New("data directory is locked by another process")

// LockFileName is the file inside the data directory that the running broker holds an exclusive lock on.
const LockFileName = "LOCK"

// Config says where the embedded broker listens and keeps its data.
type Config struct {
	// Addr is host:port to listen on. The host must be 127.0.0.1 or localhost (kfake binds loopback only);
	// port 0 picks a free port.
	Addr string
	// DataDir holds topics, records and committed offsets across restarts. Empty keeps everything in memory.
	DataDir string
	// CompactionInterval is how often compacted topics are cleaned, in milliseconds (default 60000).
	CompactionIntervalMs int
	Logger               *slog.Logger
	// Security makes the broker require TLS (a certificate generated into DataDir/tls, or a temporary
	// directory without DataDir: see CAFile) and SASL (the configured user, as superuser; PLAIN or SCRAM),
	// as Config.Kafka asks of an embedded broker.
	Security kafka.Security
}

// ResolveAddr returns addr with a port 0 replaced by a port that is free now on the same host, so that a
// program can say where its embedded broker will listen before starting it (another process may take the
// port in between: starting the broker then fails naming the address). Other addresses are returned as
// they are.
func ResolveAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("broker address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("broker address %s: finding a free port: %w", addr, err)
	}
	defer ln.Close()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return net.JoinHostPort(host, port), nil
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	lock    *os.File
	caFile  string
	tmpDir  string // TLS files of a broker without DataDir, removed by Close
}

// Start locks cfg.DataDir (creating it if needed) and starts the broker on it. Topics are never created
// automatically: whoever produces must create its topics first.
func Start(cfg Config) (*Broker, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", cfg.Addr, err)
	}
	if host != "127.0.0.1" && host != "localhost" {
		return nil, fmt.Errorf("broker address %q: the embedded broker listens on 127.0.0.1 only", cfg.Addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("broker address %q: bad port", cfg.Addr)
	}
	b := &Broker{}
	compaction := cfg.CompactionIntervalMs
	if compaction <= 0 {
		compaction = 60000
	}
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": strconv.Itoa(compaction)}),
		// Consumer groups may ask for short sessions so that a dead replica's work moves quickly.
		kfake.GroupMinSessionTimeout(1000),
	}
	if cfg.DataDir != "" {
		if b.lock, err = lockDir(cfg.DataDir); err != nil {
			return nil, err
		}
		opts = append(opts, kfake.DataDir(filepath.Join(cfg.DataDir, "kafka")))
	}
	if cfg.Security.Enabled() {
		tlsDir := filepath.Join(cfg.DataDir, "tls")
		if cfg.DataDir == "" && cfg.Security.TLS {
			if b.tmpDir, err = os.MkdirTemp("", "sluice-broker-tls-"); err != nil {
				b.unlock()
				return nil, fmt.Errorf("embedded broker TLS: %w", err)
			}
			tlsDir = b.tmpDir
		}
		sec, caFile, err := securityOpts(cfg.Security, tlsDir)
		if err != nil {
			b.Close()
			return nil, err
		}
		opts = append(opts, sec...)
		b.caFile = caFile
	}
	b.cluster, err = kfake.NewCluster(opts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("start embedded broker on %s: %w", cfg.Addr, err)
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("embedded broker started", "addr", b.Addrs()[0], "data_dir", cfg.DataDir,
			"tls", cfg.Security.TLS, "ca_file", b.caFile, "sasl", cfg.Security.SASLMechanism)
	}
	return b, nil
}

// Addrs returns the addresses clients connect to.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// CAFile is the PEM file of the CA that signed the broker's TLS certificate, for clients to trust; "" when
// the broker does not speak TLS.
func (b *Broker) CAFile() string { return b.caFile }

// ClientSecurity returns sec for the broker's own clients: with the broker's CA as TLSCAFile when sec has
// TLS and names no CA file.
func (b *Broker) ClientSecurity(sec kafka.Security) kafka.Security {
	if sec.TLS && sec.TLSCAFile == "" {
		sec.TLSCAFile = b.caFile
	}
	return sec
}

// Close stops the broker, writes its state to the data directory and releases the lock.
func (b *Broker) Close() error {
	if b.cluster != nil {
		b.cluster.Close()
	}
	b.unlock()
	if b.tmpDir != "" {
		os.RemoveAll(b.tmpDir)
	}
	return nil
}

func (b *Broker) unlock() {
	if b.lock != nil {
		_ = syscall.Flock(int(b.lock.Fd()), syscall.LOCK_UN)
		_ = b.lock.Close()
		b.lock = nil
	}
}

// lockDir takes an exclusive, non-blocking flock on dir/LOCK. The kernel drops the lock when the process
// dies, so a SIGKILLed broker never leaves a stale lock behind.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (held by pid %s); stop that process or use another SLUICE_DATA_DIR",
				ErrDataDirLocked, path, string(holder))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	return f, nil
}
