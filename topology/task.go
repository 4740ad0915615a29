package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// drainTimeout bounds how long a stopping task waits for Kafka to acknowledge what it already sent.
const drainTimeout = 30 * time.Second

// runTask claims a task, reads it from its stored position, runs the ETL stages, produces, and keeps the
// stored position at the HighestContiguousAck until ctx ends, the input ends or something fails.
//
// The first message Kafka does not take (after the producer's own retries) fences the task: nothing is
// sent after it, reading stops at once (even while the source waits for input), and the task ends with one
// error naming the record. It returns sources.ErrEndOfInput only when the input ended and everything read
// was produced and its final position saved; a produce or position-save error during that last drain is
// the task's error. A failure of Open or Read that the source marked sources.Transient does not end the
// task: it is reopened at its HighestContiguousAck after a backoff, for at most Config.RetryTimeout of
// consecutive failures (see taskRetry). Once Kafka acknowledged a position's write, the open reader hears
// of it when it implements sources.Committer (commitHook). The task's state (starting, running, retrying,
// then ended, stopped or failed) and its open reader's lag are kept by the source's taskObserver.
func (r *sourceRunner) runTask(ctx context.Context, h *taskHandle) (result error) {
	r.observer.setState(h.task.Key, "starting")
	defer func() { r.observer.setState(h.task.Key, taskEndState(result)) }()
	start, err := r.claim(ctx, h)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	log := r.p.log.With("source", r.n.name, "task", h.task.Key, "owner", h.owner)
	log.Info("source task started", "position", string(start))
	retry := &taskRetry{log: log, timeout: r.p.cfg.RetryTimeout, health: r.health, holder: h.task.Key, lastError: &h.lastError}
	reader, err := r.open(ctx, h, start, retry)
	r.health.done(h.task.Key) // clears a retry's wait: nothing is outstanding before the first Read
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r.observer.opened(h.task.Key, reader)

	tr := newAckTracker(start)
	tr.health, tr.holder = r.health, h.task.Key
	// Saved positions go to the reader when it implements sources.Committer (sourcecommit.go).
	commits := &commitHook{log: log, errors: r.p.metrics.SourceCommitErrors.WithLabelValues(r.labels...)}
	commits.open(reader, 0)
	tr.healthWhat = fmt.Sprintf("Kafka to acknowledge records read by task %s", h.task.Key)
	defer r.health.done(h.task.Key)
	saveCtx, stopSaving := context.WithCancel(context.Background())
	saveErr := make(chan error, 1)
	go func() { saveErr <- r.savePositions(saveCtx, h, tr, start, commits) }()

	// A produce failure stops the pump even while it waits in Read: a followed file at its end would
	// otherwise keep the failed task alive and silent.
	pumpCtx, stopPump := context.WithCancel(ctx)
	go func() {
		select {
		case <-tr.failed:
			stopPump()
		case <-pumpCtx.Done():
		}
	}()
	readErr := r.pump(pumpCtx, reader, tr, h, start, retry)
	// A transient failure (sources.Transient): close the reader, let Kafka acknowledge what was sent, and
	// reopen at the HighestContiguousAck after a backoff, for at most RetryTimeout of consecutive failures.
	// The task keeps its claim; a produce failure still fences it.
	for sources.IsTransient(readErr) {
		commits.close()
		r.observer.closing(h.task.Key)
		r.observer.setState(h.task.Key, "retrying")
		if err := reader.Close(); err != nil {
			log.Warn("closing a source task's reader after a transient failure", "err", err)
		}
		reader = nil
		awaitAcks(tr, log)
		if tr.failure() != nil {
			readErr = nil // the produce error below is the task's error
			break
		}
		resume, _, _, _ := tr.state()
		if readErr = retry.wait(pumpCtx, resume, readErr); readErr == nil {
			reader, readErr = r.open(pumpCtx, h, resume, retry)
		}
		if readErr == nil {
			commits.open(reader, tr.next())
			r.observer.opened(h.task.Key, reader)
		}
		if readErr != nil {
			if pumpCtx.Err() != nil {
				readErr = nil
			}
			break
		}
		if _, outstanding, _, _ := tr.state(); outstanding == 0 {
			r.health.done(h.task.Key) // open again; nothing is read yet, so nothing is pending
		}
		readErr = r.pump(pumpCtx, reader, tr, h, resume, retry)
	}
	stopPump()
	ended := errors.Is(readErr, sources.ErrEndOfInput)
	if ended {
		readErr = nil
	}
	if reader != nil {
		commits.close()
		r.observer.closing(h.task.Key)
		if err := reader.Close(); err != nil && readErr == nil {
			readErr = fmt.Errorf("source %q task %q: close: %w", r.n.name, h.task.Key, err)
		}
	}

	// Let what was sent be acknowledged, so the final position covers it.
	awaitAcks(tr, log)
	stopSaving()
	final, _, acked, produceErr := tr.state()
	if produceErr != nil && readErr == nil {
		readErr = produceErr // names the source, task and record already
	}
	if err := <-saveErr; err != nil && readErr == nil {
		readErr = err
	}
	// A task that ended or failed by itself waits until its final position is in the table: the pipeline
	// may be about to stop, and the table is what operators read.
	if err := r.release(h, final, h.clean.Load() || ended || readErr != nil); err != nil && readErr == nil {
		readErr = err
	}
	log.Info("source task stopped", "position", string(final), "records_acked", acked)
	if ended && readErr == nil {
		return sources.ErrEndOfInput
	}
	return readErr
}

