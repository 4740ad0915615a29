package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/secret"
)

// Rewinds (issue 14, "Reprocess"): set a flow's consumer group back (or forward) to an offset, to the first
// record at or after a timestamp, or to the earliest or latest offsets of its topic, so that the flow
// processes the topic again from there once the pipeline resumes: to rebuild a sink from the raw topic days
// after something went wrong downstream. The Elasticsearch sink's external versions make the second pass
// idempotent: a document already at a record's version stays as it is.
//
// A rewind needs the pipeline stopped: every live replica STOPPED (PUT /pipelines/{name}/stop), or none
// running. It commits offsets for the flow's group as a client outside the group (the group is empty while
// the pipeline is stopped), on the flow's declared input topic. For a flow with stateful steps that is the
// first step's group; the steps after it read the engine's topics on from where they are. A join looks the
// replayed records up again; a keyed step does not apply an input record twice (it keeps the last offset it
// applied per partition) and emits each key's latest output again, as after DELETE /offsets.
//
// Timestamps are Kafka record timestamps (the producer's CreateTime, or the broker's LogAppendTime when the
// topic says so), looked up with ListOffsets by time as Kafka's own tools do: per partition, the earliest
// offset whose record timestamp is at or after the time; a partition without one goes to its end.

// RewindTarget says where Rewind sets the flow's group: exactly one of Offset, Timestamp (non-zero),
// Earliest and Latest.
type RewindTarget struct {
	// Offset sets this offset on every partition, clamped to the partition's earliest and end offsets.
	Offset *int64
	// Timestamp sets, per partition, the earliest offset whose record timestamp is at or after it (the end
	// of a partition that has no such record).
	Timestamp time.Time
	// Earliest sets the earliest offset still in the topic, Latest its end (skip everything there is).
	Earliest, Latest bool
	// DryRun reports the change without committing anything.
	DryRun bool
}

// describe names the target as the result and the errors do.
func (to RewindTarget) describe() string {
	switch {
	case to.Offset != nil:
		return fmt.Sprintf("offset %d", *to.Offset)
	case !to.Timestamp.IsZero():
		return "timestamp " + to.Timestamp.UTC().Format(time.RFC3339Nano)
	case to.Earliest:
		return "earliest"
	}
	return "latest"
}

// validate reports a target that does not name exactly one place.
func (to RewindTarget) validate() error {
	n := 0
	for _, set := range []bool{to.Offset != nil, !to.Timestamp.IsZero(), to.Earliest, to.Latest} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("rewind: name exactly one of an offset, a timestamp, earliest and latest (got %d)", n)
	}
	if to.Offset != nil && *to.Offset < 0 {
		return fmt.Errorf("rewind: offset %d is negative", *to.Offset)
	}
	return nil
}

// RewindResult is what a rewind changed, per partition (see opsapi.RewindResult).
type RewindResult = opsapi.RewindResult

// Rewind sets flow's consumer group of pipeline t to the target (see "Rewinds" in rewind.go) and returns, per
// partition of the flow's input topic, the committed offset before and the one set. The pipeline must be
// stopped: when it runs in this process (RunWith), this replica and every live one must be STOPPED; else
// the replicas' status on <pipeline>.status must show none running but STOPPED ones, and with no Brokers
// configured the embedded broker is started on cfg.DataDir for the rewind (it fails while a pipeline holds
// that directory). An error names the replica that runs, the flow, or the topic and partition that failed.
// Resume (or run) the pipeline afterwards: the flow reads on from the new offsets.
func Rewind(ctx context.Context, cfg Config, t *Topology, flow string, to RewindTarget) (RewindResult, error) {
	if err := to.validate(); err != nil {
		return RewindResult{}, err
	}
	if v, ok := runningRebuilders.Load(t); ok { // running in this process: its own control state
		p := v.(*rebuilder).p
		if err := p.stoppedEverywhere(); err != nil {
			return RewindResult{}, err
		}
		return p.rewind(ctx, flow, to)
	}
	res, err := rewindOffline(ctx, cfg, t, flow, to)
	return res, secret.Error(err)
}

