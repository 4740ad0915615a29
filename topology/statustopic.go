package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/secret"
)

// The Kafka side of the status (see status.go): publishing this replica's status on <pipeline>.status,
// reading every replica's, and the offsets (committed, oldest, newest) that the status's lag is computed
// from. Everything here runs in the board's own goroutines, with its own clients: a Kafka that does not
// answer delays the status, never the pipeline nor its stop.

// statusRequestTimeout bounds every request of the status board to Kafka.
const statusRequestTimeout = 5 * time.Second

// statusBoard publishes this replica's status and keeps the other replicas'.
type statusBoard struct {
	p     *pipelineRun
	topic string
	wake  chan struct{}

	mu        sync.Mutex
	parts     statusParts
	offsets   statusOffsets
	entries   map[string]statusEntry // other replicas, by id
	clusterID string
	lastLog   map[string]time.Time // by what failed, for rate-limited warnings

	stopOnce sync.Once
	done     sync.WaitGroup
	client   sarama.Client        // the board's client (nil until connected); publisher goroutine only
	producer sarama.AsyncProducer // publisher goroutine only: only it sends on its input
}

// statusEntry is another replica's last status and when it counts from for expiry.
type statusEntry struct {
	status opsapi.ReplicaStatus
	seen   time.Time
}

// newStatusBoard returns the board of p's replica; start starts it once the status topic exists.
func newStatusBoard(p *pipelineRun) *statusBoard {
	return &statusBoard{p: p, topic: statusTopic(p.t.name), wake: make(chan struct{}, 1),
		entries: map[string]statusEntry{}, lastLog: map[string]time.Time{}}
}

// start starts publishing and reading the status topic in the background and returns the function that
// stops it: when the running pipeline failed (failed true) it publishes a last status (FAILED, with the
// error), which the other replicas show until it expires; otherwise (a clean stop, or a start-up that did
// not get to run) a tombstone, which removes this replica from their status at once. It waits at most
// 2*statusRequestTimeout for Kafka to take it.
func (b *statusBoard) start() func(failed bool) {
	ctx, cancel := context.WithCancel(context.Background())
	b.done.Add(2)
	go func() {
		defer b.done.Done()
		b.read(ctx)
	}()
	go func() {
		defer b.done.Done()
		b.publish(ctx)
	}()
	return func(failed bool) {
		b.stopOnce.Do(func() {
			cancel()
			b.done.Wait()
			b.final(!failed)
		})
	}
}

// poke asks the publisher to look for a change now.
func (b *statusBoard) poke() { signal(b.wake) }

// warn logs a failure of what at most once per statusLogEvery.
func (b *statusBoard) warn(what string, err error) {
	b.mu.Lock()
	last := b.lastLog[what]
	now := time.Now()
	if now.Sub(last) < statusLogEvery {
		b.mu.Unlock()
		return
	}
	b.lastLog[what] = now
	b.mu.Unlock()
	b.p.log.Warn("replica status: "+what+" failed; retrying", "topic", b.topic, "err", inOwnWords(err),
		"next_warning_after", statusLogEvery.String())
}

// config is the sarama configuration of the board's clients: every request answered within
// statusRequestTimeout, a message retried for a few seconds only.
func (b *statusBoard) config() *sarama.Config {
	s := b.p.settings
	s.ClientID = "sluice-status"
	s.RetryTimeout = statusRequestTimeout
	c := kafka.StartupConfig(kafka.SaramaConfig(s), statusRequestTimeout)
	c.Net.ReadTimeout = statusRequestTimeout
	c.Producer.Idempotent = false // a status is replaced 2 s later: no need for sequence state
	c.Producer.Timeout = statusRequestTimeout
	c.Producer.Return.Successes = true
	return c
}

// connect builds the publisher's client and producer, within statusRequestTimeout each.
func (b *statusBoard) connect(ctx context.Context) error {
	if b.producer != nil {
		return nil
	}
	cfg := b.config()
	client, err := kafka.Within(ctx, statusRequestTimeout, b.p.brokers, "a metadata request",
		func() (sarama.Client, error) { return sarama.NewClient(b.p.brokers, cfg) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return err
	}
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return err
	}
	b.client, b.producer = client, producer
	return nil
}