// taskEndState is the state of a task that runTask ended with err: ended when its input ended, failed on
// an error, else stopped (a rebalance took it, or the pipeline stops).
func taskEndState(err error) string {
	switch {
	case errors.Is(err, sources.ErrEndOfInput):
		return "ended"
	case err != nil:
		return "failed"
	}
	return "stopped"
}

// awaitAcks waits until Kafka answered every record the task sent, or a message failed, for at most
// drainTimeout; records still outstanding then are logged and will be read again.
func awaitAcks(tr *ackTracker, log *slog.Logger) {
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for {
		_, outstanding, _, produceErr := tr.state()
		if outstanding == 0 || produceErr != nil {
			return
		}
		select {
		case <-tr.idle:
		case <-deadline.C:
			log.Warn("records still unacknowledged when the task stopped; they will be read again", "outstanding", outstanding)
			return
		}
	}
}

// pump moves records from reader to Kafka until ctx ends, the input ends or something fails. It checks the
// tracker before every send and sends nothing once a message failed; it then returns nil and the tracker
// holds the error. start is the task's position when it was opened; every successful Read is reported to
// retry (which may be nil).
func (r *sourceRunner) pump(ctx context.Context, reader sources.Reader, tr *ackTracker, h *taskHandle, start stream.Position, retry *taskRetry) error {
	prev := start // position of the record before the current one: where the task resumes if it fails
	ackedBytes := r.p.metrics.SourceBytes.WithLabelValues(r.labels...)
	for {
		if tr.failure() != nil {
			return nil
		}
		// Paused by the operator (control.go): the task waits here, before its next Read, keeping its claim.
		if !r.p.ctl.awaitUnpaused(ctx, nil) {
			return nil
		}
		batch, err := reader.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, sources.ErrEndOfInput) {
				return sources.ErrEndOfInput
			}
			return fmt.Errorf("source %q task %q: read after position %s: %w", r.n.name, h.task.Key, positionText(prev), err)
		}
		// A Read that was waiting for input when the pipeline was paused holds its batch until it resumes.
		// When the task stops first, the batch is dropped: nothing of it was sent, so the saved position is
		// before it and it is read again.
		if !r.p.ctl.awaitUnpaused(ctx, nil) {
			return nil
		}
		retry.succeeded()
		r.recordsRead.Add(float64(len(batch)))
		r.read.Add(int64(len(batch)))
		for _, rec := range batch {
			after := prev
			msgs, err := r.messages(ctx, rec)
			if err != nil {
				return r.recordError(h, rec.Position, after, err)
			}
			if r.edge.drop(msgs) { // DROP (backpressure_source.go): done at once, in order
				tr.add(rec.Position, 0)
				prev = rec.Position
				continue
			}
			seq := tr.add(rec.Position, len(msgs))
			for _, msg := range msgs {
				if tr.failure() != nil {
					tr.truncate(seq) // fenced: neither this record nor any later one is sent
					return nil
				}
				// Sends are not cancelled by ctx: a batch that was read is handed to Kafka whole, so that the
				// final position can cover it.
				err = r.edge.send(r.p.producerFor(msg.Topic), msg, func(_ int32, _ int64, err error) {
					if err != nil {
						tr.done(seq, r.recordError(h, rec.Position, after, produceFailure(err)))
						return
					}
					tr.done(seq, nil)
					r.recordsAcked.Inc()
					ackedBytes.Add(float64(len(msg.Key) + len(msg.Value)))
					r.acked.Add(1)
				})
				if err != nil {
					tr.truncate(seq)
					if errors.Is(err, ErrBackpressure) {
						return r.recordError(h, rec.Position, after, err)
					}
					return err
				}
			}
			prev = rec.Position
		}
	}
}

