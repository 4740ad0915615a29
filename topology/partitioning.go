package topology

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
)

// ErrOldPartitioning means start-up found keyed state (a source's control records or task positions, a
// join's or keyed stage's group table) on the partition where a Sluice from before the switch to Kafka's
// murmur2 partitioning put it with FNV-1a. This Sluice would look for those keys on another partition:
// tasks would restart from scratch and joins would miss rows. RunWith fails with it, naming the topics.
var ErrOldPartitioning = errors.New("data partitioned with FNV-1a by an earlier Sluice")

const (
	// placementSampleLimit is how many records of each partition the start-up check reads at most.
	placementSampleLimit = 1000
	// placementCheckBudget bounds the whole start-up check; past it, start-up goes on with what was read.
	placementCheckBudget = 10 * time.Second
	// placementIdleLimit ends the reading of a partition whose remaining offsets hold no records any more
	// (compacted away, transaction markers): records arrived, then none for this long although the
	// high-water mark taken at start was not reached.
	placementIdleLimit = time.Second
)

// keyedStateTopics are the topics whose records must sit on their key's partition for the engine to find
// them: each source's control topic and group table, and each join's or keyed stage's group table.
func (p *pipelineRun) keyedStateTopics(joins []*joinSpec) []string {
	var topics []string
	for _, s := range p.t.sources {
		topics = append(topics, controlTopic(p.t.name, s.name), tableTopic(sourceGroup(p.t.name, s.name)))
	}
	for _, j := range joins {
		topics = append(topics, tableTopic(j.group))
	}
	return topics
}

// misplacedKey is a sampled record that is not on its murmur2 partition.
type misplacedKey struct {
	key               string
	partition, offset int64
	murmur2, fnv      int32
}

// topicPlacement is what the check saw in one topic.
type topicPlacement struct {
	topic      string
	partitions int32
	sampled    int
	onFNV      int          // records on their FNV-1a partition, not on their murmur2 one
	elsewhere  int          // records on neither
	fnvExample misplacedKey // the first of onFNV
	example    misplacedKey // the first of elsewhere
}

