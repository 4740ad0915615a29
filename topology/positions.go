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
func Positions(ctx context.Context, brokers []string, pipeline, source string) (map[string]TaskState, error) {
	cfg := func(id string) *sarama.Config { return kafka.SaramaConfig(kafka.Settings{ClientID: id}) }
	table := goka.Table(tableTopic(sourceGroup(pipeline, source)))
	view, err := goka.NewView(brokers, table, jsonCodec[TaskState]{},
		goka.WithViewStorageBuilder(storage.MemoryBuilder()),
		goka.WithViewHasher(hasher),
		goka.WithViewLogger(gokaLogger{discardLogger}),
		goka.WithViewConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			return sarama.NewConsumer(brokers, cfg(clientID))
		}),
		goka.WithViewTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			tmc := goka.NewTopicManagerConfig()
			tmc.Table.Replication, tmc.Stream.Replication = 1, 1
			return goka.NewTopicManager(brokers, cfg("sluice-positions"), tmc)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("positions of %s/%s: %w", pipeline, source, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- view.Run(runCtx) }()
	for !view.Recovered() {
		select {
		case err := <-runErr:
			return nil, fmt.Errorf("positions of %s/%s: view stopped: %w", pipeline, source, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("positions of %s/%s: table %s not recovered: %w", pipeline, source, table, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	it, err := view.Iterator()
	if err != nil {
		return nil, err
	}
	defer it.Release()
	out := map[string]TaskState{}
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, fmt.Errorf("positions of %s/%s: key %q: %w", pipeline, source, it.Key(), err)
		}
		if st, ok := v.(*TaskState); ok {
			out[it.Key()] = *st
		}
	}
	stop()
	<-runErr
	return out, nil
}
