// Package kafka holds Sluice's sarama plumbing: client configuration, explicit topic creation and the
// producer of the data path. Nothing here is public API: sarama types never leave internal/ and topology.
package kafka

import (
	"time"

	"github.com/IBM/sarama"
)

// Settings are the knobs the engine sets on every sarama client it builds.
type Settings struct {
	Brokers  []string
	ClientID string
	// SessionTimeout is how long the group coordinator waits for a silent replica before moving its
	// partitions (and so its source tasks) to the others.
	SessionTimeout time.Duration
	// CommitInterval is how often marked offsets are committed. Short, because every record acknowledged
	// but not yet committed is delivered again after a crash.
	CommitInterval time.Duration
	// Compression of produced batches: none, gzip, snappy, lz4 or zstd.
	Compression sarama.CompressionCodec
	// RetryTimeout is how long producers and metadata refreshes retry through a broker restart, a leader
	// change or a moved coordinator before a message fails (default DefaultRetryTimeout).
	RetryTimeout time.Duration
	// Auth is the TLS and SASL of every connection (NewAuth); nil: plaintext, no authentication.
	Auth *Auth
}

// SaramaConfig returns the configuration for consumers and producers of the engine.
//
// Producers are idempotent with one request in flight per broker, so a retried batch is neither
// duplicated nor reordered. New consumer groups start at the oldest offset, like a Kafka Connect sink.
// Connections dial within 5s; a message, a metadata refresh and a consumer's partition are retried with
// exponential backoff (capped at MaxRetryBackoff) for about s.RetryTimeout before they fail. Connections use
// s.Auth's TLS and SASL.
func SaramaConfig(s Settings) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V3_0_0_0
	if s.ClientID != "" {
		c.ClientID = s.ClientID
	}
	c.Metadata.AllowAutoTopicCreation = false

	c.Consumer.Return.Errors = true
	c.Consumer.MaxProcessingTime = time.Second
	// A fetch parks on the broker until data arrives or this long; requests on one connection are answered in
	// order, so an offset commit sent meanwhile waits for it. Keep it short so commits stay prompt.
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = orDefault(s.CommitInterval, 100*time.Millisecond)
	c.Consumer.Group.Session.Timeout = orDefault(s.SessionTimeout, 10*time.Second)
	c.Consumer.Group.Heartbeat.Interval = c.Consumer.Group.Session.Timeout / 4
	c.Consumer.Group.Rebalance.Timeout = 30 * time.Second

	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1
	c.Producer.Compression = s.Compression
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Producer.Flush.Bytes = 256 * 1024
	c.Producer.Flush.MaxMessages = 0
	c.Producer.MaxMessageBytes = 1000000
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	retry := orDefault(s.RetryTimeout, DefaultRetryTimeout)
	setRetries(c, retry)
	// Keyed records go where Kafka's own producer puts them (see NewKeyHash); null keys stay random.
	c.Producer.Partitioner = sarama.NewCustomHashPartitioner(NewKeyHash)
	s.Auth.Apply(c)
	return c
}

// ParseCompression maps a topic's compression name to sarama's codec; "" means none.
func ParseCompression(name string) (sarama.CompressionCodec, bool) {
	switch name {
	case "", "none":
		return sarama.CompressionNone, true
	case "gzip":
		return sarama.CompressionGZIP, true
	case "snappy":
		return sarama.CompressionSnappy, true
	case "lz4":
		return sarama.CompressionLZ4, true
	case "zstd":
		return sarama.CompressionZSTD, true
	}
	return sarama.CompressionNone, false
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