// checkPartitioning reads a bounded sample of every keyed state topic (up to placementSampleLimit records
// per partition, from the oldest offset to the high-water mark at start, within placementCheckBudget
// overall) and fails with ErrOldPartitioning when records sit on their FNV-1a partition instead of their
// murmur2 one. Topics of one partition are never read; empty topics cost one offsets request per broker.
// Records on neither partition are logged as a warning. Retriable Kafka errors (kafka.Retriable: no leader
// yet, not the leader, unknown topic, as on a fresh cluster right after the topics were created) are asked
// again within the budget. When the budget runs out or Kafka fails a request for good, start-up goes on with
// what was checked (and a warning); when ctx ends, checkPartitioning returns ctx's error.
func (p *pipelineRun) checkPartitioning(ctx context.Context, joins []*joinSpec) error {
	topics := p.keyedStateTopics(joins)
	if len(topics) == 0 {
		return nil
	}
	started := time.Now()
	checkCtx, cancel := context.WithTimeout(ctx, placementCheckBudget)
	defer cancel()
	cfg := p.saramaConfig("sluice-partitioning-check")
	cfg.Net.DialTimeout = min(cfg.Net.DialTimeout, placementCheckBudget)
	cfg.Net.ReadTimeout = min(cfg.Net.ReadTimeout, placementCheckBudget)
	cfg.Net.WriteTimeout = min(cfg.Net.WriteTimeout, placementCheckBudget)
	cfg.Metadata.Timeout = placementCheckBudget

	type result struct {
		placements []*topicPlacement
		complete   bool
		err        error
	}
	done := make(chan result, 1)
	go func() {
		placements, complete, err := samplePlacement(checkCtx, p.brokers, cfg, topics)
		done <- result{placements, complete, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-checkCtx.Done():
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The budget ran out. Closing the client on checkCtx's end unblocks the sampler, which returns what
		// it read; only a connection still being dialled can keep it longer.
		select {
		case r = <-done:
		case <-time.After(placementIdleLimit):
			r.err = checkCtx.Err()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if r.err != nil || !r.complete {
		// A best-effort check: Kafka trouble here shows again, with its own error, in the steps that follow.
		if r.err == nil && checkCtx.Err() != nil {
			r.err = fmt.Errorf("not finished within %v", placementCheckBudget)
		}
		p.log.Warn("partitioning check incomplete: start-up goes on with what was read", "topics", topics, "err", r.err)
	}
	var old []*topicPlacement
	sampled := 0
	for _, tp := range r.placements {
		sampled += tp.sampled
		if tp.onFNV > 0 {
			old = append(old, tp)
		}
		if tp.elsewhere > 0 {
			e := tp.example
			p.log.Warn("records not on their key's partition", "topic", tp.topic, "records", tp.elsewhere,
				"key", e.key, "partition", e.partition, "offset", e.offset, "murmur2_partition", e.murmur2,
				"fnv_partition", e.fnv)
		}
	}
	p.log.Debug("partitioning checked", "topics", len(topics), "records", sampled, "took", time.Since(started))
	if len(old) > 0 {
		return oldPartitioningError(old)
	}
	return nil
}

// oldPartitioningError names each topic with an example key, where it is and where this Sluice looks for
// it, and what to do.
func oldPartitioningError(old []*topicPlacement) error {
	var b strings.Builder
	names := make([]string, 0, len(old))
	for _, tp := range old {
		e := tp.fnvExample
		names = append(names, tp.topic)
		fmt.Fprintf(&b, "\n  topic %s (%d partitions): %d of %d sampled records are on their FNV-1a partition; e.g. key %q at partition %d offset %d, where this Sluice looks for it on partition %d",
			tp.topic, tp.partitions, tp.onFNV, tp.sampled, e.key, e.partition, e.offset, e.murmur2)
	}
	return fmt.Errorf("%w:%s\nthis data was written by a Sluice from before Kafka's murmur2 partitioning, which partitioned keys with FNV-1a; start with a new SLUICE_DATA_DIR or pipeline name, or delete and re-create these topics (%s)",
		ErrOldPartitioning, b.String(), strings.Join(names, ", "))
}

// fnvPartition is where a Sluice from before murmur2 put a key: sarama's hash partitioner over FNV-1a,
// |int32(fnv1a(key)) % n|.
func fnvPartition(key []byte, n int32) int32 {
	h := fnv.New32a()
	_, _ = h.Write(key)
	p := int32(h.Sum32()) % n
	if p < 0 {
		p = -p
	}
	return p
}

// samplePlacement reads the sample of every topic with one client, closed when ctx ends so that no call
// outlives it. It returns what it classified even with an error; complete is false when a partition was
// not read to its sample's end.
func samplePlacement(ctx context.Context, brokers []string, cfg *sarama.Config, topics []string) ([]*topicPlacement, bool, error) {
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, false, err
	}
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	defer func() {
		if stop() {
			_ = client.Close()
		}
	}()

	var placements []*topicPlacement
	var ranges []partitionRange
	for _, topic := range topics {
		var parts []int32
		err := retrying(ctx, client, topics, func() (err error) {
			parts, err = client.Partitions(topic)
			return err
		})
		if err != nil {
			return nil, false, fmt.Errorf("topic %s: partitions: %w", topic, err)
		}
		if len(parts) <= 1 {
			continue // one partition: every key is on it
		}
		tp := &topicPlacement{topic: topic, partitions: int32(len(parts))}
		placements = append(placements, tp)
		for _, part := range parts {
			ranges = append(ranges, partitionRange{placement: tp, partition: part})
		}
	}
	if len(ranges) == 0 {
		return nil, true, nil
	}
	// One offsets request per broker for the high-water marks; the oldest offsets only where there is data.
	if err := retrying(ctx, client, topics, func() error {
		return listOffsets(client, ranges, sarama.OffsetNewest, func(r *partitionRange, off int64) { r.end = off })
	}); err != nil {
		return nil, false, err
	}
	var withData []partitionRange
	for _, r := range ranges {
		if r.end > 0 {
			withData = append(withData, r)
		}
	}
	if err := retrying(ctx, client, topics, func() error {
		return listOffsets(client, withData, sarama.OffsetOldest, func(r *partitionRange, off int64) { r.start = off })
	}); err != nil {
		return nil, false, err
	}
	withData = slices.DeleteFunc(withData, func(r partitionRange) bool { return r.start >= r.end })
	if len(withData) == 0 {
		return placements, true, nil
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, false, err
	}
	defer consumer.Close()
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		complete = true
	)
	for _, r := range withData {
		var pc sarama.PartitionConsumer
		err := retrying(ctx, client, topics, func() (err error) {
			pc, err = consumer.ConsumePartition(r.placement.topic, r.partition, r.start)
			return err
		})
		if err != nil {
			mu.Lock()
			firstErr = fmt.Errorf("topic %s partition %d: read from offset %d: %w", r.placement.topic, r.partition, r.start, err)
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			finished, err := r.read(ctx, pc, &mu)
			mu.Lock()
			defer mu.Unlock()
			if !finished {
				complete = false
			}
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("topic %s partition %d: %w", r.placement.topic, r.partition, err)
			}
		}()
	}
	wg.Wait()
	return placements, complete && firstErr == nil, firstErr
}

