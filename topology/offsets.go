package topology

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
)

// Offsets, as Kafka Connect's KIP-875: GET /pipelines/{name}/offsets in any state; PATCH (set some) and
// DELETE (reset all) only while every replica is STOPPED.
//
// A source task's offset is its saved position (TaskState.Position in the source group's table). PATCH
// writes a new TaskState for the task key to the table topic (the value goka's processor would write; its
// owner empty), and a null offset writes a tombstone: the task then starts at its source's initial
// position. Source processors keep their table in memory and a resumed pipeline builds new ones, which
// recover the table from the topic and so see the new value.
//
// A flow partition's offset is the committed offset (the next to process) of a flow's group, or of one of
// its stateful steps' groups, on one of its input topics (a step's loop topic is the engine's and not
// listed). PATCH commits the given offset for the group, which is empty because the pipeline is stopped; a
// null offset deletes the commit, and the group then starts at the flow's initial offset.

// offsetsTimeout bounds an offsets call's requests to Kafka.
const offsetsTimeout = 30 * time.Second

// offsetGroup is a consumer group whose committed offsets the offsets API shows, with its input topics.
type offsetGroup struct {
	group  string
	flow   string
	topics []string
}

// offsetGroups lists the flow and stateful-step groups of the pipeline with their input topics.
func (p *pipelineRun) offsetGroups() []offsetGroup {
	joins, flows := p.t.compileFlows()
	var out []offsetGroup
	for _, f := range flows {
		out = append(out, offsetGroup{group: flowGroup(p.t.name, f.name), flow: f.name, topics: []string{f.from.name}})
	}
	for _, j := range joins {
		g := offsetGroup{group: j.group, flow: j.flowName, topics: []string{j.in.name}}
		if j.join != nil {
			g.topics = append(g.topics, j.table.from.name)
		}
		out = append(out, g)
	}
	return out
}

// committedOffsets reads every offset group's committed offsets, per topic and partition (-1: none).
func (p *pipelineRun) committedOffsets(client sarama.Client) (map[string]map[string]map[int32]int64, error) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]map[int32]int64{}
	for _, g := range p.offsetGroups() {
		parts := map[string][]int32{}
		for _, tp := range g.topics {
			ps, err := client.Partitions(tp)
			if err != nil {
				return nil, fmt.Errorf("partitions of topic %s: %w", tp, err)
			}
			parts[tp] = ps
		}
		resp, err := admin.ListConsumerGroupOffsets(g.group, parts)
		if err != nil {
			return nil, fmt.Errorf("committed offsets of group %s: %w", g.group, err)
		}
		out[g.group] = map[string]map[int32]int64{}
		for tp, ps := range parts {
			out[g.group][tp] = map[int32]int64{}
			for _, part := range ps {
				off := int64(-1)
				if b := resp.GetBlock(tp, part); b != nil && b.Err == sarama.ErrNoError {
					off = b.Offset
				}
				out[g.group][tp][part] = off
			}
		}
	}
	return out, nil
}

// offsetsClient connects to Kafka within the offsets deadline.
func (p *pipelineRun) offsetsClient(ctx context.Context) (sarama.Client, error) {
	cfg := kafka.StartupConfig(p.saramaConfig("sluice-offsets"), offsetsTimeout)
	return kafka.Within(ctx, offsetsTimeout, p.brokers, "a metadata request",
		func() (sarama.Client, error) { return sarama.NewClient(p.brokers, cfg) },
		func(c sarama.Client) { _ = c.Close() })
}