// disconnect closes the publisher's producer and client. The producer's Close waits for the messages in
// flight; it is given statusRequestTimeout, then the client is closed under it.
func (b *statusBoard) disconnect() {
	if b.producer != nil {
		closed := make(chan struct{})
		producer := b.producer
		go func() {
			defer close(closed)
			_ = producer.Close()
		}()
		timer := time.NewTimer(statusRequestTimeout)
		select {
		case <-closed:
		case <-timer.C:
			b.p.log.Debug("replica status: the producer did not close in time; closing its connections", "topic", b.topic)
		}
		timer.Stop()
	}
	if b.client != nil {
		_ = b.client.Close()
	}
	b.producer, b.client = nil, nil
}

// send produces value (nil: a tombstone) for this replica within statusRequestTimeout.
//
// The message goes into the producer's input on this goroutine, never on one left behind by a deadline: a
// send abandoned mid-way would later hit the input that disconnect closed (sarama panics on that).
func (b *statusBoard) send(ctx context.Context, value []byte) error {
	if err := b.connect(ctx); err != nil {
		return err
	}
	msg := &sarama.ProducerMessage{Topic: b.topic, Key: sarama.StringEncoder(b.p.replicaID)}
	if value != nil {
		// Errors in the status (last_error) are read by `sluice status` and other replicas: no secrets.
		msg.Value = sarama.ByteEncoder(secret.Redact(string(value)))
	}
	producer := b.producer
	timer := time.NewTimer(statusRequestTimeout)
	defer timer.Stop()
	noAnswer := &kafka.NoAnswerError{Brokers: b.p.brokers, What: "a status write", After: statusRequestTimeout}
	select {
	case producer.Input() <- msg:
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		b.disconnect() // a stuck connection: the next attempt builds a new one
		return noAnswer
	}
	select {
	case <-producer.Successes():
		return nil
	case perr := <-producer.Errors():
		b.disconnect()
		return perr.Err
	case <-ctx.Done():
		b.disconnect() // its answer must not be taken for the next message's
		return ctx.Err()
	case <-timer.C:
		b.disconnect()
		return noAnswer
	}
}

// publish publishes this replica's status every statusPublishEvery, and at once when its shape changes,
// until ctx ends; every statusPublishEvery it also refreshes the offsets and the cluster id.
func (b *statusBoard) publish(ctx context.Context) {
	defer b.disconnect()
	check := time.NewTicker(statusCheckEvery)
	defer check.Stop()
	var lastShape string
	var lastSent, lastRefresh time.Time
	for {
		now := time.Now()
		if now.Sub(lastRefresh) >= statusPublishEvery {
			b.refreshOffsets(ctx)
			lastRefresh = time.Now()
		}
		shape := b.p.statusShape()
		if shape != lastShape || now.Sub(lastSent) >= statusPublishEvery {
			value, err := json.Marshal(b.p.replicaStatus(ctx))
			if err == nil {
				err = b.send(ctx, value)
			}
			if err != nil && ctx.Err() == nil {
				b.warn("publishing this replica's status", err)
			}
			if err == nil {
				lastShape = shape
			}
			lastSent = time.Now() // a failed publish is retried at the next interval, or the next change
		}
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		case <-b.wake:
		}
	}
}

// final publishes this replica's last word: a tombstone after a clean stop, else its last status.
func (b *statusBoard) final(clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*statusRequestTimeout)
	defer cancel()
	defer b.disconnect()
	var value []byte
	if !clean {
		var err error
		if value, err = json.Marshal(b.p.replicaStatus(ctx)); err != nil {
			return
		}
	}
	if err := b.send(ctx, value); err != nil {
		b.p.log.Warn("replica status: the last status was not published; the other replicas forget this one once it expires",
			"topic", b.topic, "expires_after", b.p.statusExpiry().String(), "err", inOwnWords(err))
	}
}

// read follows the status topic from its start until ctx ends, reconnecting after a failure.
func (b *statusBoard) read(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := b.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		b.warn("reading the replicas' status", err)
		if !kafka.RetryWait(ctx, attempt+4, time.Time{}) { // at least about 1.6 s apart
			return
		}
	}
}

