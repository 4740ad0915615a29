package topology

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/sluicehq/sluice/internal/kafka"
)

// Positions reads the stored state of every task of a source from the source's group table, through a goka
// View over the table topic (the same data a restarted replica resumes from). brokers must reach the
// pipeline's Kafka; ctx bounds the time spent recovering the table.
//
// A cluster that is still settling (a partition without a leader yet, or whose new leader does not lead it
// yet: right after a restart a node is in the metadata a moment before it serves its partitions, and
// answers NOT_LEADER_OR_FOLLOWER) is asked again with kafka.RetryBackoff until ctx ends; the error then
// names the table and the last Kafka answer. Other errors return at once. TLS and SASL come from the
// SLUICE_KAFKA_* variables (see Config.Kafka).
func Positions(ctx context.Context, brokers []string, pipeline, source string) (map[string]TaskState, error) {
	table := goka.Table(tableTopic(sourceGroup(pipeline, source)))
	auth, err := kafka.AuthFromEnv()
	if err != nil {
		return nil, fmt.Errorf("positions of %s/%s: %w", pipeline, source, err)
	}
	var retried error // the last retriable answer
	for attempt := 0; ; attempt++ {
		out, err := readPositions(ctx, brokers, auth, table)
		if err == nil {
			return out, nil
		}
		if ctx.Err() == nil && !kafka.RetriableText(err) {
			return nil, fmt.Errorf("positions of %s/%s: %w", pipeline, source, err)
		}
		if ctx.Err() == nil {
			retried = err
		}
		if ctx.Err() != nil || !kafka.RetryWait(ctx, attempt, time.Time{}) {
			if retried != nil {
				return nil, fmt.Errorf("positions of %s/%s: table %s not recovered: %w (Kafka's last answer: %v)", pipeline, source, table, ctx.Err(), retried)
			}
			return nil, fmt.Errorf("positions of %s/%s: table %s not recovered: %w", pipeline, source, table, ctx.Err())
		}
	}
}

// readPositions recovers table once with a goka View and returns its entries.
func readPositions(ctx context.Context, brokers []string, auth *kafka.Auth, table goka.Table) (map[string]TaskState, error) {
	view, err := newEngineView(brokers, auth, table, jsonCodec[TaskState]{}, "sluice-positions")
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- view.Run(runCtx) }()
	for !view.Recovered() {
		select {
		case err := <-runErr:
			if err == nil { // Run returns nil when ctx ends
				err = ctx.Err()
			}
			return nil, fmt.Errorf("view stopped: %w", err)
		case <-ctx.Done():
			return nil, ctx.Err() // the view stops with runCtx; a request it is waiting for may outlast ctx
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer func() {
		stop()
		<-runErr
	}()
	it, err := view.Iterator()
	if err != nil {
		return nil, err
	}
	defer it.Release()
	out := map[string]TaskState{}
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", it.Key(), err)
		}
		if st, ok := v.(*TaskState); ok {
			out[it.Key()] = *st
		}
	}
	return out, nil
}

// newEngineView is a goka View of table partitioned and configured as the engine's processors are (the
// engine's key hash, its sarama settings and auth), with in-memory storage and goka's own logs discarded.
func newEngineView(brokers []string, auth *kafka.Auth, table goka.Table, c goka.Codec, clientID string) (*goka.View, error) {
	cfg := func(id string) *sarama.Config { return kafka.SaramaConfig(kafka.Settings{ClientID: id, Auth: auth}) }
	return goka.NewView(brokers, table, c,
		goka.WithViewStorageBuilder(storage.MemoryBuilder()),
		goka.WithViewHasher(hasher),
		goka.WithViewLogger(gokaLogger{discardLogger}),
		goka.WithViewConsumerSaramaBuilder(func(brokers []string, id string) (sarama.Consumer, error) {
			return sarama.NewConsumer(brokers, cfg(id))
		}),
		goka.WithViewTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			tmc := goka.NewTopicManagerConfig()
			tmc.Table.Replication, tmc.Stream.Replication = 1, 1
			return goka.NewTopicManager(brokers, cfg(clientID), tmc)
		}),
	)
}