// rewindOffline is Rewind for a pipeline that does not run in this process.
func rewindOffline(ctx context.Context, cfg Config, t *Topology, flow string, to RewindTarget) (RewindResult, error) {
	if err := t.Validate(); err != nil {
		return RewindResult{}, err
	}
	if err := resolveKafkaSecrets(&cfg.Kafka); err != nil {
		return RewindResult{}, err
	}
	if err := cfg.Validate(); err != nil {
		return RewindResult{}, err
	}
	p := &pipelineRun{t: t, cfg: cfg, log: cfg.Logger, brokers: cfg.Brokers, replicaID: "rewind-" + replicaID(), ctl: newControlState()}
	if p.log == nil {
		p.log = slog.New(secret.NewHandler(slog.NewTextHandler(os.Stderr, nil)))
	}
	p.log = p.log.With("pipeline", t.name)
	p.settings = kafka.Settings{SessionTimeout: cfg.SessionTimeout, RetryTimeout: cfg.RetryTimeout}
	sec := kafka.Security(cfg.Kafka)
	if cfg.Embedded() {
		b, err := broker.Start(broker.Config{Addr: cfg.BrokerAddr, DataDir: cfg.DataDir, Logger: p.log, Security: sec})
		if err != nil {
			return RewindResult{}, fmt.Errorf("rewind flow %q: %w", flow, err)
		}
		defer b.Close()
		p.brokers = b.Addrs()
		sec = b.ClientSecurity(sec)
	}
	var err error
	if p.settings.Auth, err = kafka.NewAuth(sec); err != nil {
		return RewindResult{}, err
	}
	if err := kafka.CheckAuth(ctx, p.brokers, p.settings.Auth, cfg.StartupTimeout); err != nil {
		return RewindResult{}, err
	}
	p.status = newStatusBoard(p)
	if err := p.readStatusBacklog(ctx); err != nil {
		return RewindResult{}, fmt.Errorf("rewind flow %q: reading the replicas' status (topic %s): %w", flow, p.status.topic, err)
	}
	for _, rs := range p.status.others(time.Now(), p.statusExpiry()) {
		if rs.State != opsapi.StateStopped {
			return RewindResult{}, fmt.Errorf("rewind flow %q: pipeline %s is %s on replica %s: stop it first (PUT /pipelines/%s/stop, or end it)", flow, t.name, rs.State, rs.ID, t.name)
		}
	}
	return p.rewind(ctx, flow, to)
}