// follow reads every partition of the status topic from its oldest offset into the board until ctx ends
// or a partition fails. A record already in the topic when follow started counts from the time its
// replica wrote in it (its Updated); one arriving later from the time it arrived, so that clocks of other
// hosts matter only for what was there before.
func (b *statusBoard) follow(ctx context.Context) error {
	cfg := b.config()
	client, err := kafka.Within(ctx, statusRequestTimeout, b.p.brokers, "a metadata request",
		func() (sarama.Client, error) { return sarama.NewClient(b.p.brokers, cfg) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	partitions, err := kafka.Within(ctx, statusRequestTimeout, b.p.brokers, "a metadata request",
		func() ([]int32, error) { return client.Partitions(b.topic) }, nil)
	if err != nil {
		return err
	}
	failed := make(chan error, len(partitions))
	var wg sync.WaitGroup
	for _, part := range partitions {
		hwm, err := kafka.Within(ctx, statusRequestTimeout, b.p.brokers, "a list-offsets request",
			func() (int64, error) { return client.GetOffset(b.topic, part, sarama.OffsetNewest) }, nil)
		if err != nil {
			return err
		}
		pc, err := consumer.ConsumePartition(b.topic, part, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case msg, ok := <-pc.Messages():
					if !ok {
						return
					}
					b.apply(msg, msg.Offset < hwm)
				case cerr, ok := <-pc.Errors():
					if ok {
						failed <- cerr
						return
					}
				}
			}
		}()
	}
	defer wg.Wait()
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// apply records one status record: another replica's status, or its tombstone. backlog says the record
// was in the topic before the reader started.
func (b *statusBoard) apply(msg *sarama.ConsumerMessage, backlog bool) {
	id := string(msg.Key)
	if id == "" || id == b.p.replicaID {
		return // this replica's own status is taken fresh, not read back
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if msg.Value == nil {
		delete(b.entries, id)
		return
	}
	var st opsapi.ReplicaStatus
	if err := json.Unmarshal(msg.Value, &st); err != nil {
		b.p.log.Debug("replica status: ignored a record that is no replica status", "topic", b.topic,
			"partition", msg.Partition, "offset", msg.Offset, "err", err)
		return
	}
	seen := time.Now()
	if backlog && st.Updated.Before(seen) {
		seen = st.Updated
	}
	b.entries[id] = statusEntry{status: st, seen: seen}
}

// others returns the other replicas' status that is not older than expiry at now.
func (b *statusBoard) others(now time.Time, expiry time.Duration) []opsapi.ReplicaStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []opsapi.ReplicaStatus
	for _, e := range b.entries {
		if now.Sub(e.seen) < expiry {
			out = append(out, e.status)
		}
	}
	return out
}

// cluster returns the Kafka cluster id, "" until it is known.
func (b *statusBoard) cluster() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clusterID
}

// refreshOffsets reads, within statusRequestTimeout per request, the committed offsets of every flow and
// step group and the oldest and newest offsets of their input partitions, and the cluster id until it is
// known. What fails keeps its previous value.
func (b *statusBoard) refreshOffsets(ctx context.Context) {
	if err := b.connect(ctx); err != nil {
		if ctx.Err() == nil {
			b.warn("reading offsets for the status", err)
		}
		return
	}
	client := b.client
	b.mu.Lock()
	parts := b.parts
	prev := b.offsets
	known := b.clusterID != ""
	b.mu.Unlock()
	if !known {
		if id, err := b.describeCluster(ctx, client); err == nil {
			b.mu.Lock()
			b.clusterID = id
			b.mu.Unlock()
		}
	}
	type input struct {
		group, topic string
		partitions   int32
	}
	var inputs []input
	for _, s := range parts.snks {
		inputs = append(inputs, input{s.group, s.f.from.name, s.f.from.partitions})
	}
	for _, j := range parts.joins {
		sr, ok := j.(stepRunner)
		if !ok {
			continue
		}
		spec := sr.step()
		inputs = append(inputs, input{spec.group, spec.in.name, spec.in.partitions})
	}
	next := statusOffsets{committed: map[string]map[int32]int64{}}
	topics := map[string]int32{}
	for _, in := range inputs {
		topics[in.topic] = in.partitions
	}
	next.newest = b.listOffsets(ctx, client, topics, sarama.OffsetNewest, prev.newest)
	next.oldest = b.listOffsets(ctx, client, topics, sarama.OffsetOldest, prev.oldest)
	for _, in := range inputs {
		key := in.group + "\x00" + in.topic
		committed, err := b.committedOffsets(ctx, client, in.group, in.topic, in.partitions)
		if err != nil {
			if ctx.Err() == nil {
				b.warn("reading offsets for the status", err)
			}
			committed = prev.committed[key]
		}
		next.committed[key] = committed
	}
	b.mu.Lock()
	b.offsets = next
	b.mu.Unlock()
}