// readOffsets returns every source task's saved position and every group partition's committed offset.
func (p *pipelineRun) readOffsets(ctx context.Context) (opsapi.Offsets, error) {
	ctx, cancel := context.WithTimeout(ctx, offsetsTimeout)
	defer cancel()
	out := opsapi.Offsets{Offsets: []opsapi.Offset{}}
	for _, s := range p.t.sources {
		positions, err := readPositions(ctx, p.brokers, p.settings.Auth, goka.Table(tableTopic(sourceGroup(p.t.name, s.name))))
		if err != nil {
			return out, fmt.Errorf("positions of source %q (table %s): %w", s.name, tableTopic(sourceGroup(p.t.name, s.name)), err)
		}
		keys := make([]string, 0, len(positions))
		for k := range positions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			pos := json.RawMessage("null")
			if st := positions[k]; len(st.Position) > 0 {
				pos = json.RawMessage(st.Position)
			}
			out.Offsets = append(out.Offsets, opsapi.Offset{
				Partition: opsapi.OffsetPartition{Kind: "source", Source: s.name, Task: k}, Offset: pos})
		}
	}
	client, err := p.offsetsClient(ctx)
	if err != nil {
		return out, err
	}
	defer client.Close()
	committed, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "the committed offsets of the pipeline's groups",
		func() (map[string]map[string]map[int32]int64, error) { return p.committedOffsets(client) }, nil)
	if err != nil {
		return out, err
	}
	for _, g := range p.offsetGroups() {
		for _, tp := range g.topics {
			parts := make([]int32, 0, len(committed[g.group][tp]))
			for part := range committed[g.group][tp] {
				parts = append(parts, part)
			}
			slices.Sort(parts)
			for _, part := range parts {
				off := json.RawMessage("null")
				if o := committed[g.group][tp][part]; o >= 0 {
					off = json.RawMessage(fmt.Sprintf(`{"offset":%d}`, o))
				}
				out.Offsets = append(out.Offsets, opsapi.Offset{
					Partition: opsapi.OffsetPartition{Kind: "flow", Group: g.group, Topic: tp, Partition: &part}, Offset: off})
			}
		}
	}
	return out, nil
}

// serveOffsets is GET /pipelines/{name}/offsets.
func (p *pipelineRun) serveOffsets(w http.ResponseWriter, r *http.Request) {
	if !p.controlReady(w, r) {
		return
	}
	offsets, err := p.readOffsets(r.Context())
	if err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "offsets of pipeline %s: %v", p.t.name, err)
		return
	}
	writeJSON(w, http.StatusOK, offsets)
}

// requireStopped answers 409 unless this replica and every live replica are STOPPED.
func (p *pipelineRun) requireStopped(w http.ResponseWriter) bool {
	if err := p.stoppedEverywhere(); err != nil { // rewind.go
		writeOpsError(w, http.StatusConflict, "%v", err)
		return false
	}
	return true
}

// offsetChange is one validated change of a PATCH: a source task's position (tombstone when position is
// nil) or a group partition's offset (deleted when offset is nil).
type offsetChange struct {
	source, task string
	position     json.RawMessage
	group, topic string
	partition    int32
	offset       *int64
}

// badOffsets is a PATCH body that cannot be applied; its text names the field.
type badOffsets struct{ text string }

func (e *badOffsets) Error() string { return e.text }

func badField(format string, args ...any) error {
	return &badOffsets{text: fmt.Sprintf(format, args...)}
}