// readStatusBacklog reads the status topic from its oldest to its end offsets into p.status (a topic that
// does not exist: no replica ever ran).
func (p *pipelineRun) readStatusBacklog(ctx context.Context) error {
	client, err := p.offsetsClient(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	topic := p.status.topic
	_, err = kafka.Within(ctx, offsetsTimeout, p.brokers, "the records of topic "+topic, func() (struct{}, error) {
		if err := client.RefreshMetadata(); err != nil {
			return struct{}{}, err
		}
		topics, err := client.Topics()
		if err != nil {
			return struct{}{}, err
		}
		if !slices.Contains(topics, topic) { // asking for its partitions would retry for the metadata deadline
			return struct{}{}, nil
		}
		partitions, err := client.Partitions(topic)
		if err != nil {
			return struct{}{}, err
		}
		oldest, err := topicOffsets(client, topic, partitions, sarama.OffsetOldest)
		if err != nil {
			return struct{}{}, err
		}
		ends, err := topicOffsets(client, topic, partitions, sarama.OffsetNewest)
		if err != nil {
			return struct{}{}, err
		}
		consumer, err := sarama.NewConsumerFromClient(client)
		if err != nil {
			return struct{}{}, err
		}
		defer consumer.Close()
		for _, part := range partitions {
			if oldest[part] >= ends[part] {
				continue
			}
			pc, err := consumer.ConsumePartition(topic, part, oldest[part])
			if err != nil {
				return struct{}{}, fmt.Errorf("partition %d: %w", part, err)
			}
			err = readUntil(ctx, pc, ends[part], func(msg *sarama.ConsumerMessage) { p.status.apply(msg, true) })
			pc.AsyncClose()
			if err != nil {
				return struct{}{}, fmt.Errorf("partition %d: %w", part, err)
			}
		}
		return struct{}{}, nil
	}, nil)
	return err
}

// statusTailIdle is how long readUntil waits for a record below the end offset before it takes the rest of
// the partition as compacted away.
const statusTailIdle = 2 * time.Second

// readUntil hands pc's records to apply until it passed end (or the records left below end were compacted
// away: nothing came for statusTailIdle), or ctx ends.
func readUntil(ctx context.Context, pc sarama.PartitionConsumer, end int64, apply func(*sarama.ConsumerMessage)) error {
	idle := time.NewTimer(statusTailIdle)
	defer idle.Stop()
	for {
		select {
		case msg, ok := <-pc.Messages():
			if !ok {
				return nil
			}
			apply(msg)
			if msg.Offset >= end-1 {
				return nil
			}
			idle.Reset(statusTailIdle)
		case err := <-pc.Errors():
			if err != nil {
				return err.Err
			}
		case <-idle.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// topicOffsets lists every partition's offset at `at`: sarama.OffsetOldest, sarama.OffsetNewest (the end),
// or a time in Unix milliseconds (the earliest offset whose record timestamp is at or after it, -1 when
// there is none). One request per partition, each to its leader; the caller bounds the time.
func topicOffsets(client sarama.Client, topic string, partitions []int32, at int64) (map[int32]int64, error) {
	out := make(map[int32]int64, len(partitions))
	for _, part := range partitions {
		off, err := client.GetOffset(topic, part, at)
		if err != nil {
			return nil, fmt.Errorf("topic %s partition %d: list offsets: %w", topic, part, inOwnWords(err))
		}
		out[part] = off
	}
	return out, nil
}

// stoppedEverywhere is nil when this replica and every live replica are STOPPED, else says which runs.
func (p *pipelineRun) stoppedEverywhere() error {
	if s := p.ctl.state(); s != opsapi.StateStopped {
		return fmt.Errorf("pipeline %s is %s on replica %s: stop it first (PUT /pipelines/%s/stop)", p.t.name, s, p.replicaID, p.t.name)
	}
	for _, rs := range p.liveReplicas() {
		if rs.State != opsapi.StateStopped {
			return fmt.Errorf("pipeline %s is %s on replica %s: stop it first (PUT /pipelines/%s/stop)", p.t.name, rs.State, rs.ID, p.t.name)
		}
	}
	return nil
}

// rewindRefused is a rewind that cannot be done as asked (no such flow): 404 on the API.
type rewindRefused struct{ text string }

func (e *rewindRefused) Error() string { return e.text }

// rewind computes the new offsets of flow's first group and, unless to.DryRun, commits them.
func (p *pipelineRun) rewind(ctx context.Context, flow string, to RewindTarget) (RewindResult, error) {
	i := slices.IndexFunc(p.t.flows, func(f *Flow) bool { return f.name == flow })
	if i < 0 {
		names := make([]string, 0, len(p.t.flows))
		for _, f := range p.t.flows {
			names = append(names, f.name)
		}
		return RewindResult{}, &rewindRefused{text: fmt.Sprintf("rewind: pipeline %s has no flow %q (its flows: %q)", p.t.name, flow, names)}
	}
	topic := p.t.flows[i].from.name
	group := ""
	for _, g := range p.offsetGroups() { // the group that reads the declared topic: the flow's, or its first step's
		if g.flow == flow && len(g.topics) > 0 && g.topics[0] == topic {
			group = g.group
			break
		}
	}
	res := RewindResult{Pipeline: p.t.name, Flow: flow, Group: group, Topic: topic, Target: to.describe(), DryRun: to.DryRun,
		Partitions: []opsapi.RewindPartition{}}
	ctx, cancel := context.WithTimeout(ctx, offsetsTimeout)
	defer cancel()
	client, err := p.offsetsClient(ctx)
	if err != nil {
		return res, fmt.Errorf("rewind flow %q: %w", flow, err)
	}
	defer client.Close()
	parts, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "the offsets of topic "+topic, func() ([]opsapi.RewindPartition, error) {
		partitions, err := client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("partitions of topic %s: %w", topic, inOwnWords(err))
		}
		slices.Sort(partitions)
		admin, err := sarama.NewClusterAdminFromClient(client)
		if err != nil {
			return nil, err
		}
		committed, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: partitions})
		if errors.Is(err, sarama.ErrGroupIDNotFound) {
			committed, err = &sarama.OffsetFetchResponse{}, nil // never committed
		}
		if err != nil {
			return nil, fmt.Errorf("committed offsets of group %s: %w", group, inOwnWords(err))
		}
		oldest, err := topicOffsets(client, topic, partitions, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		ends, err := topicOffsets(client, topic, partitions, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		var byTime map[int32]int64
		if !to.Timestamp.IsZero() {
			if byTime, err = topicOffsets(client, topic, partitions, to.Timestamp.UnixMilli()); err != nil {
				return nil, err
			}
		}
		var out []opsapi.RewindPartition
		for _, part := range partitions {
			rp := opsapi.RewindPartition{Partition: part, End: ends[part]}
			if b := committed.GetBlock(topic, part); b != nil && b.Err == sarama.ErrNoError && b.Offset >= 0 {
				old := b.Offset
				rp.Old = &old
			}
			switch {
			case to.Offset != nil:
				rp.New = min(max(*to.Offset, oldest[part]), ends[part])
			case byTime != nil:
				rp.New = byTime[part]
				if rp.New < 0 || rp.New > ends[part] { // no record at or after the time
					rp.New = ends[part]
				}
				rp.New = max(rp.New, oldest[part])
			case to.Earliest:
				rp.New = oldest[part]
			default:
				rp.New = ends[part]
			}
			out = append(out, rp)
		}
		return out, nil
	}, nil)
	if err != nil {
		return res, fmt.Errorf("rewind flow %q: %w", flow, err)
	}
	res.Partitions = parts
	for _, rp := range parts {
		res.Records += rp.End - rp.New
	}
	if to.DryRun {
		return res, nil
	}
	for _, rp := range parts {
		if _, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "an offset commit", func() (struct{}, error) {
			return struct{}{}, commitOffset(client, group, topic, rp.Partition, rp.New)
		}, nil); err != nil {
			return res, fmt.Errorf("rewind flow %q (offsets before partition %d are set already; run the rewind again): %w", flow, rp.Partition, err)
		}
	}
	p.log.Info("flow rewound by the operator", "flow", flow, "group", group, "topic", topic, "target", res.Target,
		"partitions", len(parts), "records_to_process", res.Records)
	return res, nil
}

// rewindRoutes registers POST /pipelines/{name}/flows/{flow}/rewind.
func (p *pipelineRun) rewindRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /pipelines/{name}/flows/{flow}/rewind", p.serveRewind)
}