// listOffsets returns the offset at (sarama.OffsetNewest or OffsetOldest) of every partition of topics
// (name -> partition count), with one request per partition leader; a partition whose answer fails keeps
// its value in prev.
func (b *statusBoard) listOffsets(ctx context.Context, client sarama.Client, topics map[string]int32, at int64, prev map[string]map[int32]int64) map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	requests := map[*sarama.Broker]*sarama.OffsetRequest{}
	for topic, partitions := range topics {
		out[topic] = map[int32]int64{}
		for part := range partitions {
			if v, ok := prev[topic][part]; ok {
				out[topic][part] = v
			}
			leader, err := client.Leader(topic, part)
			if err != nil {
				b.warn("reading offsets for the status", fmt.Errorf("leader of topic %s partition %d: %w", topic, part, err))
				continue
			}
			if requests[leader] == nil {
				requests[leader] = &sarama.OffsetRequest{Version: 1}
			}
			requests[leader].AddBlock(topic, part, at, 1)
		}
	}
	for broker, req := range requests {
		resp, err := kafka.Within(ctx, statusRequestTimeout, b.p.brokers, "a list-offsets request",
			func() (*sarama.OffsetResponse, error) { return broker.GetAvailableOffsets(req) }, nil)
		if err != nil {
			if ctx.Err() == nil {
				b.warn("reading offsets for the status", err)
			}
			continue
		}
		for topic, partitions := range topics {
			for part := range partitions {
				if block := resp.GetBlock(topic, part); block != nil && block.Err == sarama.ErrNoError {
					out[topic][part] = block.Offset
				}
			}
		}
	}
	return out
}

// committedOffsets returns group's committed offset of each partition of topic (-1 for none).
func (b *statusBoard) committedOffsets(ctx context.Context, client sarama.Client, group, topic string, partitions int32) (map[int32]int64, error) {
	return kafka.Within(ctx, statusRequestTimeout, b.p.brokers, "an offset-fetch request", func() (map[int32]int64, error) {
		coordinator, err := client.Coordinator(group)
		if err != nil {
			return nil, err
		}
		req := &sarama.OffsetFetchRequest{Version: 1, ConsumerGroup: group}
		for part := range partitions {
			req.AddPartition(topic, part)
		}
		resp, err := coordinator.FetchOffset(req)
		if err != nil {
			return nil, err
		}
		out := map[int32]int64{}
		for part := range partitions {
			block := resp.GetBlock(topic, part)
			if block == nil {
				continue
			}
			if block.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("group %s topic %s partition %d: %w", group, topic, part, block.Err)
			}
			out[part] = block.Offset
		}
		return out, nil
	}, nil)
}

// describeCluster asks a broker for the cluster id.
func (b *statusBoard) describeCluster(ctx context.Context, client sarama.Client) (string, error) {
	return kafka.Within(ctx, statusRequestTimeout, b.p.brokers, "a metadata request", func() (string, error) {
		broker := client.LeastLoadedBroker()
		if broker == nil {
			return "", fmt.Errorf("no broker available")
		}
		resp, err := broker.GetMetadata(sarama.NewMetadataRequest(client.Config().Version, []string{b.topic}))
		if err != nil {
			return "", err
		}
		if resp.ClusterID == nil {
			return "", nil
		}
		return *resp.ClusterID, nil
	}, nil)
}