// parseOffsets validates a PATCH body against the declaration and the topics' partitions.
func (p *pipelineRun) parseOffsets(body []byte, partitions func(topic string) ([]int32, error)) ([]offsetChange, error) {
	var req opsapi.Offsets
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return nil, badField("body: field %s: a JSON %s where %s belongs", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
		case errors.As(err, &se):
			return nil, badField("body: not JSON at byte %d: %v", se.Offset, err)
		case errors.Is(err, io.EOF):
			return nil, badField(`body: empty; want {"offsets":[...]}`)
		}
		return nil, badField("body: %v", err)
	}
	if req.Offsets == nil {
		return nil, badField(`body: field offsets: missing; want {"offsets":[{"partition":{...},"offset":...}]}`)
	}
	groups := map[string]offsetGroup{}
	for _, g := range p.offsetGroups() {
		groups[g.group] = g
	}
	var out []offsetChange
	for i, o := range req.Offsets {
		at := fmt.Sprintf("offsets[%d]", i)
		pt := o.Partition
		null := len(bytes.TrimSpace(o.Offset)) == 0 || string(bytes.TrimSpace(o.Offset)) == "null"
		switch pt.Kind {
		case "source":
			if !slices.ContainsFunc(p.t.sources, func(s *SourceNode) bool { return s.name == pt.Source }) {
				return nil, badField("%s.partition.source: pipeline %s has no source %q", at, p.t.name, pt.Source)
			}
			if pt.Task == "" {
				return nil, badField("%s.partition.task: missing: name the source task (its key)", at)
			}
			if tasks, ok := p.ctl.taskKeys(pt.Source); ok && !slices.Contains(tasks, pt.Task) {
				return nil, badField("%s.partition.task: source %q has no task %q (its tasks: %q)", at, pt.Source, pt.Task, tasks)
			}
			c := offsetChange{source: pt.Source, task: pt.Task}
			if !null {
				c.position = json.RawMessage(bytes.TrimSpace(o.Offset))
			}
			out = append(out, c)
		case "flow":
			g, ok := groups[pt.Group]
			if !ok {
				return nil, badField("%s.partition.group: pipeline %s has no flow or stateful-step group %q", at, p.t.name, pt.Group)
			}
			if !slices.Contains(g.topics, pt.Topic) {
				return nil, badField("%s.partition.topic: group %s reads topic(s) %q, not %q", at, pt.Group, g.topics, pt.Topic)
			}
			if pt.Partition == nil {
				return nil, badField("%s.partition.partition: missing", at)
			}
			parts, err := partitions(pt.Topic)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(parts, *pt.Partition) {
				return nil, badField("%s.partition.partition: topic %s has no partition %d (it has %d)", at, pt.Topic, *pt.Partition, len(parts))
			}
			c := offsetChange{group: pt.Group, topic: pt.Topic, partition: *pt.Partition}
			if !null {
				var v struct {
					Offset *int64 `json:"offset"`
				}
				d := json.NewDecoder(bytes.NewReader(o.Offset))
				d.DisallowUnknownFields()
				if err := d.Decode(&v); err != nil || v.Offset == nil || *v.Offset < 0 {
					return nil, badField(`%s.offset: want {"offset":N} with N >= 0 (the next offset to process) or null, not %s`, at, o.Offset)
				}
				c.offset = v.Offset
			}
			out = append(out, c)
		default:
			return nil, badField(`%s.partition.kind: %q is neither "source" nor "flow"`, at, pt.Kind)
		}
	}
	return out, nil
}

// jsonKind names a Go kind as JSON calls it, for error messages.
func jsonKind(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return "a number"
}

// applyOffsets writes the changes: positions to the source tables (acknowledged by Kafka), offsets
// committed or deleted for the groups.
func (p *pipelineRun) applyOffsets(ctx context.Context, client sarama.Client, changes []offsetChange) error {
	for _, c := range changes {
		if c.source == "" {
			continue
		}
		table := tableTopic(sourceGroup(p.t.name, c.source))
		var value []byte
		if c.position != nil {
			v, err := jsonCodec[TaskState]{}.Encode(&TaskState{Position: []byte(c.position), Updated: time.Now().UTC()})
			if err != nil {
				return err
			}
			value = v
		}
		acked := make(chan error, 1)
		if err := p.controlProducer.Send(ctx, kafka.Message{Topic: table, Key: []byte(c.task), Value: value},
			func(_ int32, _ int64, err error) { acked <- err }); err != nil {
			return fmt.Errorf("source %q task %q: write to table %s: %w", c.source, c.task, table, err)
		}
		select {
		case err := <-acked:
			if err != nil {
				return fmt.Errorf("source %q task %q: write to table %s: %w", c.source, c.task, table, inOwnWords(err))
			}
		case <-ctx.Done():
			return fmt.Errorf("source %q task %q: write to table %s: not acknowledged: %w", c.source, c.task, table, ctx.Err())
		}
	}
	var admin sarama.ClusterAdmin
	for _, c := range changes {
		if c.group == "" {
			continue
		}
		if c.offset == nil {
			if admin == nil {
				var err error
				if admin, err = sarama.NewClusterAdminFromClient(client); err != nil {
					return err
				}
			}
			err := admin.DeleteConsumerGroupOffset(c.group, c.topic, c.partition)
			if err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				return fmt.Errorf("group %s topic %s partition %d: delete the committed offset: %w", c.group, c.topic, c.partition, inOwnWords(err))
			}
			continue
		}
		if err := commitOffset(client, c.group, c.topic, c.partition, *c.offset); err != nil {
			return err
		}
	}
	return nil
}