// parseRewind reads a rewind request body into a target; the error names the bad field.
func parseRewind(body []byte) (RewindTarget, error) {
	var req opsapi.RewindRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return RewindTarget{}, fmt.Errorf("body: field %s: a JSON %s where %s belongs", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
		case errors.Is(err, io.EOF):
			return RewindTarget{}, errors.New(`body: empty; want {"to_timestamp": RFC 3339} or {"to_offset": N} or {"to": "earliest"|"latest"}`)
		}
		return RewindTarget{}, fmt.Errorf("body: %v", err)
	}
	to := RewindTarget{Offset: req.ToOffset, DryRun: req.DryRun}
	n := 0
	if req.ToOffset != nil {
		n++
		if *req.ToOffset < 0 {
			return to, fmt.Errorf("field to_offset: %d is negative; want the next offset to process, >= 0", *req.ToOffset)
		}
	}
	if req.ToTimestamp != "" {
		n++
		ts, err := time.Parse(time.RFC3339Nano, req.ToTimestamp)
		if err != nil {
			return to, fmt.Errorf("field to_timestamp: %q is not an RFC 3339 time (like 2026-11-27T00:00:00Z)", req.ToTimestamp)
		}
		to.Timestamp = ts
	}
	switch req.To {
	case "":
	case "earliest":
		n++
		to.Earliest = true
	case "latest":
		n++
		to.Latest = true
	default:
		return to, fmt.Errorf(`field to: %q is neither "earliest" nor "latest"`, req.To)
	}
	if n != 1 {
		return to, fmt.Errorf("body: give exactly one of the fields to_timestamp, to_offset and to (got %d)", n)
	}
	return to, nil
}

// serveRewind is POST /pipelines/{name}/flows/{flow}/rewind with an opsapi.RewindRequest: 200 with the
// opsapi.RewindResult; 409 unless every replica is STOPPED, 400 naming a bad field, 404 for no such flow.
func (p *pipelineRun) serveRewind(w http.ResponseWriter, r *http.Request) {
	if !p.controlReady(w, r) || !p.requireStopped(w) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeOpsError(w, http.StatusBadRequest, "rewind: reading the request: %v", err)
		return
	}
	to, err := parseRewind(body)
	if err != nil {
		writeOpsError(w, http.StatusBadRequest, "rewind flow %q: %v", r.PathValue("flow"), err)
		return
	}
	res, err := p.rewind(r.Context(), r.PathValue("flow"), to)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.As(err, new(*rewindRefused)) {
			status = http.StatusNotFound
		}
		writeOpsError(w, status, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
