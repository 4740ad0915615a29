package topology

import (
	"fmt"
	"hash"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/sluicehq/sluice/internal/kafka"
)

// gokaOptions are the processor options every group of the pipeline shares: clients built from the
// engine's sarama settings (a fresh config each, because goka's builders write into the one they get),
// explicit topic management with the configured replication, and logs at debug level.
func (p *pipelineRun) gokaOptions(store storage.Builder) []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithStorageBuilder(store),
		goka.WithHasher(hasher),
		goka.WithLogger(gokaLogger{p.log}),
		goka.WithConsumerGroupBuilder(p.consumerGroupBuilder),
		goka.WithConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			return sarama.NewConsumer(brokers, p.saramaConfig(clientID))
		}),
		goka.WithProducerBuilder(func(brokers []string, clientID string, h func() hash.Hash32) (goka.Producer, error) {
			return goka.NewProducer(brokers, p.saramaConfig(clientID))
		}),
		goka.WithTopicManagerBuilder(p.topicManagerBuilder()),
	}
}

// consumerGroupBuilder builds goka's consumer groups; they commit each partition's offsets in order (see
// orderedCommitGroup), retry through transient Kafka failures for RetryTimeout (see retryingGroup) and count
// their sessions in sluice_rebalances_total (countRebalances).
func (p *pipelineRun) consumerGroupBuilder(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
	g, err := sarama.NewConsumerGroup(brokers, group, p.saramaConfig(clientID))
	if err != nil {
		return nil, err
	}
	return p.countRebalances(retryingGroup{ConsumerGroup: orderedCommitGroup{g}, brokers: brokers, group: group, retryTimeout: p.cfg.RetryTimeout, log: p.log,
		failed: p.processingFailed, refused: p.refusedRecord}, group), nil
}

func (p *pipelineRun) topicManagerBuilder() goka.TopicManagerBuilder {
	return func(brokers []string) (goka.TopicManager, error) {
		tmc := goka.NewTopicManagerConfig()
		tmc.Table.Replication = p.cfg.Replication
		tmc.Stream.Replication = p.cfg.Replication
		return goka.NewTopicManager(brokers, p.saramaConfig("sluice-topic-manager"), tmc)
	}
}

func (p *pipelineRun) saramaConfig(clientID string) *sarama.Config {
	s := p.settings
	s.ClientID = clientID
	c := kafka.SaramaConfig(s)
	// goka's range-like strategy gives every member the same partition numbers of all its inputs, which
	// joins on co-partitioned topics need.
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{goka.CopartitioningStrategy}
	return c
}

// hasher is the key hash of every producer, processor and view of the engine: Kafka's murmur2, so tables
// and joins co-partition with topics written by any Kafka client's default partitioner (see
// kafka.NewKeyHash and kafka.PartitionFor).
func hasher() hash.Hash32 { return kafka.NewKeyHash() }

// gokaLogger sends goka's chatter to slog at debug level.
type gokaLogger struct{ log *slog.Logger }

func (l gokaLogger) Print(v ...any)   { l.log.Debug(fmt.Sprint(v...), "component", "goka") }
func (l gokaLogger) Println(v ...any) { l.log.Debug(fmt.Sprint(v...), "component", "goka") }
func (l gokaLogger) Printf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "goka")
}

var discardLogger = slog.New(slog.DiscardHandler)