// commitOffset commits offset for an empty group's partition (as a consumer outside the group would).
func commitOffset(client sarama.Client, group, topic string, partition int32, offset int64) error {
	coordinator, err := client.Coordinator(group)
	if err != nil {
		return fmt.Errorf("group %s: find its coordinator: %w", group, err)
	}
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: group, ConsumerGroupGeneration: -1, RetentionTime: -1}
	req.AddBlock(topic, partition, offset, 0, "")
	resp, err := coordinator.CommitOffset(req)
	if err == nil {
		if kerr := resp.Errors[topic][partition]; kerr != sarama.ErrNoError {
			err = kerr
		}
	}
	if err != nil {
		return fmt.Errorf("group %s topic %s partition %d: commit offset %d: %w", group, topic, partition, offset, inOwnWords(err))
	}
	return nil
}

// servePatchOffsets is PATCH /pipelines/{name}/offsets.
func (p *pipelineRun) servePatchOffsets(w http.ResponseWriter, r *http.Request) {
	if !p.controlReady(w, r) || !p.requireStopped(w) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeOpsError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), offsetsTimeout)
	defer cancel()
	client, err := p.offsetsClient(ctx)
	if err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "offsets of pipeline %s: %v", p.t.name, err)
		return
	}
	defer client.Close()
	changes, err := p.parseOffsets(body, client.Partitions)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.As(err, new(*badOffsets)) {
			code = http.StatusBadRequest
		}
		writeOpsError(w, code, "offsets of pipeline %s: %v", p.t.name, err)
		return
	}
	if _, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "the offset changes", func() (struct{}, error) {
		return struct{}{}, p.applyOffsets(ctx, client, changes)
	}, nil); err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "offsets of pipeline %s: %v", p.t.name, err)
		return
	}
	p.log.Info("offsets changed by the operator", "changes", len(changes))
	writeJSON(w, http.StatusOK, opsapi.Message{Message: fmt.Sprintf("%d offset(s) of pipeline %s changed; resume it to continue from them", len(changes), p.t.name)})
}

// serveResetOffsets is DELETE /pipelines/{name}/offsets: every source task's position and every group's
// committed offset listed by GET is deleted.
func (p *pipelineRun) serveResetOffsets(w http.ResponseWriter, r *http.Request) {
	if !p.controlReady(w, r) || !p.requireStopped(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), offsetsTimeout)
	defer cancel()
	current, err := p.readOffsets(ctx)
	if err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "offsets of pipeline %s: %v", p.t.name, err)
		return
	}
	var changes []offsetChange
	for _, o := range current.Offsets {
		pt := o.Partition
		if pt.Kind == "source" {
			changes = append(changes, offsetChange{source: pt.Source, task: pt.Task})
		} else if string(o.Offset) != "null" {
			changes = append(changes, offsetChange{group: pt.Group, topic: pt.Topic, partition: *pt.Partition})
		}
	}
	client, err := p.offsetsClient(ctx)
	if err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "offsets of pipeline %s: %v", p.t.name, err)
		return
	}
	defer client.Close()
	if _, err := kafka.Within(ctx, offsetsTimeout, p.brokers, "the offset resets", func() (struct{}, error) {
		return struct{}{}, p.applyOffsets(ctx, client, changes)
	}, nil); err != nil {
		writeOpsError(w, http.StatusServiceUnavailable, "offsets of pipeline %s: %v", p.t.name, err)
		return
	}
	p.log.Info("offsets reset by the operator", "changes", len(changes))
	writeJSON(w, http.StatusOK, opsapi.Message{Message: fmt.Sprintf("%d offset(s) of pipeline %s reset; resume it to start over", len(changes), p.t.name)})
}
