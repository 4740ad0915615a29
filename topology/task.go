package topology

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// drainTimeout bounds how long a stopping task waits for Kafka to acknowledge what it already sent.
const drainTimeout = 30 * time.Second

// runTask claims a task, reads it from its stored position, runs the ETL stages, produces, and keeps the
// stored position at the HighestContiguousAck until ctx ends or the input ends.
func (r *sourceRunner) runTask(ctx context.Context, h *taskHandle) error {
	start, err := r.claim(ctx, h)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	log := r.p.log.With("source", r.n.name, "task", h.task.Key, "owner", h.owner)
	log.Info("source task started", "position", string(start))
	reader, err := r.n.src.Open(ctx, h.task, start)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("source %q task %q: open at position %s: %w", r.n.name, h.task.Key, start, err)
	}

	tr := newAckTracker(start)
	tr.health, tr.holder = r.health, h.task.Key
	tr.healthWhat = fmt.Sprintf("Kafka to acknowledge records read by task %s", h.task.Key)
	defer r.health.done(h.task.Key)
	saveCtx, stopSaving := context.WithCancel(context.Background())
	saveErr := make(chan error, 1)
	go func() { saveErr <- r.savePositions(saveCtx, h, tr, start) }()

	readErr := r.pump(ctx, reader, tr)
	if err := reader.Close(); err != nil && readErr == nil {
		readErr = fmt.Errorf("source %q task %q: close: %w", r.n.name, h.task.Key, err)
	}

	// Let what was sent be acknowledged, so the final position covers it.
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
drain:
	for {
		_, outstanding, _, produceErr := tr.state()
		if outstanding == 0 || produceErr != nil {
			break
		}
		select {
		case <-tr.idle:
		case <-deadline.C:
			log.Warn("records still unacknowledged when the task stopped; they will be read again", "outstanding", outstanding)
			break drain
		}
	}
	stopSaving()
	if err := <-saveErr; err != nil && readErr == nil {
		readErr = err
	}
	final, _, acked, produceErr := tr.state()
	if produceErr != nil && readErr == nil {
		readErr = fmt.Errorf("source %q task %q: %w", r.n.name, h.task.Key, produceErr)
	}
	if err := r.release(h, final, h.clean.Load() || errors.Is(readErr, sources.ErrEndOfInput)); err != nil && readErr == nil {
		readErr = err
	}
	log.Info("source task stopped", "position", string(final), "records_acked", acked)
	return readErr
}

// pump moves records from reader to Kafka until ctx ends, the input ends or something fails.
func (r *sourceRunner) pump(ctx context.Context, reader sources.Reader, tr *ackTracker) error {
	for {
		batch, err := reader.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, sources.ErrEndOfInput) {
				return sources.ErrEndOfInput
			}
			return fmt.Errorf("source %q: read: %w", r.n.name, err)
		}
		r.recordsRead.Add(float64(len(batch)))
		r.read.Add(int64(len(batch)))
		for _, rec := range batch {
			msgs, err := r.messages(ctx, rec)
			if err != nil {
				return fmt.Errorf("source %q: %w", r.n.name, err)
			}
			seq := tr.add(rec.Position, len(msgs))
			for _, msg := range msgs {
				// Sends are not cancelled by ctx: a batch that was read is handed to Kafka whole, so that the
				// final position can cover it.
				err = r.p.producerFor(msg.Topic).Send(context.Background(), msg, func(_ int32, _ int64, err error) {
					tr.done(seq, err)
					if err == nil {
						r.recordsAcked.Inc()
						r.acked.Add(1)
					}
				})
				if err != nil {
					tr.truncate(seq)
					return err
				}
			}
		}
		if _, _, _, err := tr.state(); err != nil {
			return fmt.Errorf("source %q: %w", r.n.name, err)
		}
	}
}