// recordError says which record of which task failed: the source, the task key, the record's position and
// the position before it (where the task resumes), e.g. source "files" task "file:/x/in.log": record at
// position {"offset":1005491} (after {"offset":4990}): ...
func (r *sourceRunner) recordError(h *taskHandle, pos, after stream.Position, err error) error {
	return fmt.Errorf("source %q task %q: record at position %s (after %s): %w", r.n.name, h.task.Key,
		positionText(pos), positionText(after), err)
}

// positionText shows a position as an operator reads it.
func positionText(p stream.Position) string {
	if len(p) == 0 {
		return "the start"
	}
	return string(p)
}

// produceFailure phrases the producer's final answer for a message: a refusal of the record itself (too
// large, invalid), or a failure to get it to Kafka, naming the brokers it tried.
func produceFailure(err error) error {
	topic, brokers, reason := "", "", err
	var pe *kafka.ProduceError
	if errors.As(err, &pe) {
		topic, brokers, reason = pe.Topic, strings.Join(pe.Brokers, ","), pe.Err
	}
	reason = inOwnWords(reason) // sarama's "kafka server: " says nothing more than "Kafka refused it"
	if kafka.IsRecordRefusal(err) {
		return fmt.Errorf("topic %q: Kafka refused it: %w", topic, reason)
	}
	return fmt.Errorf("topic %q: Kafka at %s did not take it: %w", topic, brokers, reason)
}

// recordTooLargeError is a record whose encoded message is larger than its topic takes (recordLimit). It is
// refused before it is sent.
type recordTooLargeError struct {
	topic       string
	size, limit int
}

func (e *recordTooLargeError) Error() string {
	return fmt.Sprintf("topic %q: too large for Kafka: the message has %d bytes, the topic takes at most %d (its max.message.bytes and the producer's MaxMessageBytes)",
		e.topic, e.size, e.limit)
}

// checkSize refuses msg if it is larger than its topic takes.
func (r *sourceRunner) checkSize(msg kafka.Message) error {
	if size, limit := kafka.MessageBytes(msg), r.p.recordLimit(msg.Topic); size > limit {
		return &recordTooLargeError{topic: msg.Topic, size: size, limit: limit}
	}
	return nil
}

// messages runs the ETL stages on a source record and encodes the results. When a stage or an encoding
// fails, or a message is larger than its topic takes (stage StageProduce), and the source has a dead-letter
// topic, the message is the source record for that topic instead, with the reason in headers, and none of
// the record's other messages is sent; otherwise the failure is returned.
func (r *sourceRunner) messages(ctx context.Context, rec stream.Record) ([]kafka.Message, error) {
	out, err := r.stages.run(ctx, rec)
	var msgs []kafka.Message
	stage := ""
	if err != nil {
		stage = stageOf(err)
	} else {
		for _, o := range out {
			// A topic NewTopics covers is created first (newtopics.go); failing to create it is Kafka's
			// failure, not the record's: it stops the task instead of sending the record to a dead letter.
			if err := r.p.ensureRecordTopic(ctx, r.n, o.Topic); err != nil {
				return nil, err
			}
		}
		for _, o := range out {
			msg, encErr := r.encode(o)
			if encErr != nil {
				err, stage = encErr, "encode"
				break
			}
			if sizeErr := r.checkSize(msg); sizeErr != nil {
				err, stage = sizeErr, StageProduce
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
	d := deadLetter{msg: dl, reason: err, stage: stage, source: r.n.name, position: rec.Position, pipeline: r.p.t.name}
	dl = deadLetterMessage(d)
	if sizeErr := r.checkSize(dl); sizeErr != nil {
		return nil, fmt.Errorf("%w (and the record cannot go to the dead-letter topic: %v)", err, sizeErr)
	}
	r.p.deadLettered(d)
	return []kafka.Message{dl}, nil
}

// encode turns a record into a Kafka message with its topic's codecs; records without a topic go to the
// source's topic.
func (r *sourceRunner) encode(rec stream.Record) (kafka.Message, error) {
	name := rec.Topic
	if name == "" {
		if r.n.to == nil {
			return kafka.Message{}, errors.New("the record names no topic, and the source sends each record to the topic it names (ToRecordTopics)")
		}
		name = r.n.to.name
	}
	return r.p.encode(rec, name)
}