// partitionRange is the part of one partition the check reads: [start, end) of the offsets at start.
type partitionRange struct {
	placement  *topicPlacement
	partition  int32
	start, end int64
}

// read classifies the records of the range (at most placementSampleLimit) into r.placement, under mu.
// finished is false when ctx ended first.
func (r *partitionRange) read(ctx context.Context, pc sarama.PartitionConsumer, mu *sync.Mutex) (finished bool, err error) {
	idle := time.NewTimer(placementIdleLimit) // armed by the first record
	idle.Stop()
	defer idle.Stop()
	n := r.placement.partitions
	for count := 0; count < placementSampleLimit; {
		select {
		case <-ctx.Done():
			return false, nil
		case <-idle.C:
			return true, nil // the rest of the range holds no records any more
		case cerr, ok := <-pc.Errors():
			if !ok {
				return false, nil
			}
			return false, cerr.Err
		case msg, ok := <-pc.Messages():
			if !ok {
				return false, nil
			}
			idle.Reset(placementIdleLimit)
			count++
			if msg.Key != nil {
				r.classify(msg, n, mu)
			}
			if msg.Offset >= r.end-1 {
				return true, nil
			}
		}
	}
	return true, nil
}

func (r *partitionRange) classify(msg *sarama.ConsumerMessage, n int32, mu *sync.Mutex) {
	key := string(msg.Key)
	want := kafka.PartitionFor(key, n)
	mu.Lock()
	defer mu.Unlock()
	tp := r.placement
	tp.sampled++
	if msg.Partition == want {
		return
	}
	m := misplacedKey{key: key, partition: int64(msg.Partition), offset: msg.Offset, murmur2: want, fnv: fnvPartition(msg.Key, n)}
	if msg.Partition == m.fnv {
		if tp.onFNV == 0 {
			tp.fnvExample = m
		}
		tp.onFNV++
		return
	}
	if tp.elsewhere == 0 {
		tp.example = m
	}
	tp.elsewhere++
}

// retrying calls f until it returns nil or an error that is not kafka.Retriable (a partition without a
// leader or led elsewhere, a topic the broker does not know yet: a fresh cluster's state right after the
// topics were created), refreshing the metadata of topics between calls. When ctx ends it returns f's last
// error.
func retrying(ctx context.Context, client sarama.Client, topics []string, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !kafka.Retriable(err) || !kafka.RetryWait(ctx, attempt, time.Time{}) {
			return err
		}
		_ = client.RefreshMetadata(topics...) // a failure shows in f's next error
	}
}

// listOffsets asks each partition's leader for the offset at (sarama.OffsetNewest or OffsetOldest),
// one request per broker, and hands each answer to set.
func listOffsets(client sarama.Client, ranges []partitionRange, at int64, set func(*partitionRange, int64)) error {
	type request struct {
		broker *sarama.Broker
		req    *sarama.OffsetRequest
		ranges []*partitionRange
	}
	byBroker := map[int32]*request{}
	for i := range ranges {
		r := &ranges[i]
		leader, err := client.Leader(r.placement.topic, r.partition)
		if err != nil {
			return fmt.Errorf("topic %s partition %d: leader: %w", r.placement.topic, r.partition, err)
		}
		q := byBroker[leader.ID()]
		if q == nil {
			q = &request{broker: leader, req: &sarama.OffsetRequest{Version: 1}}
			byBroker[leader.ID()] = q
		}
		q.req.AddBlock(r.placement.topic, r.partition, at, 1)
		q.ranges = append(q.ranges, r)
	}
	for _, q := range byBroker {
		resp, err := q.broker.GetAvailableOffsets(q.req)
		if err != nil {
			return fmt.Errorf("list offsets at broker %s: %w", q.broker.Addr(), err)
		}
		for _, r := range q.ranges {
			block := resp.GetBlock(r.placement.topic, r.partition)
			if block == nil {
				return fmt.Errorf("topic %s partition %d: no offset in the broker's answer", r.placement.topic, r.partition)
			}
			if block.Err != sarama.ErrNoError {
				return fmt.Errorf("topic %s partition %d: list offsets: %w", r.placement.topic, r.partition, block.Err)
			}
			set(r, block.Offset)
		}
	}
	return nil
}