// messages runs the ETL stages on a source record and encodes the results. When a stage or an encoding
// fails and the source has a dead-letter topic, the message is the source record for that topic instead,
// with the reason in headers; otherwise the failure is returned.
func (r *sourceRunner) messages(ctx context.Context, rec stream.Record) ([]kafka.Message, error) {
	out, err := r.stages.run(ctx, rec)
	var msgs []kafka.Message
	stage := ""
	if err != nil {
		stage = stageOf(err)
	} else {
		for _, o := range out {
			msg, encErr := r.encode(o)
			if encErr != nil {
				err, stage = encErr, "encode"
				break
			}
			msgs = append(msgs, msg)
		}
	}
	if err == nil {
		return msgs, nil
	}
	if r.n.deadLetter == nil {
		return nil, err
	}
	dl, encErr := r.p.encode(rec, r.n.deadLetter.name)
	if encErr != nil {
		return nil, fmt.Errorf("%w (and the record cannot go to the dead-letter topic: %v)", err, encErr)
	}
	for _, h := range [][2]string{{HeaderErrorReason, err.Error()}, {HeaderErrorStage, stage},
		{HeaderErrorSource, r.n.name}, {HeaderErrorPosition, string(rec.Position)}} {
		dl.Headers = append(dl.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
	}
	r.p.metrics.DeadLetters.WithLabelValues(r.p.t.name, r.n.name, stage).Inc()
	r.p.log.Warn("record sent to the dead-letter topic", "source", r.n.name, "stage", stage,
		"position", string(rec.Position), "dead_letter_topic", r.n.deadLetter.name, "reason", err)
	return []kafka.Message{dl}, nil
}

// encode turns a record into a Kafka message with its topic's codecs; records without a topic go to the
// source's topic.
func (r *sourceRunner) encode(rec stream.Record) (kafka.Message, error) {
	name := rec.Topic
	if name == "" {
		name = r.n.to.name
	}
	return r.p.encode(rec, name)
}

// encode turns a record into a Kafka message for the declared topic name, with that topic's codecs.
func (p *pipelineRun) encode(rec stream.Record, name string) (kafka.Message, error) {
	tp := p.topics[name]
	if tp == nil {
		return kafka.Message{}, fmt.Errorf("record for topic %q, which the topology does not declare", name)
	}
	key, err := tp.keyCodec.Encode(rec.KeySchema, rec.Key)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("topic %q: encode key with %s: %w", name, tp.keyCodec.Name(), err)
	}
	value, err := tp.valueCodec.Encode(rec.ValueSchema, rec.Value)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("topic %q: encode value with %s: %w", name, tp.valueCodec.Name(), err)
	}
	m := kafka.Message{Topic: name, Key: key, Value: value, Timestamp: rec.Timestamp}
	for _, h := range rec.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m, nil
}

// stageChain is a sequence of stateless stages run fused, one record at a time, with each stage's
// counters resolved once.
type stageChain []chainedStage

type chainedStage struct {
	stage   stages.Stage
	in, out prometheus.Counter
}

func (p *pipelineRun) newStageChain(st []stages.Stage) stageChain {
	chain := make(stageChain, len(st))
	for i, s := range st {
		chain[i] = chainedStage{
			stage: s,
			in:    p.metrics.StageRecordsIn.WithLabelValues(p.t.name, s.Name()),
			out:   p.metrics.StageRecordsOut.WithLabelValues(p.t.name, s.Name()),
		}
	}
	return chain
}

// run passes one record through the chain. One-to-one stages run without allocating until a stage turns
// a record into several.
func (c stageChain) run(ctx context.Context, rec stream.Record) ([]stream.Record, error) {
	i := 0
	for ; i < len(c); i++ {
		one, ok := c[i].stage.(stages.OneToOne)
		if !ok {
			break
		}
		c[i].in.Inc()
		out, keep, err := one.ProcessOne(ctx, rec)
		if err != nil {
			return nil, &stageError{stage: c[i].stage.Name(), err: err}
		}
		if !keep {
			return nil, nil
		}
		c[i].out.Inc()
		rec = out
	}
	recs := []stream.Record{rec}
	for _, cs := range c[i:] {
		var next []stream.Record
		for _, in := range recs {
			out, err := cs.stage.Process(ctx, in)
			if err != nil {
				return nil, &stageError{stage: cs.stage.Name(), err: err}
			}
			next = append(next, out...)
		}
		cs.in.Add(float64(len(recs)))
		cs.out.Add(float64(len(next)))
		recs = next
		if len(recs) == 0 {
			break
		}
	}
	return recs, nil
}
